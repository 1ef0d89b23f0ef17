"""Config flow, options flow and peer discovery, against simulated gateways on real ptys."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.components import usb
from homeassistant.config_entries import (
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_USB,
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.usb import UsbServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.espnow_gateway.const import (
    CONF_AUTO_ADD,
    CONF_BAUDRATE,
    CONF_BINDKEY,
    CONF_CLEAR_BINDKEY,
    CONF_EXPECTED_INTERVAL,
    CONF_MAX_PEERS,
    CONF_PAYLOAD_FORMAT,
    CONF_PEERS,
    CONF_SLOW_INTERVAL,
    CONF_UPDATE_INTERVAL,
    DOMAIN,
)
from custom_components.espnow_gateway.espnowgw.mac import mac_from_str, mac_to_str
from custom_components.espnow_gateway.espnowgw.model import PayloadFormat
from devtools.bthome_frames import seal
from devtools.simulator import PtyGateway

from .conftest import GATEWAY_MAC, send_frame
from .flow_helpers import (
    OTHER_MAC,
    PORT_ERRORS,
    PROBE_TIMEOUT,
    SHORT_PROBE,
    STRINGS,
    USB_DESCRIPTION,
    Ports,
    PortSetup,
    check_result,
    form_field,
    form_fields,
    probe_crashes,
    suggested,
    wait_for,
)

TITLE = f"ESP-NOW Gateway {GATEWAY_MAC}"
NEW_PEER = "02:4E:00:00:00:42"
BINDKEY = "231d39c1d7cc1ab1aee224cd096db932"


pytestmark = pytest.mark.usefixtures("unload_entries")


# ---- helpers --------------------------------------------------------------------


def port_input(port: str, baudrate: str = "921600") -> dict[str, str]:
    """What the user enters in the port form."""
    return {CONF_PORT: port, CONF_BAUDRATE: baudrate}


def add_entry(hass: HomeAssistant, port: str, **data: Any) -> MockConfigEntry:
    """Add (without setting up) an entry for the simulated gateway on ``port``."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=GATEWAY_MAC,
        data={CONF_PORT: port, CONF_BAUDRATE: 921600, **data},
    )
    entry.add_to_hass(hass)
    return entry


async def configure(
    hass: HomeAssistant, result: ConfigFlowResult, user_input: dict[str, Any]
) -> ConfigFlowResult:
    """Submit a config flow step and check the answer's translations."""
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    check_result(result, STRINGS["config"])
    return result


async def start(hass: HomeAssistant, source: str, data: Any = None) -> ConfigFlowResult:
    """Start a config flow and check the answer's translations."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": source}, data=data
    )
    check_result(result, STRINGS["config"])
    return result


async def options_step(
    hass: HomeAssistant, result: Any, user_input: dict[str, Any]
) -> Any:
    """Submit an options flow step and check the answer's translations."""
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input
    )
    check_result(result, STRINGS["options"])
    return result


async def options_menu(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Open the options flow (a menu)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    check_result(result, STRINGS["options"])
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "init"
    return result


def usb_info(device: str) -> UsbServiceInfo:
    """What USB discovery reports for an ESP32-S3's native USB port."""
    return UsbServiceInfo(
        device=device,
        vid="303A",
        pid="1001",
        serial_number="F4:12:FA:00:00:01",
        manufacturer="Espressif",
        description=USB_DESCRIPTION,
    )


def by_id(gateway: PtyGateway) -> Any:
    """Make ``get_serial_by_id`` find the gateway's link, as udev's by-id does."""
    return patch.object(
        usb,
        "get_serial_by_id",
        side_effect=lambda device: gateway.url if device == gateway.path else device,
    )


# ---- user step --------------------------------------------------------------------


async def test_user_creates_entry(hass: HomeAssistant, gateway: PtyGateway) -> None:
    result = await start(hass, SOURCE_USER)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await configure(hass, result, port_input(f" {gateway.url} "))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TITLE
    assert result["data"] == {CONF_PORT: gateway.url, CONF_BAUDRATE: 921600}
    entry = result["result"]
    assert entry.unique_id == GATEWAY_MAC
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(("setup", "expected_error"), PORT_ERRORS)
async def test_user_errors_recover(
    hass: HomeAssistant,
    gateway: PtyGateway,
    ports: Ports,
    setup: PortSetup,
    expected_error: str,
) -> None:
    result = await start(hass, SOURCE_USER)
    async with setup(ports) as port:
        result = await configure(hass, result, port_input(port))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": expected_error}
    assert suggested(result, CONF_PORT) == port
    # The reason in the system's own words is shown with the error.
    assert result["description_placeholders"]["detail"]

    result = await configure(hass, result, port_input(gateway.url))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == GATEWAY_MAC


@pytest.mark.parametrize("baudrate", ["abc", "10", "5000001", ""])
async def test_user_invalid_baudrate(
    hass: HomeAssistant, gateway: PtyGateway, baudrate: str
) -> None:
    result = await start(hass, SOURCE_USER)
    result = await configure(hass, result, port_input(gateway.url, baudrate))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BAUDRATE: "invalid_baudrate"}

    result = await configure(hass, result, port_input(gateway.url))
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_custom_baudrate(hass: HomeAssistant, gateway: PtyGateway) -> None:
    result = await start(hass, SOURCE_USER)
    assert form_field(result, CONF_BAUDRATE)["selector"]["select"]["custom_value"]

    result = await configure(hass, result, port_input(gateway.url, " 250000 "))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BAUDRATE] == 250000


