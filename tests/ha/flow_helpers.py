"""Shared by the config flow and repair tests: ports that fail, and result checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
import errno
import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import config_validation as cv
import probatio
import pytest

from custom_components.espnow_gateway.const import DOMAIN
from custom_components.espnow_gateway.espnowgw.connection import GatewayConnection
from devtools.simulator import PtyGateway, SimulatorConfig

STRINGS: dict[str, Any] = json.loads(
    (
        Path(__file__).parents[2] / "custom_components" / DOMAIN / "strings.json"
    ).read_text(encoding="utf-8")
)
OTHER_MAC = b"\x24\x6f\x28\x00\x00\x02"
USB_DESCRIPTION = "USB JTAG/serial debug unit"
PROBE_TIMEOUT = "custom_components.espnow_gateway.helpers.PROBE_TIMEOUT"
SHORT_PROBE = 0.2  # seconds a silent port is given to answer


@dataclass
class Ports:
    """Simulated gateways on their own ptys, closed at the end of the test."""

    tmp_path: Path
    created: list[PtyGateway] = field(default_factory=list)

    def make(self, name: str, **config: Any) -> PtyGateway:
        """Plug a simulated gateway (no peers) behind ``tmp_path / name``."""
        pty = PtyGateway(SimulatorConfig(peers=0, **config), self.tmp_path / name)
        pty.plug()
        self.created.append(pty)
        return pty

    def close(self) -> None:
        """Unplug every gateway made."""
        for pty in self.created:
            pty.close()


# ---- ports that fail the connection test ----------------------------------------
# Each yields the port to enter while the failure holds. Real failures wherever this
# machine can produce them; patched only where it cannot (root ignores file modes,
# and an unexpected exception has no real trigger).

type PortSetup = Callable[[Ports], AbstractAsyncContextManager[str]]


@asynccontextmanager
async def missing_port(ports: Ports) -> AsyncIterator[str]:
    """A path where no device exists."""
    yield str(ports.tmp_path / "usb-unplugged-if00")


@asynccontextmanager
async def busy_port(ports: Ports) -> AsyncIterator[str]:
    """A gateway another program holds open (exclusively)."""
    pty = ports.make("usb-busy-if00")
    other = GatewayConnection(pty.url, on_packet=lambda _packet: None)
    await other.connect()
    try:
        yield pty.url
    finally:
        await other.close()


@asynccontextmanager
async def permission_denied(ports: Ports) -> AsyncIterator[str]:
    """A device the user may not open."""
    pty = ports.make("usb-locked-if00")
    with patch(
        "custom_components.espnow_gateway.espnowgw.connection.serialx.create_serial_connection",
        side_effect=PermissionError(errno.EACCES, "Permission denied", pty.url),
    ):
        yield pty.url


@asynccontextmanager
async def unknown_scheme(ports: Ports) -> AsyncIterator[str]:
    """A URL no serial transport understands."""
    yield "nonsense://x"


@asynccontextmanager
async def silent_gateway(ports: Ports) -> AsyncIterator[str]:
    """A port that opens but never answers."""
    pty = ports.make("usb-silent-if00", hello_on_boot=False)
    pty.gateway.mute = True
    with patch(PROBE_TIMEOUT, SHORT_PROBE):
        yield pty.url


@asynccontextmanager
async def protocol_v2(ports: Ports) -> AsyncIterator[str]:
    """A gateway speaking a protocol version this host does not."""
    yield ports.make("usb-v2-if00", protocol_major=2, protocol_minor=0).url


@asynccontextmanager
async def probe_crashes(ports: Ports) -> AsyncIterator[str]:
    """The connection test fails unexpectedly."""
    with patch(
        "custom_components.espnow_gateway.helpers.probe",
        side_effect=RuntimeError("boom"),
    ):
        yield ports.make("usb-crash-if00").url


@asynccontextmanager
async def proxy_not_loaded(ports: Ports) -> AsyncIterator[str]:
    """An ESPHome serial proxy port (Home Assistant's own URL) before ESPHome loads."""
    yield "esphome-hass://esphome/01JESPHOMEENTRY?port_name=gateway"


PORT_ERRORS = [
    pytest.param(missing_port, "port_not_found", id="port_not_found"),
    pytest.param(busy_port, "port_busy", id="port_busy"),
    pytest.param(permission_denied, "port_permission", id="port_permission"),
    pytest.param(unknown_scheme, "cannot_open", id="cannot_open"),
    pytest.param(silent_gateway, "no_hello", id="no_hello"),
    pytest.param(protocol_v2, "unsupported_version", id="unsupported_version"),
    pytest.param(probe_crashes, "unknown", id="unknown"),
    pytest.param(proxy_not_loaded, "port_not_ready", id="port_not_ready"),
]


# ---- waiting ----------------------------------------------------------------------


async def wait_for(hass: HomeAssistant, condition: Callable[[], bool]) -> None:
    """Let Home Assistant work until ``condition()`` holds (the timeout is a hang guard)."""
    async with asyncio.timeout(10):
        while True:
            await hass.async_block_till_done()
            if condition():
                return
            await asyncio.sleep(0.01)


# ---- result checks ------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"{(\w+)}")


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def check_result(result: Any, strings: dict[str, Any]) -> None:
    """Check a flow result against its translations, like Home Assistant core does.

    ``strings`` is the flow's block of strings.json (``config``, ``options`` or an
    issue's ``fix_flow``). Forms must serialise for the frontend, and every step,
    error, abort reason and placeholder must be translated or supplied. Works on
    results from a flow manager and on their JSON form from the HTTP API.
    """
    kind = FlowResultType(result["type"])
    if kind is FlowResultType.FORM:
        step = strings["step"][result["step_id"]]
        supplied = set(result.get("description_placeholders") or {})
        for text in (step.get("title", ""), step.get("description", "")):
            assert placeholders(text) <= supplied, (result["step_id"], text)
        for error in (result.get("errors") or {}).values():
            assert error in strings["error"], error
        names = {f["name"] for f in form_fields(result)}
        assert names <= set(step.get("data", {}))
        assert names <= set(step.get("data_description", {}))
    elif kind is FlowResultType.MENU:
        step = strings["step"][result["step_id"]]
        assert set(result["menu_options"]) <= set(step["menu_options"])
    elif kind is FlowResultType.ABORT and result.get("translation_domain") in (
        None,
        DOMAIN,
    ):
        assert result["reason"] in strings["abort"], result["reason"]


def form_fields(result: Any) -> list[dict[str, Any]]:
    """Return a form's fields as the frontend receives them."""
    schema = result["data_schema"]
    if schema is None:
        return []
    if isinstance(schema, list):  # already serialised by the HTTP API
        return schema
    fields = probatio.to_field_list(schema, custom_serializer=cv.custom_serializer)
    assert isinstance(fields, list)
    return fields


def form_field(result: Any, name: str) -> dict[str, Any]:
    """Return one field of a form as the frontend receives it."""
    return next(f for f in form_fields(result) if f["name"] == name)


def suggested(result: Any, name: str) -> Any:
    """Return the value a form suggests for a field."""
    return form_field(result, name)["description"]["suggested_value"]
