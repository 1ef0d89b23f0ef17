"""Tests of the sensors: gateway figures, peer link figures, decoded measurements."""

from __future__ import annotations

from typing import Any

from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.espnow_gateway.const import DOMAIN
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.models import MeasurementInfo
from devtools.simulator import PtyGateway

from .conftest import (
    MULTI_MAC,
    REMOTE_MAC,
    entity_id_of,
    populate,
    send_frame,
    stored_table,
    wait_until,
    warm_up,
)

FROZEN = "2026-06-01 12:00:00+00:00"
OTHER_MAC = bytes.fromhex("0a0000000001")


PLATFORM = Platform.SENSOR
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
    """Every sensor, its registry entry and its state."""
    await populate(hass, gateway, init_integration)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_disabled_by_default(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Noisy figures are disabled by default."""
    await populate(hass, gateway, init_integration)
    disabled = {
        entry.unique_id.rpartition("-")[2]
        for entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
        if entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    }
    assert disabled == {
        "crc_errors",
        "free_heap",
        "packets",
        "last_seen",
        "sends",
        "sends_acknowledged",
    }


async def test_timestamp_measurement(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A BTHome timestamp (an ISO string from the decoder) is a timestamp sensor."""
    warm_up(gateway.gateway, REMOTE_MAC)
    await send_frame(
        hass,
        gateway,
        init_integration,
        REMOTE_MAC,
        bytes.fromhex("40 50 30 66 1d 6a"),
    )
    state = hass.states.get(entity_id_of(hass, "sensor", "timestamp", REMOTE_MAC))
    assert state is not None
    assert state.state == "2026-06-01T11:00:00+00:00"
    assert state.attributes["device_class"] == "timestamp"


async def test_value_that_does_not_fit(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A value its sensor cannot show is refused and counted; the sensor keeps its last."""
    entry = init_integration
    runtime: EspNowGateway = entry.runtime_data
    # A new peer's first frame: the number of 400 digits is refused, the rest is not.
    big = "1" * 400
    await send_frame(
        hass, gateway, entry, OTHER_MAC, f'{{"temperature":20,"big":{big}}}'.encode()
    )
    peer = runtime.table.peers[OTHER_MAC]
    temperature = entity_id_of(hass, "sensor", "temperature", OTHER_MAC)
    assert hass.states.get(temperature).state == "20"
    assert "big" not in peer.measurements
    assert peer.invalid_values == 1
    for refused in (b'"n/a"', b'"21.5"', b"true", big.encode(), b"-9007199254740993"):
        await send_frame(
            hass, gateway, entry, OTHER_MAC, b'{"temperature":%s}' % refused
        )
        peer.flush()
        assert hass.states.get(temperature).state == "20", refused
    assert peer.invalid_values == 6
    assert runtime.connection.stats.callback_errors == 0
    # What else may reach the sensor (a restored value, say) shows unknown.
    for value in ("nan", float("inf"), 10**400, True, "21.5"):
        peer.values["temperature"] = value
        peer.flush()
        assert hass.states.get(temperature).state == STATE_UNKNOWN
    await send_frame(
        hass, gateway, entry, OTHER_MAC, b'{"temperature":-9007199254740992}'
    )
    peer.flush()
    assert hass.states.get(temperature).state == "-9007199254740992"
    assert peer.diagnostics()["invalid_values"] == 6


async def test_long_text_refused(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A BTHome raw object of 128 bytes or more is longer than a state may be."""
    entry = init_integration
    runtime: EspNowGateway = entry.runtime_data
    warm_up(gateway.gateway, REMOTE_MAC)
    short = bytes.fromhex("40 54 7f") + bytes(127)  # 254 hex digits
    await send_frame(hass, gateway, entry, REMOTE_MAC, short)
    raw = entity_id_of(hass, "sensor", "raw", REMOTE_MAC)
    assert hass.states.get(raw).state == "00" * 127
    await send_frame(
        hass, gateway, entry, REMOTE_MAC, bytes.fromhex("40 54 80") + bytes(128)
    )
    runtime.table.peers[REMOTE_MAC].flush()
    assert hass.states.get(raw).state == "00" * 127
    assert runtime.table.peers[REMOTE_MAC].invalid_values == 1


async def test_timestamp_that_does_not_fit(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A timestamp sensor given anything but an ISO time with zone shows unknown."""
    entry = init_integration
    runtime: EspNowGateway = entry.runtime_data
    warm_up(gateway.gateway, REMOTE_MAC)
    await send_frame(
        hass, gateway, entry, REMOTE_MAC, bytes.fromhex("40 50 30 66 1d 6a")
    )
    peer = runtime.table.peers[REMOTE_MAC]
    timestamp = entity_id_of(hass, "sensor", "timestamp", REMOTE_MAC)
    for value in ("2026-06-01T11:00:00", "yesterday", 12):
        peer.values["timestamp"] = value
        peer.flush()
        assert hass.states.get(timestamp).state == STATE_UNKNOWN


def _stored_table(entry: MockConfigEntry) -> dict[str, Any]:
    measurements = [
        MeasurementInfo("temperature", "temperature", "°C", "measurement"),
        MeasurementInfo("humidity", "humidity", "%", "measurement"),
        MeasurementInfo("pressure", "pressure", "hPa", "measurement"),
        MeasurementInfo("status", None, None, None),
        MeasurementInfo("timestamp", "timestamp", None, None),
        MeasurementInfo("co2", "carbon_dioxide", "ppm", "measurement"),
        MeasurementInfo("flux", "not_a_device_class", None, None),
    ]
    return stored_table(entry, "0A:00:00:00:00:01", measurements)


async def test_restore_after_restart(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Measurements show their last value after a restart until the peer reports."""
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = _stored_table(config_entry)
    prefix = "sensor.esp_now_00_00_01"
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(f"{prefix}_temperature", "19.5"),
                {"native_value": 19.5, "native_unit_of_measurement": "°C"},
            ),
            (
                State(f"{prefix}_humidity", "40"),
                {
                    "native_value": {
                        "__type": "<class 'decimal.Decimal'>",
                        "decimal_str": "40.5",
                    },
                    "native_unit_of_measurement": "%",
                },
            ),
            (
                State(f"{prefix}_status", "ok"),
                {"native_value": "ok", "native_unit_of_measurement": None},
            ),
            (
                State(f"{prefix}_timestamp", "2026-06-01T11:00:00+00:00"),
                {
                    "native_value": {
                        "__type": "<class 'datetime.datetime'>",
                        "isoformat": "2026-06-01T11:00:00+00:00",
                    },
                    "native_unit_of_measurement": None,
                },
            ),
            # Stored without its sensor data: nothing to restore.
            (State(f"{prefix}_pressure", "1000"), {}),
            (
                State(f"{prefix}_co2", "unknown"),
                {"native_value": None, "native_unit_of_measurement": "ppm"},
            ),
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    def state(key: str) -> str:
        return hass.states.get(entity_id_of(hass, "sensor", key, OTHER_MAC)).state

    assert entity_id_of(hass, "sensor", "temperature", OTHER_MAC) == (
        f"{prefix}_temperature"
    )
    assert state("temperature") == "19.5"
    assert state("humidity") == "40.5"
    assert state("status") == "ok"
    assert state("timestamp") == "2026-06-01T11:00:00+00:00"
    assert state("pressure") == STATE_UNKNOWN
    assert state("co2") == STATE_UNKNOWN
    flux = hass.states.get(entity_id_of(hass, "sensor", "flux", OTHER_MAC))
    assert "device_class" not in flux.attributes
    assert flux.attributes["friendly_name"] == "ESP-NOW 00:00:01 Flux"

    await send_frame(hass, gateway, config_entry, OTHER_MAC, b'{"temperature":22}')
    assert state("temperature") == "22"
    assert state("humidity") == "40.5"
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_gateway_figures(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """The gateway's own figures come from its STATS and the link's counters."""
    entry = init_integration
    runtime: EspNowGateway = entry.runtime_data
    sim = gateway.gateway
    await populate(hass, gateway, entry)
    assert hass.states.get(entity_id_of(hass, "sensor", "gateway_dropped")).state == "2"
    assert hass.states.get(entity_id_of(hass, "sensor", "peers")).state == "5"
    # A frame damaged on the wire is lost and counted.
    sim.config.corrupt_rate = 1.0
    sim.packet(MULTI_MAC, b'{"temperature":1}', -60)
    sim.config.corrupt_rate = 0.0
    sim.packet(MULTI_MAC, b'{"temperature":2}', -60)
    stats = runtime.connection.stats
    await gateway.drain()
    await wait_until(hass, lambda: stats.packets_lost == 1)
    assert stats.decoder.crc_errors + stats.decoder.header_errors == 1
    lost = entity_id_of(hass, "sensor", "packets_lost")
    assert hass.states.get(lost).state == "0"  # written with the next figures
    sim.send(sim.gateway_stats())
    await gateway.drain()
    await wait_until(hass, lambda: hass.states.get(lost).state == "1")
