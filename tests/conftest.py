"""Test configuration shared by all tests."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import settings
import pytest

# Property tests run the same examples on every run, so the suite never flakes;
# HYPOTHESIS_PROFILE=explore searches new examples.
settings.register_profile("default", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def host_gateway_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference firmware's host gateway (firmware/core + firmware/host), ASan+UBSan.

    Built once per run, for tests/firmware and for the send tests in tests/ha.
    """
    from devtools.host_gateway import build

    return build(tmp_path_factory.mktemp("firmware-build"), sanitize=True)
