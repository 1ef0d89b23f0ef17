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
    CONF_CLEAR_ESPHOME_KEY,
    CONF_CLEAR_LMK,
    CONF_CLEAR_PMK,
    CONF_EDIT_ENTITIES,
    CONF_ENTITIES,
    CONF_ENTITY,
    CONF_ESPHOME_KEY,
    CONF_EXPECTED_INTERVAL,
    CONF_LMK,
    CONF_MAX_PEERS,
    CONF_PAYLOAD_FORMAT,
    CONF_PEERS,
    CONF_PMK,
    CONF_RESET_ROLLING_CODE,
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
from .entity_options import describe_entity_input, entity_schema
from .espnowgw.mac import mac_from_str
from .espnowgw.model import PayloadFormat, PayloadKind
from .helpers import BINDKEY_SELECTOR, parse_bindkey, parse_key
from .peer import Peer

SECONDS_SELECTOR = NumberSelector(
    NumberSelectorConfig(
        min=0,
        max=MAX_UPDATE_INTERVAL,
        step=1,
        unit_of_measurement="s",
        mode=NumberSelectorMode.BOX,
    )
)


def _esp_now_key(
    settings: dict[str, Any],
    user_input: dict[str, Any],
    current: dict[str, Any],
    key: str,
    clear: str,
) -> str | None:
    """Put an ESP-NOW key (PMK, LMK) into ``settings`` as 32 hex digits.

    Keys are never shown: empty keeps the current one, unless cleared. Returns an
    error key if what was entered is not a key.
    """
    settings.pop(key, None)
    if entered := str(user_input.get(key) or "").strip():
        if (raw := parse_key(entered)) is None:
            return "invalid_key"
        settings[key] = raw.hex()
    elif key in current and not user_input.get(clear):
        settings[key] = current[key]
    return None


