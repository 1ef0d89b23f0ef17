"""Tests of the protocol library on its own: no Home Assistant, no integration.

``scripts/test-lib`` runs them against the built ``espnowgw`` wheel in an environment
without Home Assistant; ``scripts/test`` runs them with the rest of the suite.
"""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("pytest_socket") is None:
    # Home Assistant's test plugin blocks sockets unless a test asks for them; without
    # it (the library's own environment) they are always allowed.
    @pytest.fixture
    def socket_enabled() -> None:
        """Allow sockets (they are not blocked here)."""
