"""Tests of the binary sensors: the gateway connection and decoded binary readings."""

from __future__ import annotations

from typing import Any

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.espnow_gateway.const import DOMAIN
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.models import MeasurementInfo
from devtools.simulator import PtyGateway

from .conftest import (
    MULTI_MAC,
    entity_id_of,
    populate,
    send_frame,
    stored_table,
    wait_until,
)

FROZEN = "2026-06-01 12:00:00+00:00"


PLATFORM = Platform.BINARY_SENSOR
pytestmark = pytest.mark.usefixtures("single_platform")


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "frozen_time_link")
async def test_entities(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every binary sensor, its registry entry and its state."""
    await populate(hass, gateway, init_integration)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_connection(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """The connection sensor shows the link state and stays available."""
    runtime: EspNowGateway = init_integration.runtime_data
    connection = entity_id_of(hass, "binary_sensor", "connection")
    assert hass.states.get(connection).state == STATE_ON
    gateway.unplug()
    await wait_until(hass, lambda: not runtime.connected)
    assert hass.states.get(connection).state == STATE_OFF
    gateway.plug()
    runtime.reconnect_now()
    await wait_until(hass, lambda: runtime.connected)
    assert hass.states.get(connection).state == STATE_ON


async def test_binary_values(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Decoded binary readings switch the sensor on and off."""
    entry = init_integration
    await send_frame(hass, gateway, entry, MULTI_MAC, b'{"door":true,"flag":false}')
    door = entity_id_of(hass, "binary_sensor", "door", MULTI_MAC)
    flag = entity_id_of(hass, "binary_sensor", "flag", MULTI_MAC)
    assert hass.states.get(door).state == STATE_ON
    assert hass.states.get(door).attributes["device_class"] == "door"
    assert hass.states.get(flag).state == STATE_OFF
    assert hass.states.get(flag).attributes["friendly_name"] == "ESP-NOW 00:00:04 Flag"
    runtime: EspNowGateway = entry.runtime_data
    await send_frame(hass, gateway, entry, MULTI_MAC, b'{"door":false,"flag":true}')
    runtime.table.peers[MULTI_MAC].flush()
    assert hass.states.get(door).state == STATE_OFF
    assert hass.states.get(flag).state == STATE_ON


def _stored_table(entry: MockConfigEntry) -> dict[str, Any]:
    measurements = [
        MeasurementInfo("door", "door", None, None, binary=True),
        MeasurementInfo("motion", "motion", None, None, binary=True),
        MeasurementInfo("leak", "not_a_device_class", None, None, binary=True),
    ]
    return stored_table(entry, "0A:00:00:00:00:04", measurements)


async def test_restore_after_restart(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Binary readings show their last state after a restart until the peer reports."""
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = _stored_table(config_entry)
    prefix = "binary_sensor.esp_now_00_00_04"
    mock_restore_cache(
        hass,
        [
            State(f"{prefix}_door", STATE_ON),
            State(f"{prefix}_motion", "unavailable"),
            State(f"{prefix}_leak", STATE_OFF),
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(f"{prefix}_door").state == STATE_ON
    assert hass.states.get(f"{prefix}_motion").state == STATE_UNKNOWN
    leak = hass.states.get(f"{prefix}_leak")
    assert leak.state == STATE_OFF
    assert "device_class" not in leak.attributes

    await send_frame(hass, gateway, config_entry, MULTI_MAC, b'{"door":false}')
    assert hass.states.get(f"{prefix}_door").state == STATE_OFF
    await hass.config_entries.async_unload(config_entry.entry_id)