class EspNowOptionsFlow(OptionsFlowWithReload):
    """Gateway tunables and per-peer settings."""

    def __init__(self) -> None:
        """Initialize the flow."""
        self._mac = ""
        self._key = ""  # the measurement whose entity is being described
        self._settings: dict[str, Any] = {}  # the peer's settings, not yet saved

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
        errors: dict[str, str] = {}
        if user_input is not None:
            options[CONF_AUTO_ADD] = bool(user_input[CONF_AUTO_ADD])
            options[CONF_UPDATE_INTERVAL] = float(user_input[CONF_UPDATE_INTERVAL])
            options[CONF_SLOW_INTERVAL] = float(user_input[CONF_SLOW_INTERVAL])
            options[CONF_MAX_PEERS] = int(user_input[CONF_MAX_PEERS])
            current = dict(self._entry.options)
            if error := _esp_now_key(
                options, user_input, current, CONF_PMK, CONF_CLEAR_PMK
            ):
                errors[CONF_PMK] = error
            else:
                return self.async_create_entry(data=options)
        fields: dict[Any, Any] = {vol.Optional(CONF_PMK): BINDKEY_SELECTOR}
        if CONF_PMK in self._entry.options:
            fields[vol.Optional(CONF_CLEAR_PMK, default=False)] = BooleanSelector()
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_AUTO_ADD, default=options.get(CONF_AUTO_ADD, DEFAULT_AUTO_ADD)
                ): BooleanSelector(),
                vol.Required(
                    CONF_UPDATE_INTERVAL,
                    default=options.get(CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL),
                ): SECONDS_SELECTOR,
                vol.Required(
                    CONF_SLOW_INTERVAL,
                    default=options.get(CONF_SLOW_INTERVAL, DEFAULT_SLOW_INTERVAL),
                ): SECONDS_SELECTOR,
                vol.Required(
                    CONF_MAX_PEERS,
                    default=options.get(CONF_MAX_PEERS, DEFAULT_MAX_PEERS),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=1, max=LIMIT_MAX_PEERS, step=1, mode=NumberSelectorMode.BOX
                    )
                ),
                **fields,
            }
        )
        return self.async_show_form(
            step_id="settings", data_schema=schema, errors=errors
        )

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

    def _peer(self) -> Peer | None:
        """Return the runtime peer the user chose (None: the gateway is not loaded)."""
        if self._entry.state is not ConfigEntryState.LOADED:
            return None
        return self._entry.runtime_data.table.peers.get(mac_from_str(self._mac))

    async def async_step_peer_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Payload format, encryption keys and expected interval of one peer."""
        errors: dict[str, str] = {}
        current = dict(self._entry.options.get(CONF_PEERS, {}).get(self._mac, {}))
        peer = self._peer()
        esphome = PayloadKind.ESPHOME in (
            peer.kind if peer else None,
            current.get(CONF_PAYLOAD_FORMAT),
        )
        if user_input is not None:
            settings: dict[str, Any] = {
                CONF_PAYLOAD_FORMAT: user_input[CONF_PAYLOAD_FORMAT],
            }
            if CONF_ENTITIES in current:
                settings[CONF_ENTITIES] = current[CONF_ENTITIES]
            # Keys are never shown: empty keeps the current one, unless cleared.
            if entered := str(user_input.get(CONF_BINDKEY) or "").strip():
                if (bindkey := parse_bindkey(entered)) is None:
                    errors[CONF_BINDKEY] = "invalid_bindkey"
                else:
                    settings[CONF_BINDKEY] = bindkey
            elif CONF_BINDKEY in current and not user_input.get(CONF_CLEAR_BINDKEY):
                settings[CONF_BINDKEY] = current[CONF_BINDKEY]
            # An ESPHome key is the text of its YAML `encryption: key:`, as it is.
            if entered := str(user_input.get(CONF_ESPHOME_KEY) or ""):
                settings[CONF_ESPHOME_KEY] = entered
            elif CONF_ESPHOME_KEY in current and not user_input.get(
                CONF_CLEAR_ESPHOME_KEY
            ):
                settings[CONF_ESPHOME_KEY] = current[CONF_ESPHOME_KEY]
            if error := _esp_now_key(
                settings, user_input, current, CONF_LMK, CONF_CLEAR_LMK
            ):
                errors[CONF_LMK] = error
            if (interval := user_input.get(CONF_EXPECTED_INTERVAL)) is not None:
                settings[CONF_EXPECTED_INTERVAL] = float(interval)
            if not errors:
                if user_input.get(CONF_RESET_ROLLING_CODE):
                    self._entry.runtime_data.table.reset_decoder_state(self._mac)
                self._settings = settings
                if user_input.get(CONF_EDIT_ENTITIES):
                    return await self.async_step_peer_entity()
                return self._save_peer(settings)
            current = settings
        schema: dict[Any, Any] = {
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
        }
        if CONF_BINDKEY in current:
            schema[vol.Optional(CONF_CLEAR_BINDKEY, default=False)] = BooleanSelector()
        if esphome:
            schema[vol.Optional(CONF_ESPHOME_KEY)] = BINDKEY_SELECTOR
            if CONF_ESPHOME_KEY in current:
                schema[vol.Optional(CONF_CLEAR_ESPHOME_KEY, default=False)] = (
                    BooleanSelector()
                )
            schema[vol.Optional(CONF_RESET_ROLLING_CODE, default=False)] = (
                BooleanSelector()
            )
        schema[vol.Optional(CONF_LMK)] = BINDKEY_SELECTOR
        if CONF_LMK in current:
            schema[vol.Optional(CONF_CLEAR_LMK, default=False)] = BooleanSelector()
        schema[vol.Optional(CONF_EXPECTED_INTERVAL)] = NumberSelector(
            NumberSelectorConfig(
                min=0,
                max=MAX_STALE_AFTER,
                step=1,
                unit_of_measurement="s",
                mode=NumberSelectorMode.BOX,
            )
        )
        if peer is not None and peer.measurements:
            schema[vol.Optional(CONF_EDIT_ENTITIES, default=False)] = BooleanSelector()
        secret = (CONF_BINDKEY, CONF_ESPHOME_KEY, CONF_LMK)
        return self.async_show_form(
            step_id="peer_settings",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(schema),
                {k: v for k, v in current.items() if k not in secret},
            ),
            errors=errors,
            description_placeholders={"mac": self._mac},
        )

    def _save_peer(self, settings: dict[str, Any]) -> ConfigFlowResult:
        options = dict(self._entry.options)
        peers = dict(options.get(CONF_PEERS, {}))
        peers[self._mac] = settings
        options[CONF_PEERS] = peers
        return self.async_create_entry(data=options)

    async def async_step_peer_entity(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose which of the peer's entities to name and describe."""
        peer = self._peer()
        if peer is None:
            return self.async_abort(reason="gateway_not_loaded")
        if user_input is not None:
            self._key = user_input[CONF_ENTITY]
            return await self.async_step_peer_entity_edit()
        options = [
            SelectOptionDict(value=key, label=self._entity_label(peer, key))
            for key in sorted(peer.measurements)
        ]
        return self.async_show_form(
            step_id="peer_entity",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_ENTITY): SelectSelector(
                        SelectSelectorConfig(
                            options=options, mode=SelectSelectorMode.DROPDOWN
                        )
                    )
                }
            ),
            description_placeholders={"mac": self._mac},
        )

    @staticmethod
    def _entity_label(peer: Peer, key: str) -> str:
        value = peer.values.get(key)
        return key if value is None else f"{key} ({value})"

    async def async_step_peer_entity_edit(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Name, device class and unit of one entity (what its sender does not tell)."""
        peer = self._peer()
        if peer is None:
            return self.async_abort(reason="gateway_not_loaded")
        info = peer.measurements[self._key]
        entities = dict(self._settings.get(CONF_ENTITIES, {}))
        errors: dict[str, str] = {}
        if user_input is not None:
            described = describe_entity_input(info.binary, user_input)
            if isinstance(described, str):
                errors["base"] = described
            else:
                if described:
                    entities[self._key] = described
                else:
                    entities.pop(self._key, None)
                settings = dict(self._settings)
                if entities:
                    settings[CONF_ENTITIES] = entities
                else:
                    settings.pop(CONF_ENTITIES, None)
                return self._save_peer(settings)
        current = entities.get(self._key, {})
        return self.async_show_form(
            step_id="peer_entity_edit",
            data_schema=self.add_suggested_values_to_schema(
                entity_schema(info.binary), {**current, **(user_input or {})}
            ),
            errors=errors,
            description_placeholders={
                "key": self._key,
                "device_class": info.device_class or "-",
                "unit": info.unit or "-",
            },
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
