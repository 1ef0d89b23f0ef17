"""Fixtures for the reference firmware's tests (the build: ``host_gateway_binary``, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.host_gateway import HostGateway, build


@pytest.fixture
def host_gateway(
    host_gateway_binary: Path, tmp_path: Path, socket_enabled: None
) -> Iterator[HostGateway]:
    """A host gateway on a pty behind a by-id style link, STATS every 100 ms."""
    link = tmp_path / "usb-Espressif_ESP-NOW_Gateway-if00"
    gateway = HostGateway.start(
        host_gateway_binary, "--stats-interval", "100", link=link
    )
    yield gateway
    gateway.stop()  # raises if the sanitizers found something


@pytest.fixture(scope="session")
def bthome_encode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example sensor's BTHome encoder as a command-line program."""
    return build(
        tmp_path_factory.mktemp("example-build"), sanitize=True, program="bthome-encode"
    )
