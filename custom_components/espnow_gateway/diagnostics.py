"""Diagnostics: link, gateway and peer figures, with keys redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .const import CONF_BINDKEY, CONF_ESPHOME_KEY, CONF_LMK, CONF_PEERS, CONF_PMK
from .coordinator import EspNowConfigEntry
from .websocket_api import async_get_hub

TO_REDACT = {CONF_BINDKEY, CONF_ESPHOME_KEY, CONF_LMK, CONF_PMK}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: EspNowConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a gateway."""
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "gateway": entry.runtime_data.diagnostics(),
            "stream": async_get_hub(hass).diagnostics(entry.entry_id),
        },
        TO_REDACT,
    )


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: EspNowConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """Return diagnostics for one device (a peer, or the gateway)."""
    gateway = entry.runtime_data
    peer = gateway.table.by_device(device.id)
    if peer is None:
        return await async_get_config_entry_diagnostics(hass, entry)
    options = entry.options.get(CONF_PEERS, {}).get(peer.mac_str, {})
    return async_redact_data(
        {"options": options, "peer": peer.diagnostics()}, TO_REDACT
    )
