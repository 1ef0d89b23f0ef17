"""Lazy decoding of measurement payloads, immediate binary states, gateway identity."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
import json
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.espnow_gateway.const import DOMAIN, EVENT_BUTTON
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.decoders.formats import (
    PeerDecoder,
    Scan,
    Sniffed,
)
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from custom_components.espnow_gateway.espnowgw.model import DecodedPayload
from custom_components.espnow_gateway.helpers import issue_id
from custom_components.espnow_gateway.peer import Peer
from devtools.simulator import PtyGateway

from .conftest import entity_id_of, send_frame, wait_until, warm_up

PEER = bytes.fromhex("0a00000000c1")


def bthome(packet_id: int, temperature: float, *, press: bool = False) -> bytes:
    body = bytes([0x40, 0x00, packet_id, 0x02]) + round(temperature * 100).to_bytes(
        2, "little", signed=True
    )
    return body + (b"\x3a\x01" if press else b"")


class CountingDecoder:
    """Wraps a peer's decoder and records what it decodes."""

    def __init__(self, inner: PeerDecoder) -> None:
        self.inner = inner
        self.calls: list[bytes] = []
        self.payload_format = inner.payload_format

        self.authenticates = inner.authenticates

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # the rest of the decoder, as it is

    def scan(self, payload: bytes) -> Scan:
        return self.inner.scan(payload)

    def decode(self, payload: bytes, sniffed: Sniffed | None = None) -> DecodedPayload:
        self.calls.append(payload)
        return self.inner.decode(payload, sniffed)


def count_decodes(peer: Peer) -> list[bytes]:
    counting = CountingDecoder(peer.decoder)
    peer.decoder = counting  # type: ignore[assignment]
    return counting.calls


def writes_of(hass: HomeAssistant, entity_id: str) -> list[Event[Any]]:
    events: list[Event[Any]] = []

    @callback
    def collect(event: Event[Any]) -> None:
        if event.data["entity_id"] == entity_id:
            events.append(event)

    hass.bus.async_listen(EVENT_STATE_CHANGED, collect)
    return events


def runtime(entry: MockConfigEntry) -> EspNowGateway:
    gateway: EspNowGateway = entry.runtime_data
    return gateway


