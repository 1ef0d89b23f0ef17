"""The ESP-NOW Gateway integration."""

from __future__ import annotations

from homeassistant.components import usb
from homeassistant.components.usb import USBDevice
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN, PLATFORMS
from .coordinator import EspNowConfigEntry, EspNowGateway
from .frontend import async_setup_frontend
from .repairs import delete_issues
from .services import async_setup_services
from .websocket_api import (
    async_connect_stream,
    async_setup as async_setup_websocket_api,
)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, WebSocket commands and the packet monitor card (once)."""
    async_setup_services(hass)
    async_setup_websocket_api(hass)
    await async_setup_frontend(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: EspNowConfigEntry) -> bool:
    """Connect to the gateway and set up its entities."""
    gateway = EspNowGateway(hass, entry)
    await gateway.async_setup()
    entry.runtime_data = gateway
    entry.async_on_unload(gateway.async_shutdown)
    entry.async_on_unload(async_connect_stream(hass, gateway))

    @callback
    def _usb_changed(added: set[USBDevice], removed: set[USBDevice]) -> None:
        if added:
            gateway.reconnect_now()

    entry.async_on_unload(usb.async_register_port_event_callback(hass, _usb_changed))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: EspNowConfigEntry) -> bool:
    """Unload the entities; the port is released by the unload callbacks."""
    entry.runtime_data.flush()  # write what is pending: restored after a reload
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: EspNowConfigEntry, device_entry: DeviceEntry
) -> bool:
    """Allow deleting peer devices; the peer is ignored from then on."""
    gateway = entry.runtime_data
    for domain, identifier in device_entry.identifiers:
        if domain != DOMAIN:
            continue
        if identifier == gateway.unique_prefix:
            return False  # the gateway itself: remove the integration instead
        peer = gateway.table.by_device(device_entry.id)
        if peer is not None:
            gateway.table.remove(peer.mac_str)
            entry.async_create_background_task(
                hass, gateway.radio.async_remove(peer.mac), f"{DOMAIN} remove peer"
            )
        return True
    return True


async def async_remove_entry(hass: HomeAssistant, entry: EspNowConfigEntry) -> None:
    """Remove the entry's repair issues with it."""
    delete_issues(hass, entry.entry_id)
