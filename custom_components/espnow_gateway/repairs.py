"""Repairs: choose another port when the configured one has vanished."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import SerialPortSelector
import probatio as vol

from .config_flow import _async_probe
from .const import CONF_BAUDRATE, DEFAULT_BAUDRATE, DOMAIN
from .espnowgw.mac import mac_to_str


class PortRepairFlow(RepairsFlow):
    """Point a gateway at the port it now lives on."""

    def __init__(self, entry_id: str) -> None:
        """Initialize for one config entry."""
        self._entry_id = entry_id

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Start with the port form."""
        return await self.async_step_port()

    async def async_step_port(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Test the new port; it must lead to the same gateway."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            # Nothing left to repair; an aborted fix flow keeps its issue, so drop it.
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
            return self.async_abort(reason="entry_removed")
        errors: dict[str, str] = {}
        if user_input is not None:
            port = str(user_input[CONF_PORT]).strip()
            baudrate = int(entry.data.get(CONF_BAUDRATE, DEFAULT_BAUDRATE))
            hello, error = await _async_probe(port, baudrate)
            if hello is None:
                errors["base"] = error or "unknown"
            elif mac_to_str(hello.mac) != entry.unique_id:
                errors["base"] = "different_gateway"
            else:
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONF_PORT: port}
                )
                self.hass.config_entries.async_schedule_reload(entry.entry_id)
                return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="port",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema({vol.Required(CONF_PORT): SerialPortSelector()}),
                user_input or {CONF_PORT: entry.data[CONF_PORT]},
            ),
            errors=errors,
            description_placeholders={
                "title": entry.title,
                "port": entry.data[CONF_PORT],
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Create the fix flow of a repairable issue."""
    return PortRepairFlow(str((data or {}).get("entry_id")))
