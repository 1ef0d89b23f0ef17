"""Test configuration shared by all tests."""

from __future__ import annotations

import os

from hypothesis import settings

# Property tests run the same examples on every run, so the suite never flakes;
# HYPOTHESIS_PROFILE=explore searches new examples.
settings.register_profile("default", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
