"""Config flow: port selection and USB discovery, both tested with a real hello."""

from __future__ import annotations

import os
from typing import Any

from homeassistant.components import usb
from homeassistant.config_entries import ConfigEntryState, ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_PORT
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    SerialPortSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from homeassistant.helpers.typing import DiscoveryInfoType
import probatio as vol

from .const import (
    BAUDRATES,
    CONF_BAUDRATE,
    CONF_BINDKEY,
    DOMAIN,
    MAX_BAUDRATE,
    MIN_BAUDRATE,
)
from .coordinator import EspNowConfigEntry
from .espnowgw.decoders.evidence import bindkey_matches
from .espnowgw.mac import mac_from_str, mac_to_str
from .espnowgw.messages import DEFAULT_BAUDRATE, Hello
from .helpers import BINDKEY_SELECTOR, async_probe, parse_bindkey, peer_flow_unique_id
from .options_flow import EspNowOptionsFlow

_BAUDRATE_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[str(rate) for rate in BAUDRATES],
        mode=SelectSelectorMode.DROPDOWN,
        custom_value=True,
    )
)
PORT_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_PORT): SerialPortSelector(),
        vol.Required(CONF_BAUDRATE, default=str(DEFAULT_BAUDRATE)): _BAUDRATE_SELECTOR,
    }
)


def _title(hello: Hello) -> str:
    return f"ESP-NOW Gateway {mac_to_str(hello.mac)}"


def _same_device(port: str, other: str) -> bool:
    """Whether two device paths lead to the same device (e.g. through a by-id link)."""
    return (
        port.startswith("/")
        and other.startswith("/")
        and os.path.realpath(port) == os.path.realpath(other)
    )


def _baudrate(value: Any) -> int | None:
    try:
        rate = int(str(value).strip())
    except ValueError:
        return None
    return rate if MIN_BAUDRATE <= rate <= MAX_BAUDRATE else None


class EspNowConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a gateway."""

    VERSION = 1
    _hello: Hello  # the discovered gateway's hello (USB discovery)

    def __init__(self) -> None:
        """Initialize the flow."""
        self._port = ""
        self._baudrate = DEFAULT_BAUDRATE
        self._peer: dict[str, str] = {}
        self._detail = ""  # why the last port test failed, in the system's words

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: EspNowConfigEntry) -> EspNowOptionsFlow:
        """Return the options flow."""
        return EspNowOptionsFlow()

    async def _async_same_port(self, port: str, other: str) -> bool:
        """Whether two ports are the same, also under another name (symlink)."""
        return port == other or await self.hass.async_add_executor_job(
            _same_device, port, other
        )

    async def _async_abort_if_port_configured(self, port: str) -> None:
        """Abort if an entry already uses this port, under any of its names."""
        for entry in self._async_current_entries(include_ignore=False):
            if await self._async_same_port(port, entry.data.get(CONF_PORT, "")):
                raise AbortFlow("already_configured")

    def _abort_if_gateway_configured(self, updates: dict[str, Any]) -> None:
        """Abort for a gateway already set up, updating its entry to this port.

        The port was checked before (the same port, under any name, aborts as
        "already configured"): a configured gateway here has moved, and the user
        is told so, and where.
        """
        entry = (
            self.hass.config_entries.async_entry_for_domain_unique_id(
                DOMAIN, self.unique_id
            )
            if self.unique_id is not None
            else None
        )
        if entry is not None and entry.data.get(CONF_PORT) != updates[CONF_PORT]:
            self._abort_if_unique_id_configured(
                updates=updates,
                error="gateway_moved",
                description_placeholders={
                    "title": entry.title,
                    "old_port": str(entry.data.get(CONF_PORT, "")),
                    "port": str(updates[CONF_PORT]),
                },
            )
        self._abort_if_unique_id_configured(updates=updates)

    async def _async_test_port(
        self, port: str, baudrate: int, errors: dict[str, str]
    ) -> Hello | None:
        self._port, self._baudrate = port, baudrate
        result = await async_probe(port, baudrate)
        if result.error is not None:
            errors["base"] = result.error
        self._detail = result.detail
        return result.hello

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the port and test it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            port = str(user_input[CONF_PORT]).strip()
            await self._async_abort_if_port_configured(port)
            if (baudrate := _baudrate(user_input[CONF_BAUDRATE])) is None:
                errors[CONF_BAUDRATE] = "invalid_baudrate"
            elif hello := await self._async_test_port(port, baudrate, errors):
                await self.async_set_unique_id(
                    mac_to_str(hello.mac), raise_on_progress=False
                )
                self._abort_if_gateway_configured(
                    {CONF_PORT: self._port, CONF_BAUDRATE: self._baudrate}
                )
                return self._async_create(hello)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(PORT_SCHEMA, user_input),
            errors=errors,
            description_placeholders={"detail": self._detail},
        )

    def _async_create(self, hello: Hello) -> ConfigFlowResult:
        return self.async_create_entry(
            title=_title(hello),
            data={CONF_PORT: self._port, CONF_BAUDRATE: self._baudrate},
        )

    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        """Probe a discovered USB serial device; abort quietly if it is no gateway."""
        port = await self.hass.async_add_executor_job(
            usb.get_serial_by_id, discovery_info.device
        )
        await self._async_abort_if_port_configured(port)
        hello = (await async_probe(port, DEFAULT_BAUDRATE)).hello
        if hello is None:
            return self.async_abort(reason="not_espnow_gateway")
        await self.async_set_unique_id(mac_to_str(hello.mac))
        self._abort_if_gateway_configured({CONF_PORT: port})
        self._port, self._baudrate, self._hello = port, DEFAULT_BAUDRATE, hello
        self.context["title_placeholders"] = {
            "name": usb.human_readable_device_name(
                port,
                discovery_info.serial_number,
                discovery_info.manufacturer,
                discovery_info.description,
                discovery_info.vid,
                discovery_info.pid,
            )
        }
        return await self.async_step_usb_confirm()

    async def async_step_usb_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm a discovered gateway."""
        hello = self._hello
        if user_input is not None:
            return self._async_create(hello)
        return self.async_show_form(
            step_id="usb_confirm",
            description_placeholders={
                "name": self.context["title_placeholders"]["name"],
                "mac": mac_to_str(hello.mac),
                "firmware": hello.firmware,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the port or baud rate of a gateway."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            port = str(user_input[CONF_PORT]).strip()
            if (baudrate := _baudrate(user_input[CONF_BAUDRATE])) is None:
                errors[CONF_BAUDRATE] = "invalid_baudrate"
            else:
                unloaded = False
                if (
                    entry.state is ConfigEntryState.LOADED
                    and await self._async_same_port(port, entry.data[CONF_PORT])
                ):
                    # The loaded entry holds the port (exclusively): let go of it to
                    # test, and set it up again unless the test succeeds.
                    unloaded = await self.hass.config_entries.async_unload(
                        entry.entry_id
                    )
                hello = await self._async_test_port(port, baudrate, errors)
                if hello is not None and mac_to_str(hello.mac) == entry.unique_id:
                    return self.async_update_reload_and_abort(
                        entry,
                        data_updates={CONF_PORT: port, CONF_BAUDRATE: baudrate},
                    )
                if unloaded:
                    self.hass.config_entries.async_schedule_reload(entry.entry_id)
                if hello is not None:
                    return self.async_abort(reason="different_gateway")
        suggested = user_input or {
            CONF_PORT: entry.data[CONF_PORT],
            CONF_BAUDRATE: str(entry.data.get(CONF_BAUDRATE, DEFAULT_BAUDRATE)),
        }
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(PORT_SCHEMA, suggested),
            errors=errors,
            description_placeholders={"detail": self._detail},
        )

    async def async_step_integration_discovery(
        self, discovery_info: DiscoveryInfoType
    ) -> ConfigFlowResult:
        """Ask the user about a new peer a gateway heard."""
        entry = self.hass.config_entries.async_get_entry(discovery_info["entry_id"])
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="gateway_not_loaded")
        mac = discovery_info["mac"]
        await self.async_set_unique_id(peer_flow_unique_id(str(entry.unique_id), mac))
        self._abort_if_unique_id_configured()
        self._peer = {
            "entry_id": entry.entry_id,
            "mac": mac,
            "kind": discovery_info["kind"],
        }
        self.context["title_placeholders"] = {"name": f"ESP-NOW {mac}"}
        if discovery_info.get("encrypted"):
            return await self.async_step_peer_key()
        return await self.async_step_peer_confirm()

    def _peer_gateway(self) -> EspNowConfigEntry | None:
        """Return the loaded entry of the gateway that heard the peer, if any."""
        entry: EspNowConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._peer["entry_id"]
        )
        return entry if entry and entry.state is ConfigEntryState.LOADED else None

    def _peer_placeholders(self, entry: EspNowConfigEntry) -> dict[str, str]:
        return {
            "mac": self._peer["mac"],
            "kind": self._peer["kind"],
            "gateway": entry.title,
        }

    def _add_peer(
        self, entry: EspNowConfigEntry, bindkey: str | None
    ) -> ConfigFlowResult:
        if not entry.runtime_data.table.approve(self._peer["mac"], bindkey):
            return self.async_abort(reason="peer_table_full")
        return self.async_abort(reason="peer_added")

    async def async_step_peer_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add the peer to its gateway."""
        if (entry := self._peer_gateway()) is None:
            return self.async_abort(reason="gateway_not_loaded")
        if user_input is not None:
            return self._add_peer(entry, None)
        return self.async_show_form(
            step_id="peer_confirm",
            description_placeholders=self._peer_placeholders(entry),
        )

    async def async_step_peer_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a peer that encrypts, with its key: it must decrypt the peer's frames."""
        if (entry := self._peer_gateway()) is None:
            return self.async_abort(reason="gateway_not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None:
            mac = self._peer["mac"]
            bindkey = parse_bindkey(user_input.get(CONF_BINDKEY))
            if bindkey is None:
                errors[CONF_BINDKEY] = "invalid_bindkey"
            elif not bindkey_matches(
                mac_from_str(mac),
                bytes.fromhex(bindkey),
                entry.runtime_data.table.pending_frames(mac),
            ):
                errors[CONF_BINDKEY] = "bindkey_mismatch"
            else:
                return self._add_peer(entry, bindkey)
        return self.async_show_form(
            step_id="peer_key",
            data_schema=vol.Schema({vol.Required(CONF_BINDKEY): BINDKEY_SELECTOR}),
            errors=errors,
            description_placeholders=self._peer_placeholders(entry),
        )
