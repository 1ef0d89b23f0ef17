"""ESPHome packet-transport nodes and Espressif esp-now devices in Home Assistant.

Frames are built with the library's test encoders (which reproduce ESPHome's own
frames byte for byte: tests/lib/decoders/test_esphome.py) and sent through the
simulated gateway on a real pty.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE_CLASS, CONF_NAME, CONF_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.espnow_gateway.const import (
    CONF_EDIT_ENTITIES,
    CONF_ENTITIES,
    CONF_ESPHOME_KEY,
    CONF_PAYLOAD_FORMAT,
    CONF_PEERS,
    CONF_RESET_ROLLING_CODE,
    EVENT_BUTTON,
)
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.decoders import espnow_ctrl
from custom_components.espnow_gateway.espnowgw.encoders import (
    EsphomeNode,
    espnow_ctrl_payload,
    espnow_frame,
)
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from devtools.simulator import PtyGateway

from .conftest import entity_id_of, send_frame

NODE = bytes.fromhex("0a00000000e1")
TWIN = bytes.fromhex("0a00000000e2")
BUTTON = bytes.fromhex("0a00000000e3")
KEY = "a key as in the node's YAML"


def runtime(entry: MockConfigEntry) -> EspNowGateway:
    gateway: EspNowGateway = entry.runtime_data
    return gateway


def readings(temperature: float, motion: bool = False) -> list[bytes]:
    return EsphomeNode("garden-node").frames(
        [("garden_temperature", temperature), ("humidity", 55.0)], [("motion", motion)]
    )


async def reload(
    hass: HomeAssistant, gateway: PtyGateway, entry: MockConfigEntry
) -> None:
    """Reload the entry (a restart of Home Assistant, as far as the peer table goes).

    The new link counts frames from 0: so does the simulated gateway from here.
    """
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    gateway.gateway.stats.rx_packets = gateway.gateway.stats.rx_dropped = 0


async def send_all(
    hass: HomeAssistant,
    gateway: PtyGateway,
    entry: MockConfigEntry,
    mac: bytes,
    frames: list[bytes],
) -> None:
    for frame in frames:
        await send_frame(hass, gateway, entry, mac, frame)


async def test_esphome_node_is_a_device_named_by_its_hostname(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    await send_all(hass, gateway, entry, NODE, readings(21.5, motion=True))
    peer = runtime(entry).table.peers[NODE]
    device = dr.async_get(hass).async_get(peer.device_id or "")
    assert device is not None
    assert device.name == "garden-node"
    assert device.model == "ESPHome node (packet transport)"
    # No unit travels: the ids give the guess (the JSON decoder's table).
    temperature = hass.states.get(
        entity_id_of(hass, "sensor", "garden_temperature", NODE)
    )
    assert temperature.state == "21.5"
    assert temperature.attributes["unit_of_measurement"] == "°C"
    assert temperature.attributes["device_class"] == "temperature"
    assert (
        hass.states.get(entity_id_of(hass, "sensor", "humidity", NODE)).state == "55.0"
    )
    motion = hass.states.get(entity_id_of(hass, "binary_sensor", "motion", NODE))
    assert motion.state == "on"


async def test_a_hostname_from_another_mac_is_a_device_of_its_own(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = init_integration
    await send_all(hass, gateway, entry, NODE, readings(20.0))
    await send_all(hass, gateway, entry, TWIN, readings(30.0))
    registry = dr.async_get(hass)
    table = runtime(entry).table
    names = {
        registry.async_get(table.peers[mac].device_id or "").name
        for mac in (NODE, TWIN)
    }
    assert names == {"garden-node", f"garden-node ({mac_to_str(TWIN)[-8:]})"}
    assert caplog.text.count("calls itself garden-node") == 1


async def test_multi_frame_node(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A node whose sensors take two frames: every frame decodes, none is lost."""
    node = EsphomeNode("big-node", max_size=40)
    sensors = [(f"s{index}", float(index)) for index in range(5)]
    frames = node.frames(sensors)
    assert len(frames) >= 2
    await send_all(hass, gateway, init_integration, NODE, frames)
    for ident, value in sensors:
        state = hass.states.get(entity_id_of(hass, "sensor", ident, NODE))
        assert float(state.state) == value


