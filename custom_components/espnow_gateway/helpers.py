"""Helpers shared by the integration's modules."""

from __future__ import annotations

from dataclasses import dataclass
import os

from homeassistant.components import usb
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import LOGGER, PROBE_TIMEOUT
from .espnowgw.connection import ConnectError, is_local_path, probe
from .espnowgw.decoders.formats import BINDKEY_LENGTH
from .espnowgw.messages import Hello

# A key (BTHome's, ESP-NOW's PMK and LMK) is a secret: typed like a password, never
# shown again.
BINDKEY_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def parse_bindkey(value: object) -> str | None:
    """Return a BTHome key as 32 lower-case hex digits, or None if it is not one."""
    text = str(value or "").strip().lower()
    try:
        valid = len(bytes.fromhex(text)) == BINDKEY_LENGTH
    except ValueError:
        valid = False
    return text if valid and len(text) == 2 * BINDKEY_LENGTH else None


def humanize(key: str) -> str:
    """Turn a decoder key such as ``env_temp_2`` into ``Env temp 2``."""
    return key.replace("_", " ").capitalize()


def issue_id(kind: str, entry_id: str) -> str:
    """Return the id of a repair issue of one config entry."""
    return f"{kind}_{entry_id}"


def peer_flow_unique_id(gateway_mac: str, peer_mac: str) -> str:
    """Return the unique id of the discovery flow that asks about a peer."""
    return f"{gateway_mac}-{peer_mac}"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What testing a port found: a hello, or an error's translation key and detail."""

    hello: Hello | None
    error: str | None = None
    detail: str = ""  # the reason in the system's words (errno text), for the user


async def async_probe(port: str, baudrate: int) -> ProbeResult:
    """Open the port and wait for a hello, then let go of it."""
    try:
        return ProbeResult(await probe(port, baudrate, hello_timeout=PROBE_TIMEOUT))
    except ConnectError as err:
        LOGGER.debug("Probing %s failed: %s", port, err)
        return ProbeResult(None, err.reason.value, err.detail)
    except ConfigEntryNotReady as err:
        # Home Assistant's ESPHome serial proxy ports, before ESPHome has loaded.
        LOGGER.debug("Probing %s failed: %s", port, err)
        return ProbeResult(None, "port_not_ready", str(err))
    except Exception as err:  # noqa: BLE001 - a flow shows "unknown" rather than crash
        LOGGER.exception("Unexpected error while probing %s", port)
        return ProbeResult(None, "unknown", str(err))


async def async_port_present(hass: HomeAssistant, port: str) -> bool:
    """Whether a port exists; a network URL is always taken to (it may be down).

    Home Assistant 2026.11 tells for every kind of port, ESPHome serial proxies
    included (``usb.async_is_serial_port_present``); on 2026.10 a local path is
    looked up and a URL is never called missing.
    """
    if not is_local_path(port) and not port.startswith("esphome-hass://"):
        return True
    is_present = getattr(usb, "async_is_serial_port_present", None)
    if is_present is not None:
        return bool(await is_present(hass, port))
    if not is_local_path(port):
        return True
    return await hass.async_add_executor_job(os.path.exists, port)


def parse_key(text: str | None) -> bytes | None:
    """Return a 16-byte ESP-NOW key from 32 hex digits or 16 characters, else None.

    ESP-IDF's examples write keys as 16-character strings (``pmk1234567890123``);
    32 hexadecimal digits give the bytes themselves. None and "" give None.
    """
    if not text:
        return None
    if len(text) == 32:
        try:
            return bytes.fromhex(text)
        except ValueError:
            return None
    raw = text.encode()
    return raw if len(raw) == 16 else None
