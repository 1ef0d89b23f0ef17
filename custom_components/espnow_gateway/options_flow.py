"""Options flow: gateway tunables, per-peer settings, ignored peers."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import probatio as vol

from .const import (
    CONF_AUTO_ADD,
    CONF_BINDKEY,
    CONF_CLEAR_BINDKEY,
    CONF_EXPECTED_INTERVAL,
    CONF_MAX_PEERS,
    CONF_PAYLOAD_FORMAT,
    CONF_PEERS,
    CONF_SLOW_INTERVAL,
    CONF_UPDATE_INTERVAL,
    DEFAULT_AUTO_ADD,
    DEFAULT_MAX_PEERS,
    DEFAULT_SLOW_INTERVAL,
    DEFAULT_UPDATE_INTERVAL,
    LIMIT_MAX_PEERS,
    MAX_STALE_AFTER,
    MAX_UPDATE_INTERVAL,
)
from .coordinator import EspNowConfigEntry
from .espnowgw.model import PayloadFormat
from .helpers import BINDKEY_SELECTOR, parse_bindkey


class EspNowOptionsFlow(OptionsFlowWithReload):
    """Gateway tunables and per-peer settings."""

    def __init__(self) -> None:
        """Initialize the flow."""
        self._mac = ""

    @property
    def _entry(self) -> EspNowConfigEntry:
        return self.config_entry

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose what to change."""
        options = ["settings"]
        if self._entry.state is ConfigEntryState.LOADED:
            table = self._entry.runtime_data.table
            if table.peers:
                options.append("peer")
            if table.ignored:
                options.append("ignored")
        return self.async_show_menu(step_id="init", menu_options=options)

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Gateway-wide settings."""
        options = dict(self._entry.options)
        if user_input is not None:
            options[CONF_AUTO_ADD] = bool(user_input[CONF_AUTO_ADD])
            options[CONF_UPDATE_INTERVAL] = float(user_input[CONF_UPDATE_INTERVAL])
            options[CONF_SLOW_INTERVAL] = float(user_input[CONF_SLOW_INTERVAL])
            options[CONF_MAX_PEERS] = int(user_input[CONF_MAX_PEERS])
            return self.async_create_entry(data=options)
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_AUTO_ADD, default=options.get(CONF_AUTO_ADD, DEFAULT_AUTO_ADD)
                ): BooleanSelector(),
                vol.Required(
                    CONF_UPDATE_INTERVAL,
                    default=options.get(CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=MAX_UPDATE_INTERVAL,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(
                    CONF_SLOW_INTERVAL,
                    default=options.get(CONF_SLOW_INTERVAL, DEFAULT_SLOW_INTERVAL),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=MAX_UPDATE_INTERVAL,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(
                    CONF_MAX_PEERS,
                    default=options.get(CONF_MAX_PEERS, DEFAULT_MAX_PEERS),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=1, max=LIMIT_MAX_PEERS, step=1, mode=NumberSelectorMode.BOX
                    )
                ),
            }
        )
        return self.async_show_form(step_id="settings", data_schema=schema)

    async def async_step_peer(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose a peer."""
        if user_input is not None:
            self._mac = user_input["peer"]
            return await self.async_step_peer_settings()
        table = self._entry.runtime_data.table
        devices = dr.async_get(self.hass)
        options: list[SelectOptionDict] = []
        for peer in table.peers.values():
            device = devices.async_get(peer.device_id) if peer.device_id else None
            name = (device.name_by_user or device.name) if device else None
            label = f"{name} ({peer.mac_str})" if name else peer.mac_str
            options.append(SelectOptionDict(value=peer.mac_str, label=label))
        options.sort(key=lambda option: option["label"].casefold())
        schema = vol.Schema(
            {
                vol.Required("peer"): SelectSelector(
                    SelectSelectorConfig(
                        options=options, mode=SelectSelectorMode.DROPDOWN
                    )
                )
            }
        )
        return self.async_show_form(step_id="peer", data_schema=schema)

    async def async_step_peer_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Payload format, BTHome key and expected interval of one peer."""
        errors: dict[str, str] = {}
        current = dict(self._entry.options.get(CONF_PEERS, {}).get(self._mac, {}))
        has_key = CONF_BINDKEY in current
        if user_input is not None:
            settings: dict[str, Any] = {
                CONF_PAYLOAD_FORMAT: user_input[CONF_PAYLOAD_FORMAT],
            }
            # The key is never shown: empty keeps the current one, unless cleared.
            if entered := str(user_input.get(CONF_BINDKEY) or "").strip():
                if (bindkey := parse_bindkey(entered)) is None:
                    errors[CONF_BINDKEY] = "invalid_bindkey"
                else:
                    settings[CONF_BINDKEY] = bindkey
            elif has_key and not user_input.get(CONF_CLEAR_BINDKEY):
                settings[CONF_BINDKEY] = current[CONF_BINDKEY]
            if (interval := user_input.get(CONF_EXPECTED_INTERVAL)) is not None:
                settings[CONF_EXPECTED_INTERVAL] = float(interval)
            if not errors:
                options = dict(self._entry.options)
                peers = dict(options.get(CONF_PEERS, {}))
                peers[self._mac] = settings
                options[CONF_PEERS] = peers
                return self.async_create_entry(data=options)
            current = settings
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_PAYLOAD_FORMAT,
                    default=current.get(CONF_PAYLOAD_FORMAT, PayloadFormat.AUTO.value),
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=[f.value for f in PayloadFormat],
                        translation_key=CONF_PAYLOAD_FORMAT,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                vol.Optional(CONF_BINDKEY): BINDKEY_SELECTOR,
                **(
                    {vol.Optional(CONF_CLEAR_BINDKEY, default=False): BooleanSelector()}
                    if has_key
                    else {}
                ),
                vol.Optional(CONF_EXPECTED_INTERVAL): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=MAX_STALE_AFTER,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="peer_settings",
            data_schema=self.add_suggested_values_to_schema(
                schema, {k: v for k, v in current.items() if k != CONF_BINDKEY}
            ),
            errors=errors,
            description_placeholders={"mac": self._mac},
        )

    async def async_step_ignored(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Stop ignoring peers."""
        table = self._entry.runtime_data.table
        if user_input is not None:
            for mac in user_input["restore"]:
                table.unignore(mac)
            return self.async_create_entry(data=dict(self._entry.options))
        schema = vol.Schema(
            {
                vol.Required("restore", default=[]): SelectSelector(
                    SelectSelectorConfig(
                        options=sorted(table.ignored),
                        multiple=True,
                        mode=SelectSelectorMode.LIST,
                    )
                )
            }
        )
        return self.async_show_form(step_id="ignored", data_schema=schema)