async def test_measurements_are_decoded_once_per_write(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    warm_up(gateway.gateway, PEER)
    await send_frame(hass, gateway, entry, PEER, bthome(1, 20.0))
    peer = runtime(entry).table.peers[PEER]
    temperature = entity_id_of(hass, "sensor", "temperature", PEER)
    assert hass.states.get(temperature).state == "20.0"
    decodes = count_decodes(peer)
    writes = writes_of(hass, temperature)
    for index in range(2, 22):
        await send_frame(hass, gateway, entry, PEER, bthome(index, 20.0 + index / 10))
    assert decodes == []  # measurements only: nothing decoded before the write is due
    # The next write falls on the peer's phase: within two intervals.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=10))
    await hass.async_block_till_done()
    assert decodes == [bthome(21, 22.1)]  # only the latest
    assert [w.data["new_state"].state for w in writes] == ["22.1"]


async def test_events_are_decoded_and_fired_at_once(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    warm_up(gateway.gateway, PEER)
    await send_frame(hass, gateway, entry, PEER, bthome(1, 20.0))
    decodes = count_decodes(runtime(entry).table.peers[PEER])
    presses = async_capture_events(hass, EVENT_BUTTON)
    await send_frame(hass, gateway, entry, PEER, bthome(2, 20.5))
    await send_frame(hass, gateway, entry, PEER, bthome(3, 21.0, press=True))
    assert len(decodes) == 1
    assert [e.data["type"] for e in presses] == ["press"]
    # The press's own measurement was taken in at once too.
    assert runtime(entry).table.peers[PEER].values["temperature"] == 21.0


async def test_binary_states_are_written_at_once_but_not_flooded(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    await send_frame(hass, gateway, entry, PEER, json.dumps({"door": False}).encode())
    door = entity_id_of(hass, "binary_sensor", "door", PEER)
    assert hass.states.get(door).state == "off"
    writes = writes_of(hass, door)
    await send_frame(hass, gateway, entry, PEER, json.dumps({"door": True}).encode())
    assert [w.data["new_state"].state for w in writes] == ["on"]  # no waiting 5 s
    # A flapping contact: the next change waits for the short minimum gap.
    await send_frame(hass, gateway, entry, PEER, json.dumps({"door": False}).encode())
    await send_frame(
        hass, gateway, entry, PEER, json.dumps({"door": True, "x": 1}).encode()
    )
    assert len(writes) == 1
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
    await hass.async_block_till_done()
    assert [w.data["new_state"].state for w in writes] == [
        "on"
    ]  # the last value is on again
    assert hass.states.get(door).state == "on"


@pytest.fixture
def wrong_entry(gateway: PtyGateway) -> MockConfigEntry:
    """An entry that expects another gateway than the one on the port."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="ESP-NOW Gateway 24:6F:28:00:00:99",
        unique_id="24:6F:28:00:00:99",
        data={"port": gateway.url, "baudrate": 921600},
    )


async def test_another_gateway_on_the_port_is_refused(
    hass: HomeAssistant,
    gateway: PtyGateway,
    wrong_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    config_entry = wrong_entry
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    issue = issue_registry.async_get_issue(
        DOMAIN, issue_id("wrong_gateway", config_entry.entry_id)
    )
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["found"] == mac_to_str(gateway.config.mac)
    assert config_entry.error_reason_translation_key == "wrong_gateway"
    # The port was released.
    from custom_components.espnow_gateway.espnowgw.connection import probe

    assert (await probe(gateway.url)).mac == gateway.config.mac


@pytest.fixture
def swapped_config_entry(gateway: PtyGateway) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="ESP-NOW Gateway",
        unique_id=mac_to_str(gateway.config.mac),
        data={"port": gateway.url, "baudrate": 921600},
    )


async def test_gateway_swapped_while_running(
    hass: HomeAssistant,
    gateway: PtyGateway,
    swapped_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    entry = swapped_config_entry
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    gateway.unplug()
    gateway.config.mac = bytes.fromhex("246f28000077")  # another gateway, same port
    gateway.plug()
    runtime(entry).reconnect_now()
    await wait_until(hass, lambda: entry.state is ConfigEntryState.SETUP_ERROR)
    assert issue_registry.async_get_issue(
        DOMAIN, issue_id("wrong_gateway", entry.entry_id)
    )


async def test_raw_peer_that_turns_decodable_is_added(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    await send_frame(hass, gateway, entry, PEER, b"\x07\x07\x07")
    assert PEER in runtime(entry).table.pending
    await hass.async_block_till_done()
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    await send_frame(
        hass, gateway, entry, PEER, json.dumps({"temperature": 20}).encode()
    )
    await hass.async_block_till_done()
    assert PEER in runtime(entry).table.peers
    assert PEER not in runtime(entry).table.pending
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_undecodable_frames_do_not_change_a_peers_kind(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    await send_frame(
        hass, gateway, entry, PEER, json.dumps({"temperature": 20}).encode()
    )
    peer = runtime(entry).table.peers[PEER]
    await send_frame(hass, gateway, entry, PEER, b"\x07\x07\x07")
    peer.flush()
    assert peer.kind == "json"


async def test_signal_strength_written_at_most_once_a_minute(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    payload = json.dumps({"temperature": 20}).encode()
    await send_frame(hass, gateway, entry, PEER, payload, rssi=-50)
    rssi = entity_id_of(hass, "sensor", "rssi", PEER)
    assert hass.states.get(rssi).state == "-50"
    writes = writes_of(hass, rssi)
    for index, seconds in enumerate((6, 12, 18, 61)):
        await send_frame(
            hass,
            gateway,
            entry,
            PEER,
            json.dumps({"temperature": index}).encode(),
            rssi=-51 - index,
        )
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
        await hass.async_block_till_done()
    # Fired timers flushed the peer four times, but no minute of loop time passed.
    assert writes == []
    # Once a minute has passed (moved back by hand: the loop clock does not follow
    # fired timers), the next write shows the latest value.
    entity = next(
        listener.__self__
        for listener in runtime(entry).table.peers[PEER]._listeners
        if getattr(listener.__self__, "entity_id", None) == rssi
    )
    entity._written_at -= 61
    await send_frame(
        hass, gateway, entry, PEER, json.dumps({"temperature": 9}).encode(), rssi=-70
    )
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=120))
    await hass.async_block_till_done()
    assert [w.data["new_state"].state for w in writes] == ["-70"]
    writes.clear()
    # Availability changes are written at once, whatever the interval.
    gateway.unplug()
    await wait_until(hass, lambda: not runtime(entry).connected)
    assert [w.data["new_state"].state for w in writes] == ["unavailable"]


class FirmwareTelling:
    """A peer's real decoder, with the firmware version a newer bthome-ble reports.

    bthome-ble 3.23 (Home Assistant 2026.10's pin) does not know the BTHome
    firmware-version objects; 3.24+ does (see tests/lib for the decoding itself).
    """

    def __init__(self, inner: PeerDecoder, firmware: str) -> None:
        self.inner = inner
        self.firmware = firmware
        self.payload_format = inner.payload_format

        self.authenticates = inner.authenticates

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # the rest of the decoder, as it is

    def scan(self, payload: bytes) -> Scan:
        return self.inner.scan(payload)

    def decode(self, payload: bytes, sniffed: Sniffed | None = None) -> DecodedPayload:
        return dataclasses.replace(
            self.inner.decode(payload, sniffed), firmware=self.firmware
        )


async def test_firmware_version_becomes_the_devices_and_is_kept(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    warm_up(gateway.gateway, PEER)
    await send_frame(hass, gateway, entry, PEER, bthome(1, 20.0, press=True))
    peer = runtime(entry).table.peers[PEER]
    peer.decoder = FirmwareTelling(peer.decoder, "1.4.2")  # type: ignore[assignment]
    await send_frame(hass, gateway, entry, PEER, bthome(2, 20.5, press=True))
    registry = dr.async_get(hass)
    device = registry.async_get(peer.device_id or "")
    assert device is not None
    assert device.sw_version == "1.4.2"
    # Every device this integration registers carries text only (Home Assistant
    # 2026.12 refuses anything else in the device registry).
    for entry_device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        for value in (
            entry_device.model,
            entry_device.sw_version,
            entry_device.hw_version,
        ):
            assert value is None or type(value) is str, entry_device
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert runtime(entry).table.peers[PEER].firmware == "1.4.2"
