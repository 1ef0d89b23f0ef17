"""Repair issues of a gateway entry, and the flow that fixes a vanished port."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import SerialPortSelector
import probatio as vol

from .const import CONF_BAUDRATE, DOMAIN, ISSUE_KINDS, PROTOCOL_DOC_URL
from .espnowgw.connection import ConnectError
from .espnowgw.mac import mac_to_str
from .espnowgw.messages import DEFAULT_BAUDRATE, PROTOCOL_MAJOR
from .helpers import async_probe, issue_id


def _create_issue(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    kind: str,
    placeholders: dict[str, str],
    **extra: Any,
) -> None:
    """Raise (or refresh) one of the entry's repair issues."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry.entry_id),
        is_fixable=kind == "port_missing",
        severity=ir.IssueSeverity.ERROR,
        translation_key=kind,
        translation_placeholders={"title": entry.title, "port": entry.data[CONF_PORT]}
        | placeholders,
        **extra,
    )


def create_port_issue(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Tell that the configured port has vanished: the user may choose its new name."""
    _create_issue(hass, entry, "port_missing", {}, data={"entry_id": entry.entry_id})


def create_port_busy_issue(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Tell that another program holds the port (the link keeps retrying)."""
    _create_issue(hass, entry, "port_busy", {})


def create_version_issue(
    hass: HomeAssistant, entry: ConfigEntry[Any], err: ConnectError
) -> None:
    """Tell that the gateway speaks a protocol version this integration does not."""
    hello = err.hello
    version = f"{hello.protocol_major}.{hello.protocol_minor}" if hello else "?"
    _create_issue(
        hass,
        entry,
        "unsupported_version",
        {"version": version, "supported": f"{PROTOCOL_MAJOR}.x"},
        learn_more_url=PROTOCOL_DOC_URL,
    )


def create_wrong_gateway_issue(
    hass: HomeAssistant, entry: ConfigEntry[Any], found: str
) -> None:
    """Tell that another gateway answers on the entry's port."""
    _create_issue(
        hass, entry, "wrong_gateway", {"expected": str(entry.unique_id), "found": found}
    )


def delete_issue(hass: HomeAssistant, entry_id: str, kind: str) -> None:
    """Withdraw one of an entry's issues (the problem went away)."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


def delete_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Withdraw every issue of an entry (it was removed)."""
    for kind in ISSUE_KINDS:
        delete_issue(hass, entry_id, kind)


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
        detail = ""
        if user_input is not None:
            port = str(user_input[CONF_PORT]).strip()
            baudrate = int(entry.data.get(CONF_BAUDRATE, DEFAULT_BAUDRATE))
            result = await async_probe(port, baudrate)
            hello, detail = result.hello, result.detail
            if hello is None:
                errors["base"] = result.error or "unknown"
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
                "detail": detail,
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Create the fix flow of a repairable issue."""
    return PortRepairFlow(str((data or {}).get("entry_id")))
