"""Helpers shared by the integration's modules."""

from __future__ import annotations

from .const import LOGGER, PROBE_TIMEOUT
from .espnowgw.connection import ConnectError, probe
from .espnowgw.messages import Hello


def humanize(key: str) -> str:
    """Turn a decoder key such as ``env_temp_2`` into ``Env temp 2``."""
    return key.replace("_", " ").capitalize()


def issue_id(kind: str, entry_id: str) -> str:
    """Return the id of a repair issue of one config entry."""
    return f"{kind}_{entry_id}"


def peer_flow_unique_id(gateway_mac: str, peer_mac: str) -> str:
    """Return the unique id of the discovery flow that asks about a peer."""
    return f"{gateway_mac}-{peer_mac}"


async def async_probe(port: str, baudrate: int) -> tuple[Hello | None, str | None]:
    """Open the port and wait for a hello; return it or an error's translation key."""
    try:
        return await probe(port, baudrate, hello_timeout=PROBE_TIMEOUT), None
    except ConnectError as err:
        LOGGER.debug("Probing %s failed: %s", port, err)
        return None, err.reason.value
    except Exception:  # noqa: BLE001 - a flow shows "unknown" rather than crash
        LOGGER.exception("Unexpected error while probing %s", port)
        return None, "unknown"