@pytest.mark.parametrize(
    "entry_options",
    [
        {
            "slow_update_interval": 0.0,
            CONF_PEERS: {mac_to_str(NODE): {CONF_ESPHOME_KEY: KEY}},
        }
    ],
)
async def test_encrypted_node_and_replays_across_a_restart(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    node = EsphomeNode("cellar-node", key=KEY, rolling_code=True)
    first = node.frames([("temperature", 12.0)])
    await send_all(hass, gateway, entry, NODE, first)
    temperature = entity_id_of(hass, "sensor", "temperature", NODE)
    assert hass.states.get(temperature).state == "12.0"
    await send_all(hass, gateway, entry, NODE, node.frames([("temperature", 13.0)]))
    # Home Assistant restarts (the entry reloads): the rolling code was kept.
    await reload(hass, gateway, entry)
    await send_all(hass, gateway, entry, NODE, first)  # recorded and sent again
    peer = runtime(entry).table.peers[NODE]
    assert peer.replays == 1
    assert peer.values.get("temperature") in (None, 13.0)  # never the replayed 12
    await send_all(hass, gateway, entry, NODE, node.frames([("temperature", 14.0)]))
    assert peer.values["temperature"] == 14.0  # the next genuine frame is taken


async def test_encrypted_node_without_its_key_decodes_nothing(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    node = EsphomeNode("cellar-node", key=KEY, rolling_code=True)
    await send_all(hass, gateway, entry, NODE, node.frames([("temperature", 12.0)]))
    peer = runtime(entry).table.peers[NODE]
    assert peer.name == "cellar-node"  # the header is clear
    assert not peer.values
    assert peer.decryption_failures == 1


async def test_espnow_button_with_repeats_and_battery(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    events: list[Any] = []
    hass.bus.async_listen(EVENT_BUTTON, events.append)
    press = espnow_frame(
        espnow_ctrl.FrameType.CONTROL_DATA,
        espnow_ctrl_payload(
            espnow_ctrl.ATTRIBUTE_KEY_1, espnow_ctrl.ATTRIBUTE_POWER, 2
        ),
        src=BUTTON,
        magic=0x1234,
    )
    for _ in range(5):  # the component repeats every send
        await send_frame(hass, gateway, entry, BUTTON, press)
    battery = espnow_frame(
        espnow_ctrl.FrameType.CONTROL_DATA,
        espnow_ctrl_payload(espnow_ctrl.ATTRIBUTE_BATTERY_LEVEL, 0, 77),
        src=BUTTON,
        magic=0x2345,
    )
    await send_frame(hass, gateway, entry, BUTTON, battery)
    await hass.async_block_till_done()
    assert sorted((e.data["subtype"], e.data["type"]) for e in events) == [
        ("button", "press"),
        ("command", "toggle"),
    ]
    peer = runtime(entry).table.peers[BUTTON]
    device = dr.async_get(hass).async_get(peer.device_id or "")
    assert device is not None
    assert device.model == "Espressif ESP-NOW device"
    assert (
        hass.states.get(entity_id_of(hass, "sensor", "battery", BUTTON)).state == "77"
    )
    assert hass.states.get(entity_id_of(hass, "event", "button", BUTTON))


async def _peer_options(hass: HomeAssistant, entry: MockConfigEntry, mac: bytes) -> Any:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "peer"}
    )
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"peer": mac_to_str(mac)}
    )


def _fields(result: Any) -> set[str]:
    return {str(key) for key in result["data_schema"].schema}


async def test_options_key_reset_and_entity_description(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    await send_all(hass, gateway, entry, NODE, readings(21.5))
    result = await _peer_options(hass, entry, NODE)
    assert result["step_id"] == "peer_settings"
    fields = _fields(result)
    assert {CONF_ESPHOME_KEY, CONF_RESET_ROLLING_CODE, CONF_EDIT_ENTITIES} <= fields
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_PAYLOAD_FORMAT: "auto", CONF_EDIT_ENTITIES: True, CONF_ESPHOME_KEY: KEY},
    )
    assert result["step_id"] == "peer_entity"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"entity": "garden_temperature"}
    )
    assert result["step_id"] == "peer_entity_edit"
    # A unit that does not go with the device class is refused.
    bad = {
        CONF_NAME: "Soil",
        CONF_DEVICE_CLASS: "temperature",
        CONF_UNIT_OF_MEASUREMENT: "%",
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], bad)
    assert result["errors"] == {"base": "invalid_unit"}
    good = {**bad, CONF_UNIT_OF_MEASUREMENT: "°F"}
    result = await hass.config_entries.options.async_configure(result["flow_id"], good)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    settings = entry.options[CONF_PEERS][mac_to_str(NODE)]
    assert settings[CONF_ESPHOME_KEY] == KEY
    assert settings[CONF_ENTITIES] == {"garden_temperature": good}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED  # reloaded with the options
    gateway.gateway.stats.rx_packets = gateway.gateway.stats.rx_dropped = 0
    # The node encrypts from now on (its key was set above).
    encrypting = EsphomeNode("garden-node", key=KEY)
    await send_all(
        hass, gateway, entry, NODE, encrypting.frames([("garden_temperature", 70.0)])
    )
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done()  # the peer's next coalesced write
    state = hass.states.get(entity_id_of(hass, "sensor", "garden_temperature", NODE))
    assert state.attributes["friendly_name"].endswith("Soil")
    # 70 °F as the node sends it, shown in the installation's unit (metric here).
    assert state.attributes["unit_of_measurement"] == "°C"
    assert float(state.state) == pytest.approx(21.1, abs=0.1)
    # The key is never shown again; the form keeps it when left empty.
    result = await _peer_options(hass, entry, NODE)
    assert "clear_esphome_key" in _fields(result)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PAYLOAD_FORMAT: "auto", CONF_RESET_ROLLING_CODE: True}
    )
    assert entry.options[CONF_PEERS][mac_to_str(NODE)][CONF_ESPHOME_KEY] == KEY
    assert entry.options[CONF_PEERS][mac_to_str(NODE)][CONF_ENTITIES]