@pytest.mark.parametrize(
    ("configured", "entered"),
    [("url", "url"), ("url", "path"), ("path", "url")],
    ids=["same_path", "device_behind_link", "link_to_device"],
)
async def test_user_port_already_configured(
    hass: HomeAssistant, gateway: PtyGateway, configured: str, entered: str
) -> None:
    entry = add_entry(hass, getattr(gateway, configured))
    result = await start(hass, SOURCE_USER)
    result = await configure(hass, result, port_input(getattr(gateway, entered)))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_PORT] == getattr(gateway, configured)


async def test_user_port_of_loaded_entry(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """The loaded entry holds the device: its other name is known, not "busy"."""
    assert gateway.path is not None
    result = await start(hass, SOURCE_USER)
    result = await configure(hass, result, port_input(gateway.path))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert init_integration.state is ConfigEntryState.LOADED


async def test_user_same_gateway_on_new_port_updates_entry(
    hass: HomeAssistant, gateway: PtyGateway, tmp_path: Path
) -> None:
    """The gateway moved: the entry follows it instead of a second entry appearing."""
    entry = add_entry(hass, str(tmp_path / "usb-old-port-if00"))
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY

    result = await start(hass, SOURCE_USER)
    result = await configure(hass, result, port_input(gateway.url, "460800"))
    assert result["type"] is FlowResultType.ABORT
    # Not a bare "already configured": the user learns that it moved, and where.
    assert result["reason"] == "gateway_moved"
    assert result["description_placeholders"] == {
        "title": entry.title,
        "old_port": str(tmp_path / "usb-old-port-if00"),
        "port": gateway.url,
    }
    assert entry.data == {CONF_PORT: gateway.url, CONF_BAUDRATE: 460800}
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.port == gateway.url


# ---- USB discovery ------------------------------------------------------------------


async def test_usb_discovery_creates_entry(
    hass: HomeAssistant, gateway: PtyGateway
) -> None:
    assert gateway.path is not None
    with by_id(gateway):
        result = await start(hass, SOURCE_USB, usb_info(gateway.path))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "usb_confirm"
    name = usb.human_readable_device_name(
        gateway.url,
        "F4:12:FA:00:00:01",
        "Espressif",
        USB_DESCRIPTION,
        "303A",
        "1001",
    )
    assert result["description_placeholders"] == {
        "name": name,
        "mac": GATEWAY_MAC,
        "firmware": "sim-1.0.0",
    }
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": name}
    assert flow["context"]["unique_id"] == GATEWAY_MAC

    result = await configure(hass, result, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TITLE
    assert result["data"] == {CONF_PORT: gateway.url, CONF_BAUDRATE: 921600}
    assert result["result"].unique_id == GATEWAY_MAC
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_usb_discovery_not_a_gateway(hass: HomeAssistant, ports: Ports) -> None:
    silent = ports.make("usb-silent-if00", hello_on_boot=False)
    silent.gateway.mute = True
    with patch(PROBE_TIMEOUT, SHORT_PROBE):
        result = await start(hass, SOURCE_USB, usb_info(silent.url))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_espnow_gateway"
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_usb_discovery_already_in_progress(
    hass: HomeAssistant, gateway: PtyGateway
) -> None:
    """The same gateway discovered twice (e.g. under two device names)."""
    assert gateway.path is not None
    first = await start(hass, SOURCE_USB, usb_info(gateway.path))
    assert first["step_id"] == "usb_confirm"
    second = await start(hass, SOURCE_USB, usb_info(gateway.url))
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"


@pytest.mark.parametrize("configured", ["url", "path"])
async def test_usb_discovery_port_already_configured(
    hass: HomeAssistant, gateway: PtyGateway, configured: str
) -> None:
    """Also when the entry names the device through a link (real path compared)."""
    assert gateway.path is not None
    entry = add_entry(hass, getattr(gateway, configured))
    result = await start(hass, SOURCE_USB, usb_info(gateway.path))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_PORT] == getattr(gateway, configured)


async def test_usb_discovery_of_loaded_gateway_does_not_probe(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    assert gateway.path is not None
    with patch("custom_components.espnow_gateway.helpers.probe") as probe:
        result = await start(hass, SOURCE_USB, usb_info(gateway.path))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    probe.assert_not_called()
    assert init_integration.state is ConfigEntryState.LOADED


async def test_usb_discovery_updates_moved_gateway(
    hass: HomeAssistant, gateway: PtyGateway, tmp_path: Path
) -> None:
    """Configured on a port that vanished: the entry follows the gateway and loads."""
    assert gateway.path is not None
    entry = add_entry(hass, str(tmp_path / "usb-old-port-if00"))
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY

    with by_id(gateway):
        result = await start(hass, SOURCE_USB, usb_info(gateway.path))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "gateway_moved"
    assert entry.data[CONF_PORT] == gateway.url
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


# ---- reconfigure --------------------------------------------------------------------


async def test_reconfigure_to_another_port(
    hass: HomeAssistant, ports: Ports, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    runtime = entry.runtime_data
    moved = ports.make("usb-moved-if00")  # the same gateway (MAC) on another port

    result = await entry.start_reconfigure_flow(hass)
    check_result(result, STRINGS["config"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert suggested(result, CONF_PORT) == entry.data[CONF_PORT]
    assert suggested(result, CONF_BAUDRATE) == "921600"

    result = await configure(hass, result, port_input(moved.url, "460800"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {CONF_PORT: moved.url, CONF_BAUDRATE: 460800}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime  # reloaded
    assert entry.runtime_data.port == moved.url
    assert entry.runtime_data.connected


@pytest.mark.parametrize("name", ["url", "path"])
async def test_reconfigure_same_port(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    name: str,
) -> None:
    """The loaded entry holds the port: the flow lets go of it to test it."""
    entry = init_integration
    port = getattr(gateway, name)
    result = await entry.start_reconfigure_flow(hass)
    result = await configure(hass, result, port_input(port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PORT] == port
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.connected


async def test_reconfigure_entry_not_loaded(
    hass: HomeAssistant, gateway: PtyGateway, tmp_path: Path
) -> None:
    entry = add_entry(hass, str(tmp_path / "usb-old-port-if00"))
    assert not await hass.config_entries.async_setup(entry.entry_id)

    result = await entry.start_reconfigure_flow(hass)
    result = await configure(hass, result, port_input(gateway.url))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_different_gateway_on_other_port(
    hass: HomeAssistant, ports: Ports, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    runtime = entry.runtime_data
    other = ports.make("usb-other-if00", mac=OTHER_MAC)
    result = await entry.start_reconfigure_flow(hass)
    result = await configure(hass, result, port_input(other.url))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "different_gateway"
    assert entry.data[CONF_PORT] != other.url
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is runtime  # never let go of its port


async def test_reconfigure_different_gateway_on_same_port(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Another gateway answers on the entry's own port: the entry is set up again."""
    entry = init_integration
    gateway.config.mac = OTHER_MAC
    result = await entry.start_reconfigure_flow(hass)
    result = await configure(hass, result, port_input(gateway.url))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "different_gateway"
    gateway.config.mac = mac_from_str(GATEWAY_MAC)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(("setup", "expected_error"), PORT_ERRORS)
async def test_reconfigure_errors_recover(
    hass: HomeAssistant,
    ports: Ports,
    init_integration: MockConfigEntry,
    setup: PortSetup,
    expected_error: str,
) -> None:
    entry = init_integration
    configured = entry.data[CONF_PORT]
    result = await entry.start_reconfigure_flow(hass)
    async with setup(ports) as port:
        result = await configure(hass, result, port_input(port))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": expected_error}
    assert suggested(result, CONF_PORT) == port
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_PORT] == configured

    result = await configure(hass, result, port_input(configured))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_error_on_own_port_sets_entry_up_again(
    hass: HomeAssistant,
    gateway: PtyGateway,
    ports: Ports,
    init_integration: MockConfigEntry,
) -> None:
    entry = init_integration
    runtime = entry.runtime_data
    result = await entry.start_reconfigure_flow(hass)
    async with probe_crashes(ports):
        result = await configure(hass, result, port_input(gateway.url))
    assert result["errors"] == {"base": "unknown"}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime  # it was let go of for the test

    result = await configure(hass, result, port_input(gateway.url))
    assert result["reason"] == "reconfigure_successful"


async def test_reconfigure_invalid_baudrate_keeps_entry_loaded(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    runtime = entry.runtime_data
    result = await entry.start_reconfigure_flow(hass)
    result = await configure(hass, result, port_input(gateway.url, "fast"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BAUDRATE: "invalid_baudrate"}
    assert suggested(result, CONF_BAUDRATE) == "fast"
    await hass.async_block_till_done()
    assert entry.runtime_data is runtime  # the port was never let go of

    result = await configure(hass, result, port_input(gateway.url, "115200"))
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_BAUDRATE] == 115200


# ---- peer discovery -----------------------------------------------------------------


def peer_info(entry: MockConfigEntry, mac: str = NEW_PEER) -> dict[str, str]:
    """What a gateway reports about a peer awaiting confirmation."""
    return {"entry_id": entry.entry_id, "mac": mac, "kind": "raw"}


async def test_peer_discovery_adds_peer(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    result = await start(hass, SOURCE_INTEGRATION_DISCOVERY, peer_info(entry))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "peer_confirm"
    assert result["description_placeholders"] == {
        "mac": NEW_PEER,
        "kind": "raw",
        "gateway": TITLE,
    }
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": f"ESP-NOW {NEW_PEER}"}
    assert flow["context"]["unique_id"] == f"{GATEWAY_MAC}-{NEW_PEER}"

    again = await start(hass, SOURCE_INTEGRATION_DISCOVERY, peer_info(entry))
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_in_progress"

    result = await configure(hass, result, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "peer_added"
    assert mac_from_str(NEW_PEER) in entry.runtime_data.table.peers
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_peer_discovery_gateway_unknown(hass: HomeAssistant) -> None:
    result = await start(
        hass,
        SOURCE_INTEGRATION_DISCOVERY,
        {"entry_id": "no-such-entry", "mac": NEW_PEER, "kind": "raw"},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "gateway_not_loaded"


async def test_peer_discovery_gateway_not_loaded(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await start(hass, SOURCE_INTEGRATION_DISCOVERY, peer_info(config_entry))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "gateway_not_loaded"


async def test_peer_confirm_after_gateway_unloaded(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    result = await start(hass, SOURCE_INTEGRATION_DISCOVERY, peer_info(entry))
    assert result["step_id"] == "peer_confirm"
    await hass.config_entries.async_unload(entry.entry_id)

    result = await configure(hass, result, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "gateway_not_loaded"


@pytest.mark.parametrize("entry_options", [{CONF_MAX_PEERS: 1}])
async def test_peer_confirm_table_full(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    gateway = init_integration.runtime_data
    assert gateway.table.approve("02:4E:00:00:00:01")
    result = await start(
        hass, SOURCE_INTEGRATION_DISCOVERY, peer_info(init_integration)
    )
    result = await configure(hass, result, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "peer_table_full"
    assert mac_from_str(NEW_PEER) not in gateway.table.peers
    assert len(gateway.table.peers) == 1


def discovery_flows(hass: HomeAssistant) -> list[Any]:
    """Peer confirmation flows in progress."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    ]


@pytest.mark.parametrize("entry_options", [{CONF_AUTO_ADD: False}])
async def test_heard_peer_asks_for_confirmation(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Without auto add, a JSON peer the gateway hears starts a discovery flow."""
    sim = gateway.gateway
    peer = next(p for p in sim.peers if p.kind == "json")
    mac = mac_to_str(peer.mac)
    sim.emit_from(peer)
    await wait_for(hass, lambda: bool(discovery_flows(hass)))

    [flow] = discovery_flows(hass)
    assert flow["step_id"] == "peer_confirm"
    assert flow["context"]["unique_id"] == f"{GATEWAY_MAC}-{mac}"
    assert flow["context"]["title_placeholders"] == {"name": f"ESP-NOW {mac}"}
    assert peer.mac not in init_integration.runtime_data.table.peers

    result = await configure(hass, flow, {})
    assert result["reason"] == "peer_added"
    assert peer.mac in init_integration.runtime_data.table.peers


async def test_raw_peer_asks_for_confirmation_even_with_auto_add(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    mac = mac_from_str(NEW_PEER)
    assert gateway.gateway.packet(mac, bytes.fromhex("deadbeef0102"))
    await wait_for(hass, lambda: bool(discovery_flows(hass)))

    [flow] = discovery_flows(hass)
    assert flow["context"]["unique_id"] == f"{GATEWAY_MAC}-{NEW_PEER}"
    result = await configure(hass, flow, {})
    assert result["reason"] == "peer_added"
    assert mac in init_integration.runtime_data.table.peers


def sealed(counter: int, mac: str = NEW_PEER) -> bytes:
    """An encrypted BTHome frame of ``mac`` (temperature 23.45 °C), sealed with BINDKEY."""
    return seal(
        bytes.fromhex("02 29 09"),
        counter,
        mac=mac_from_str(mac),
        key=bytes.fromhex(BINDKEY),
    )


async def test_encrypting_bthome_peer_asks_for_its_key(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """An encrypted BTHome sender is never added unasked: the key is checked first."""
    entry = init_integration
    table = entry.runtime_data.table
    mac = mac_from_str(NEW_PEER)
    sim = gateway.gateway
    for counter in (10, 11):
        assert sim.packet(mac, sealed(counter))
    await wait_for(hass, lambda: table.pending.get(mac) is not None)
    await hass.async_block_till_done()
    assert not discovery_flows(hass)  # two frames: not yet a BTHome device
    assert sim.packet(mac, sealed(12))
    await wait_for(hass, lambda: bool(discovery_flows(hass)))
    assert mac not in table.peers  # auto-add is on, but it has no key

    [flow] = discovery_flows(hass)
    assert flow["step_id"] == "peer_key"
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    check_result(result, STRINGS["config"])
    assert result["description_placeholders"] == {
        "mac": NEW_PEER,
        "kind": "bthome",
        "gateway": TITLE,
    }
    assert form_field(result, CONF_BINDKEY)["selector"]["text"]["type"] == "password"
    for bindkey, error in (
        ("not a key", "invalid_bindkey"),
        ("00" * 16, "bindkey_mismatch"),
    ):
        result = await configure(hass, result, {CONF_BINDKEY: bindkey})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_BINDKEY: error}
        assert "suggested_value" not in (
            form_field(result, CONF_BINDKEY).get("description") or {}
        )
    result = await configure(hass, result, {CONF_BINDKEY: f" {BINDKEY.upper()} "})
    assert result["reason"] == "peer_added"
    assert entry.options[CONF_PEERS][NEW_PEER] == {CONF_BINDKEY: BINDKEY}
    peer = table.peers[mac]
    assert peer.decoder.authenticates

    await send_frame(hass, gateway, entry, mac, sealed(13))
    assert peer.values == {"temperature": 23.45}
    assert peer.decryption_failures == 0


async def test_peer_key_after_gateway_unloaded(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    result = await start(
        hass, SOURCE_INTEGRATION_DISCOVERY, peer_info(entry) | {"encrypted": True}
    )
    assert result["step_id"] == "peer_key"
    await hass.config_entries.async_unload(entry.entry_id)
    result = await configure(hass, result, {CONF_BINDKEY: BINDKEY})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "gateway_not_loaded"


# ---- options ------------------------------------------------------------------------


async def test_options_menu(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    gateway = entry.runtime_data
    assert (await options_menu(hass, entry))["menu_options"] == ["settings"]

    gateway.table.approve(NEW_PEER)
    assert (await options_menu(hass, entry))["menu_options"] == ["settings", "peer"]

    gateway.table.remove(NEW_PEER)
    assert (await options_menu(hass, entry))["menu_options"] == [
        "settings",
        "ignored",
    ]

    await hass.config_entries.async_unload(entry.entry_id)
    assert (await options_menu(hass, entry))["menu_options"] == ["settings"]


async def test_options_settings_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    runtime = entry.runtime_data
    result = await options_menu(hass, entry)
    result = await options_step(hass, result, {"next_step_id": "settings"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"

    result = await options_step(
        hass,
        result,
        {
            CONF_AUTO_ADD: False,
            CONF_UPDATE_INTERVAL: 30,
            CONF_SLOW_INTERVAL: 120,
            CONF_MAX_PEERS: 20,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_AUTO_ADD: False,
        CONF_UPDATE_INTERVAL: 30.0,
        CONF_SLOW_INTERVAL: 120.0,
        CONF_MAX_PEERS: 20,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    gateway = entry.runtime_data
    assert gateway is not runtime  # OptionsFlowWithReload
    assert (
        gateway.table.auto_add,
        gateway.update_interval,
        gateway.slow_interval,
        gateway.table.max_peers,
    ) == (
        False,
        30.0,
        120.0,
        20,
    )

    # The form shows the current options.
    result = await options_menu(hass, entry)
    result = await options_step(hass, result, {"next_step_id": "settings"})
    assert form_field(result, CONF_MAX_PEERS)["default"] == 20


async def open_peer_settings(
    hass: HomeAssistant, entry: MockConfigEntry, mac: str
) -> Any:
    """Open the options flow at the settings form of peer ``mac``."""
    result = await options_menu(hass, entry)
    result = await options_step(hass, result, {"next_step_id": "peer"})
    assert result["step_id"] == "peer"
    # Peers are listed by their device names, with the MAC.
    options = form_field(result, "peer")["selector"]["select"]["options"]
    assert {"value": mac, "label": f"ESP-NOW {mac[-8:]} ({mac})"} in options
    result = await options_step(hass, result, {"peer": mac})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "peer_settings"
    assert result["description_placeholders"] == {"mac": mac}
    return result


@pytest.mark.parametrize(
    ("user_input", "saved"),
    [
        (
            {
                CONF_PAYLOAD_FORMAT: "bthome",
                CONF_BINDKEY: f" {BINDKEY.upper()} ",
                CONF_EXPECTED_INTERVAL: 60,
            },
            {
                CONF_PAYLOAD_FORMAT: "bthome",
                CONF_BINDKEY: BINDKEY,
                CONF_EXPECTED_INTERVAL: 60.0,
            },
        ),
        ({CONF_PAYLOAD_FORMAT: "json"}, {CONF_PAYLOAD_FORMAT: "json"}),
        (
            {CONF_PAYLOAD_FORMAT: "raw", CONF_BINDKEY: "", CONF_EXPECTED_INTERVAL: 0},
            {CONF_PAYLOAD_FORMAT: "raw", CONF_EXPECTED_INTERVAL: 0.0},
        ),
    ],
    ids=["bthome_encrypted", "json", "raw_never_stale"],
)
async def test_options_peer_settings(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    user_input: dict[str, Any],
    saved: dict[str, Any],
) -> None:
    entry = init_integration
    entry.runtime_data.table.approve(NEW_PEER)
    result = await open_peer_settings(hass, entry, NEW_PEER)
    assert form_field(result, CONF_PAYLOAD_FORMAT)["default"] == "auto"

    result = await options_step(hass, result, user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_PEERS] == {NEW_PEER: saved}
    await hass.async_block_till_done()
    peer = entry.runtime_data.table.peers[mac_from_str(NEW_PEER)]  # reloaded, restored
    assert peer.decoder.payload_format is PayloadFormat(saved[CONF_PAYLOAD_FORMAT])
    assert peer.expected_interval == saved.get(CONF_EXPECTED_INTERVAL)

    # Opened again, the form shows the saved settings.
    result = await open_peer_settings(hass, entry, NEW_PEER)
    assert (
        form_field(result, CONF_PAYLOAD_FORMAT)["default"]
        == (saved[CONF_PAYLOAD_FORMAT])
    )


@pytest.mark.parametrize(
    "bindkey", ["not hex at all", "00ff", BINDKEY + "00"], ids=["hex", "short", "long"]
)
async def test_options_peer_invalid_bindkey(
    hass: HomeAssistant, init_integration: MockConfigEntry, bindkey: str
) -> None:
    entry = init_integration
    entry.runtime_data.table.approve(NEW_PEER)
    result = await open_peer_settings(hass, entry, NEW_PEER)
    result = await options_step(
        hass, result, {CONF_PAYLOAD_FORMAT: "bthome", CONF_BINDKEY: bindkey}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BINDKEY: "invalid_bindkey"}
    # A key is a secret: never sent back to the form, not even a wrong one.
    assert "suggested_value" not in (
        form_field(result, CONF_BINDKEY).get("description") or {}
    )
    assert suggested(result, CONF_PAYLOAD_FORMAT) == "bthome"
    assert CONF_PEERS not in entry.options

    result = await options_step(
        hass, result, {CONF_PAYLOAD_FORMAT: "bthome", CONF_BINDKEY: BINDKEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_PEERS][NEW_PEER][CONF_BINDKEY] == BINDKEY


async def test_options_peer_key_is_never_shown_kept_or_cleared(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The key field is a password field; empty keeps the key; a box clears it."""
    entry = init_integration
    entry.runtime_data.table.approve(NEW_PEER)
    result = await open_peer_settings(hass, entry, NEW_PEER)
    assert form_field(result, CONF_BINDKEY)["selector"]["text"]["type"] == "password"
    assert CONF_CLEAR_BINDKEY not in [f["name"] for f in form_fields(result)]
    result = await options_step(
        hass, result, {CONF_PAYLOAD_FORMAT: "bthome", CONF_BINDKEY: BINDKEY}
    )
    await hass.async_block_till_done()

    result = await open_peer_settings(hass, entry, NEW_PEER)
    assert "suggested_value" not in (
        form_field(result, CONF_BINDKEY).get("description") or {}
    )
    assert BINDKEY not in repr(result)
    # Empty: the key stays.
    result = await options_step(
        hass, result, {CONF_PAYLOAD_FORMAT: "bthome", CONF_EXPECTED_INTERVAL: 60}
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_PEERS][NEW_PEER] == {
        CONF_PAYLOAD_FORMAT: "bthome",
        CONF_BINDKEY: BINDKEY,
        CONF_EXPECTED_INTERVAL: 60.0,
    }
    # Cleared: gone.
    result = await open_peer_settings(hass, entry, NEW_PEER)
    assert form_field(result, CONF_CLEAR_BINDKEY)["default"] is False
    result = await options_step(
        hass, result, {CONF_PAYLOAD_FORMAT: "auto", CONF_CLEAR_BINDKEY: True}
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_PEERS][NEW_PEER] == {CONF_PAYLOAD_FORMAT: "auto"}


async def test_options_peer_settings_keep_other_peers(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    other = {CONF_PAYLOAD_FORMAT: "json"}
    hass.config_entries.async_update_entry(
        entry, options={CONF_MAX_PEERS: 10, CONF_PEERS: {"02:4E:00:00:00:01": other}}
    )
    entry.runtime_data.table.approve(NEW_PEER)
    result = await open_peer_settings(hass, entry, NEW_PEER)
    result = await options_step(hass, result, {CONF_PAYLOAD_FORMAT: "raw"})
    assert entry.options == {
        CONF_MAX_PEERS: 10,
        CONF_PEERS: {
            "02:4E:00:00:00:01": other,
            NEW_PEER: {CONF_PAYLOAD_FORMAT: "raw"},
        },
    }
    await hass.async_block_till_done()


async def test_options_ignored_peers(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    gateway = entry.runtime_data
    kept = "02:4E:00:00:00:07"
    for mac in (NEW_PEER, kept):
        gateway.table.approve(mac)
        gateway.table.remove(mac)  # its device was deleted: ignored from now on
    assert gateway.table.ignored == {NEW_PEER, kept}
    options_before = dict(entry.options)

    result = await options_menu(hass, entry)
    result = await options_step(hass, result, {"next_step_id": "ignored"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "ignored"
    restore = form_field(result, "restore")
    assert restore["selector"]["select"]["options"] == sorted([NEW_PEER, kept])
    assert restore["default"] == []

    result = await options_step(hass, result, {"restore": [NEW_PEER]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == options_before  # unchanged
    await hass.async_block_till_done()
    assert entry.runtime_data is gateway  # options unchanged: no reload
    assert gateway.table.ignored == {kept}


@pytest.mark.parametrize(
    ("text", "saved"),
    [
        ("pmk1234567890123", b"pmk1234567890123".hex()),
        (f" {BINDKEY.upper()} ", BINDKEY),
        ("", None),
    ],
    ids=["characters", "hex", "none"],
)
async def test_options_primary_master_key(
    hass: HomeAssistant, init_integration: MockConfigEntry, text: str, saved: str | None
) -> None:
    """The PMK: 16 characters or 32 hex digits, kept as hex; a bad one refused."""
    entry = init_integration
    settings = {
        CONF_AUTO_ADD: True,
        CONF_UPDATE_INTERVAL: 5,
        CONF_SLOW_INTERVAL: 60,
        CONF_MAX_PEERS: 100,
    }

    async def open_settings() -> Any:
        result = await options_menu(hass, entry)
        return await options_step(hass, result, {"next_step_id": "settings"})

    result = await open_settings()
    assert "clear_pmk" not in [f["name"] for f in form_fields(result)]
    result = await options_step(hass, result, settings | {"pmk": "too short"})
    assert result["errors"] == {"pmk": "invalid_key"}
    result = await options_step(hass, result, settings | {"pmk": text})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options.get("pmk") == saved
    await hass.async_block_till_done()
    assert entry.runtime_data.radio.pmk == (bytes.fromhex(saved) if saved else None)
    if saved is None:
        return
    # Never shown again: empty keeps it, the checkbox removes it.
    result = await open_settings()
    assert "suggested_value" not in form_field(result, "pmk").get("description", {})
    result = await options_step(hass, result, settings)
    assert entry.options["pmk"] == saved
    await hass.async_block_till_done()
    result = await open_settings()
    result = await options_step(hass, result, settings | {"clear_pmk": True})
    assert "pmk" not in entry.options


async def test_options_peer_local_master_key(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A device's LMK: validated like the PMK; the device is registered encrypted."""
    entry = init_integration
    entry.runtime_data.table.approve(NEW_PEER)
    result = await open_peer_settings(hass, entry, NEW_PEER)
    for bad in ("0011zz", "z" * 32):
        result = await options_step(
            hass, result, {CONF_PAYLOAD_FORMAT: "json", "lmk": bad}
        )
        assert result["errors"] == {"lmk": "invalid_key"}
    result = await options_step(
        hass, result, {CONF_PAYLOAD_FORMAT: "json", "lmk": "lmk1234567890123"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_PEERS][NEW_PEER]["lmk"] == b"lmk1234567890123".hex()
    await hass.async_block_till_done()
    radio = entry.runtime_data.radio
    await wait_for(hass, lambda: mac_from_str(NEW_PEER) in radio.registered)
    assert radio.registered[mac_from_str(NEW_PEER)] is True
    # Never shown again: empty keeps it, the checkbox removes it.
    result = await open_peer_settings(hass, entry, NEW_PEER)
    assert "suggested_value" not in form_field(result, "lmk").get("description", {})
    result = await options_step(hass, result, {CONF_PAYLOAD_FORMAT: "json"})
    assert entry.options[CONF_PEERS][NEW_PEER]["lmk"] == b"lmk1234567890123".hex()
    await hass.async_block_till_done()
    result = await open_peer_settings(hass, entry, NEW_PEER)
    result = await options_step(
        hass, result, {CONF_PAYLOAD_FORMAT: "json", "clear_lmk": True}
    )
    assert "lmk" not in entry.options[CONF_PEERS][NEW_PEER]
