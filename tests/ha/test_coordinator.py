"""Tests of the gateway runtime: the peer table, duplicates, rate limits, availability."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
import json
import logging
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.espnow_gateway.const import (
    DOMAIN,
    EVENT_BUTTON,
    MAX_MEASUREMENTS_PER_PEER,
)
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.connection import GatewayConnection
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from custom_components.espnow_gateway.espnowgw.messages import LogLevel
from custom_components.espnow_gateway.espnowgw.model import (
    ButtonEvent,
    PayloadFormat,
    PayloadKind,
)
from custom_components.espnow_gateway.peer import Peer
from devtools.simulator import PtyGateway, SimPeer, SimulatedGateway, SimulatorConfig

from .conftest import (
    GatewayClock,
    entity_id_of,
    frames_handled,
    send_frame,
    tick,
    wait_until,
    warm_up,
)

OTHER_MAC = bytes.fromhex("0a0000000001")
THIRD_MAC = bytes.fromhex("0a0000000002")
FROZEN = "2026-06-01 12:00:00+00:00"


def doc(**members: Any) -> bytes:
    """Return a JSON payload."""
    return json.dumps(members).encode()


def runtime_of(entry: MockConfigEntry) -> EspNowGateway:
    """Return the entry's gateway runtime."""
    gateway: EspNowGateway = entry.runtime_data
    return gateway


def peer_of(entry: MockConfigEntry, mac: bytes) -> Peer:
    """Return a peer of the entry's gateway."""
    return runtime_of(entry).table.peers[mac]


def state_writes(hass: HomeAssistant, entity_id: str) -> list[Event[Any]]:
    """Collect the state changes of one entity."""
    events: list[Event[Any]] = []

    @callback
    def _collect(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] == entity_id:
            events.append(event)

    hass.bus.async_listen(EVENT_STATE_CHANGED, _collect)
    return events


@pytest.fixture
def sim(gateway: PtyGateway) -> SimulatedGateway:
    """The simulated gateway: peers[0] sends BTHome, peers[1] JSON, peers[2] raw."""
    return gateway.gateway


# ---- the peer table -------------------------------------------------------------------


async def test_raw_peer_heard_during_setup_is_asked_about_later(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """A peer heard while the entry is being set up (every start) is offered after.

    Its discovery flow aborts then (the gateway is not loaded): it is asked about at
    its next frame, not never.
    """
    entry = init_integration
    raw = sim.peers[2]
    entry.mock_state(hass, ConfigEntryState.SETUP_IN_PROGRESS)
    sim.emit_from(raw, press=False)
    await frames_handled(hass, gateway, entry)
    await hass.async_block_till_done()
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert not runtime_of(entry).table.pending[raw.mac].asked

    entry.mock_state(hass, ConfigEntryState.LOADED)
    sim.emit_from(raw, press=False)
    await frames_handled(hass, gateway, entry)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["step_id"] for flow in flows] == ["peer_confirm"]
    assert flows[0]["context"]["unique_id"].endswith(mac_to_str(raw.mac))


async def test_decodable_peers_added_raw_peers_pending(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """BTHome and JSON peers are added once their frames show it, raw ones wait."""
    entry = init_integration
    runtime = runtime_of(entry)
    bthome, json_peer, raw = sim.peers
    for peer in sim.peers:
        sim.emit_from(peer, press=False)
    await frames_handled(hass, gateway, entry)
    # A JSON reading is evidence enough; one BTHome frame is not (random bytes look
    # like one far too often), and nobody is asked about it while it could be one.
    assert set(runtime.table.peers) == {json_peer.mac}
    assert runtime.table.pending[bthome.mac].evidence.undecided
    assert not runtime.table.pending[bthome.mac].asked
    for _ in range(2):
        sim.emit_from(bthome, press=False)
    await frames_handled(hass, gateway, entry)

    assert set(runtime.table.peers) == {bthome.mac, json_peer.mac}
    assert runtime.table.peers[bthome.mac].kind is PayloadKind.BTHOME
    assert runtime.table.peers[json_peer.mac].kind is PayloadKind.JSON
    assert list(runtime.table.pending) == [raw.mac]
    assert runtime.table.pending[raw.mac].kind is PayloadKind.RAW
    assert runtime.counters.unknown_packets == 5

    gateway_device = device_registry.async_get_device_by_identifier(
        (DOMAIN, "246f28000001"), entry.entry_id
    )
    assert gateway_device is not None
    assert gateway_device.sw_version == "sim-1.0.0"
    assert gateway_device.serial_number == "24:6F:28:00:00:01"
    models = {}
    for peer in (bthome, json_peer):
        device = device_registry.async_get_device_by_identifier(
            (DOMAIN, f"246f28000001-{peer.mac.hex()}"), entry.entry_id
        )
        assert device is not None
        assert device.via_device_id == gateway_device.id
        assert device.config_entry_id == entry.entry_id
        models[peer.kind] = device.model
    # The payload kind is known from the frame that adds the peer on.
    assert models == {"bthome": "BTHome v2 device", "json": "JSON device"}
    # The gateway's device count follows the table at once.
    assert hass.states.get(entity_id_of(hass, "sensor", "peers")).state == "2"

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    assert flows[0]["context"]["unique_id"] == (
        f"24:6F:28:00:00:01-{mac_to_str(raw.mac)}"
    )

    # More frames of a pending peer are counted, no second flow is started.
    sim.packet(raw.mac, b"\x01\x02", -42)
    await frames_handled(hass, gateway, entry)
    assert runtime.table.pending[raw.mac].packets == 2
    assert runtime.table.pending[raw.mac].rssi == -42
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 1

    # Confirmed: added, with the link figures only.
    assert runtime.table.approve(mac_to_str(raw.mac))
    await hass.async_block_till_done()
    assert raw.mac in runtime.table.peers
    assert raw.mac not in runtime.table.pending
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"246f28000001-{raw.mac.hex()}"), entry.entry_id
    )
    assert device is not None
    assert device.model == "ESP-NOW device"
    sim.packet(raw.mac, b"\x01\x02\x03", -50)
    await frames_handled(hass, gateway, entry)
    assert hass.states.get(entity_id_of(hass, "sensor", "rssi", raw.mac)).state == (
        "-50"
    )
    assert runtime.table.peers[raw.mac].kind is PayloadKind.RAW
    assert hass.states.get(entity_id_of(hass, "sensor", "peers")).state == "3"


@pytest.mark.parametrize("entry_options", [{"auto_add_peers": False}])
async def test_auto_add_off(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """Without auto-add every new peer waits, with the kind it was detected as."""
    runtime = runtime_of(init_integration)
    warm_up(sim, sim.peers[0].mac)
    for peer in sim.peers:
        sim.emit_from(peer, press=False)
    await frames_handled(hass, gateway, init_integration)
    assert not runtime.table.peers
    assert [p.kind for p in runtime.table.pending.values()] == [
        PayloadKind.BTHOME,
        PayloadKind.JSON,
        PayloadKind.RAW,
    ]
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 3
    # Known and asked about: more frames are counted, nothing else.
    json_peer = sim.peers[1]
    sim.emit_from(json_peer, press=False)
    await frames_handled(hass, gateway, init_integration)
    assert runtime.table.pending[json_peer.mac].packets == 2
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 3


@pytest.mark.parametrize(
    "entry_options",
    [
        {
            "auto_add_peers": True,
            "peers": {
                "0A:00:00:00:00:01": {"payload_format": "raw"},
                "0A:00:00:00:00:02": {
                    "payload_format": "bthome",
                    "bindkey": "231d39c1d7cc1ab1aee224cd096db932",
                    "expected_interval": 30,
                },
            },
        }
    ],
)
async def test_configured_peers(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A peer with a configured payload format is added whatever it sends."""
    entry = init_integration
    runtime = runtime_of(entry)
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(temperature=20))
    await send_frame(hass, gateway, entry, THIRD_MAC, b"\x41\x00")
    raw = runtime.table.peers[OTHER_MAC]
    assert raw.decoder.payload_format is PayloadFormat.RAW
    assert raw.kind is PayloadKind.RAW
    assert not raw.measurements
    encrypted = runtime.table.peers[THIRD_MAC]
    assert encrypted.decoder.payload_format is PayloadFormat.BTHOME
    assert encrypted.expected_interval == 30.0
    assert encrypted.stale_after == 90.0
    assert encrypted.decode_errors == 1  # too short to decrypt


@pytest.mark.parametrize(
    "entry_options",
    [
        {
            "auto_add_peers": False,
            "peers": {"0A:00:00:00:00:01": {"payload_format": "json"}},
        }
    ],
)
async def test_configured_peer_pending(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Without auto-add a configured peer waits with its configured kind."""
    runtime = runtime_of(init_integration)
    await send_frame(hass, gateway, init_integration, OTHER_MAC, b"\x00\x01")
    assert runtime.table.pending[OTHER_MAC].kind is PayloadKind.JSON


@pytest.mark.parametrize("entry_options", [{"max_peers": 1}])
async def test_peer_table_full(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Peers beyond max_peers are counted and logged once, never added."""
    entry = init_integration
    runtime = runtime_of(entry)
    bthome, json_peer, raw = sim.peers
    for _ in range(5):
        sim.emit_from(bthome, press=False)
        sim.emit_from(json_peer, press=False)
    await frames_handled(hass, gateway, entry)
    # JSON is added at its first frame; BTHome, from its third on, finds no room.
    assert list(runtime.table.peers) == [json_peer.mac]
    assert runtime.counters.table_full_packets == 3
    assert caplog.text.count("The peer table is full") == 1
    # Confirming a peer while the table is full fails.
    sim.emit_from(raw)
    await frames_handled(hass, gateway, entry)
    assert not runtime.table.approve(mac_to_str(raw.mac))
    assert raw.mac not in runtime.table.peers


@pytest.mark.parametrize("entry_options", [{"auto_add_peers": False}])
async def test_pending_table_bounded(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """A full pending table refuses new senders while its senders are heard.

    Only a pending sender silent for ``PENDING_STALE_AFTER`` makes room (the least
    recently heard one; its flow is aborted): more senders in range than the table
    holds must not start and abort a discovery flow at every frame.
    """
    first, second, third = sim.peers[:3]

    def flows() -> list[str]:
        return sorted(
            flow["context"]["unique_id"]
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        )

    def flows_of(*peers: SimPeer) -> list[str]:
        return sorted(f"24:6F:28:00:00:01-{mac_to_str(p.mac)}" for p in peers)

    config_entry = init_integration
    with patch("custom_components.espnow_gateway.peer_table.MAX_PENDING_PEERS", 2):
        runtime = runtime_of(config_entry)
        for _ in range(3):  # each sender several times: no churn
            for peer in (first, second, third):
                sim.emit_from(peer, press=False)
        await frames_handled(hass, gateway, config_entry)
        await hass.async_block_till_done()
        assert list(runtime.table.pending) == [first.mac, second.mac]
        assert runtime.counters.pending_refused == 3
        assert runtime.counters.pending_dropped == 0
        assert flows() == flows_of(first, second)

        sim.emit_from(first, press=False)  # heard again: now the most recent
        await frames_handled(hass, gateway, config_entry)
        # Every pending sender counts as silent now: the least recently heard goes.
        with patch(
            "custom_components.espnow_gateway.peer_table.PENDING_STALE_AFTER", 0
        ):
            sim.emit_from(third, press=False)
            await frames_handled(hass, gateway, config_entry)
        await hass.async_block_till_done()
        assert list(runtime.table.pending) == [first.mac, third.mac]
        assert runtime.counters.pending_dropped == 1
        assert flows() == flows_of(first, third)


async def test_too_many_measurements(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A peer keeps at most MAX_MEASUREMENTS_PER_PEER measurements."""
    entry = init_integration
    first = {f"a{i}": i for i in range(30)}
    second = {f"b{i}": i for i in range(30)}
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(**first))
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(**second))
    peer = peer_of(entry, OTHER_MAC)
    # Measurement-only payloads are decoded when the next state write is due.
    peer.flush()
    assert len(peer.measurements) == MAX_MEASUREMENTS_PER_PEER
    assert "b1" in peer.measurements
    assert "b2" not in peer.measurements
    assert "b2" not in peer.values


async def test_decode_errors_counted(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Malformed and undecryptable payloads are counted per peer and gateway."""
    entry = init_integration
    runtime = runtime_of(entry)
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(temperature=20))
    await send_frame(hass, gateway, entry, OTHER_MAC, b"{broken")
    # UUID prefix: BTHome whatever follows; the object is cut short.
    await send_frame(hass, gateway, entry, OTHER_MAC, bytes.fromhex("d2fc400201"))
    # Encrypted, but the peer has no key: the first time, the log says what to do.
    for counter in ("00", "01"):
        await send_frame(
            hass,
            gateway,
            entry,
            OTHER_MAC,
            bytes.fromhex("41a4722bae1ac61208" + counter + "00" * 7),
        )
    peer = runtime.table.peers[OTHER_MAC]
    assert peer.decode_errors == 1
    assert runtime.counters.decode_errors == 1
    assert peer.decryption_failures == 2
    assert peer.kind is PayloadKind.BTHOME
    hints = [r for r in caplog.records if "sends encrypted payloads" in r.message]
    assert [(r.levelname, "it has no key" in r.message) for r in hints] == [
        ("WARNING", True)
    ]


# ---- duplicates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sim_config",
    [SimulatorConfig(peers=3, kinds=("bthome", "json", "raw"), seed=5, repeats=12)],
)
async def test_repeated_press_is_one_event(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """A remote repeating its press twelve times (WizMote) gives one event."""
    entry = init_integration
    runtime = runtime_of(entry)
    bthome, json_peer, _raw = sim.peers
    warm_up(sim, bthome.mac)
    for peer in (bthome, json_peer):
        sim.emit_from(peer, press=False)
    await frames_handled(hass, gateway, entry)
    bus_events = async_capture_events(hass, EVENT_BUTTON)
    writes: list[str] = []

    @callback
    def _collect(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"].startswith("event."):
            writes.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, _collect)
    # The button entities do not exist yet: the first press creates them.
    assert not hass.states.async_entity_ids("event")

    assert sim.emit_from(bthome, press=True) == 12
    assert sim.emit_from(json_peer, press=True) == 12
    await frames_handled(hass, gateway, entry)

    assert [(e.data["subtype"], e.data["type"]) for e in bus_events] == [
        ("button", "press"),
        ("button", "press"),
    ]
    assert runtime.counters.duplicates == 22
    assert runtime.table.peers[bthome.mac].duplicates == 11
    assert runtime.table.peers[bthome.mac].packets == 13
    buttons = [
        entity_id_of(hass, "event", "button", p.mac) for p in (bthome, json_peer)
    ]
    for entity_id in buttons:
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.attributes["event_type"] == "multi_press_end"
        assert state.attributes["multi_press_count"] == 1
        # Created, then pressed: the press that made the entity is not lost.
        assert writes.count(entity_id) == 2

    # The next press is a new event.
    for peer in (bthome, json_peer):
        sim.emit_from(peer, press=True)
    await frames_handled(hass, gateway, entry)
    assert len(bus_events) == 4
    for entity_id in buttons:
        assert writes.count(entity_id) == 3


async def test_duplicate_window(
    hass: HomeAssistant,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
) -> None:
    """Repeats are frames within 2 s of gateway time: same bytes, or same packet id."""
    entry = init_integration
    events = async_capture_events(hass, EVENT_BUTTON)
    press = doc(seq=7, button="press")
    await send_frame(hass, gateway, entry, OTHER_MAC, press)
    gateway_clock.advance(1.9)
    await send_frame(hass, gateway, entry, OTHER_MAC, press)
    assert len(events) == 1
    # Same packet id, other bytes, within the window: a repeat.
    gateway_clock.advance(0.05)
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(seq=7, button="press", n=1))
    assert len(events) == 1
    # Same bytes 2 s after the first copy: a new press. (Just past 2 s: the clock
    # is a float, so "exactly 2 s" may come out as 1.999999 s.)
    gateway_clock.advance(0.06)
    await send_frame(hass, gateway, entry, OTHER_MAC, press)
    assert len(events) == 2
    # Same packet id 2 s later: new.
    gateway_clock.advance(2.01)
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(seq=7, button="press", n=2))
    assert len(events) == 3
    peer = peer_of(entry, OTHER_MAC)
    assert peer.duplicates == 2
    # A gateway restart starts its clock again: never a repeat.
    gateway.gateway.boot()
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(seq=7, button="press", n=2))
    assert len(events) == 4


# ---- rate-limited state writes ----------------------------------------------------


@pytest.mark.parametrize(
    "sim_config",
    [SimulatorConfig(peers=2, kinds=("bthome", "json"), seed=5, repeats=3)],
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_fast_peer_writes_once_per_interval(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """50 frames a second give one state write per update interval; presses are immediate."""
    entry = init_integration
    _bthome, peer = sim.peers
    sim.emit_from(peer, press=True)
    await frames_handled(hass, gateway, entry)
    temperature = entity_id_of(hass, "sensor", "temperature", peer.mac)
    button = entity_id_of(hass, "event", "button", peer.mac)
    writes = state_writes(hass, temperature)
    sensor_writes = {
        entity_id: state_writes(hass, entity_id)
        for entity_id in hass.states.async_entity_ids("sensor")
        if "_c8_5b_01_" in entity_id
    }
    assert len(sensor_writes) == 6  # packets and last seen enabled too
    button_writes = state_writes(hass, button)
    bus_events = async_capture_events(hass, EVENT_BUTTON)

    for index in range(50):
        sim.emit_from(peer, press=index % 10 == 0)
    await frames_handled(hass, gateway, entry)
    assert peer_of(entry, peer.mac).packets == 3 + 45 + 5 * 3
    # The first write of this interval happened with the first frame.
    assert not any(sensor_writes.values())
    # Every distinct press went out at once.
    assert len(bus_events) == 5
    assert len(button_writes) == 5

    # The coalesced write falls on the peer's own phase of the interval: within
    # two intervals of the first write, then every interval.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=10))
    await hass.async_block_till_done()
    assert len(writes) == 1
    assert writes[0].data["new_state"].state == str(round(peer.temperature, 2))
    assert all(len(events) <= 1 for events in sensor_writes.values())
    assert hass.states.get(entity_id_of(hass, "sensor", "rssi", peer.mac)).state == (
        str(round(peer.rssi))
    )
    # Nothing more is pending.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done()
    assert len(writes) == 1


@pytest.mark.parametrize("entry_options", [{"update_interval": 0}])
async def test_update_interval_zero_writes_every_frame(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """With update_interval 0 every frame is written."""
    entry = init_integration
    peer = sim.peers[1]
    sim.emit_from(peer, press=False)
    await frames_handled(hass, gateway, entry)
    writes = state_writes(hass, entity_id_of(hass, "sensor", "rssi", peer.mac))
    for _ in range(10):
        sim.packet(peer.mac, sim.peer_payload(peer), -40 - len(writes))
        await frames_handled(hass, gateway, entry)
    assert len(writes) == 10


# ---- availability -----------------------------------------------------------------


async def retry(
    hass: HomeAssistant, runtime: EspNowGateway, timeout: float = 10.0
) -> None:
    """Cut the link's reconnect back-off short and wait for the attempt.

    Call it while the link sleeps between attempts (after a failed one).
    """
    stats = runtime.connection.stats
    failures = stats.connect_failures
    runtime.reconnect_now()
    await wait_until(
        hass,
        lambda: stats.connect_failures > failures or runtime.connected,
        timeout,
    )


async def reconnect(
    hass: HomeAssistant, runtime: EspNowGateway, timeout: float = 10.0
) -> None:
    """Retry until the link is up (a retry can find an attempt under way)."""
    for _ in range(5):
        if runtime.connected:
            return
        await retry(hass, runtime, timeout)
    assert runtime.connected


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link", "entity_registry_enabled_by_default")
async def test_silent_peer_becomes_unavailable(
    hass: HomeAssistant,
    *,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A peer is stale after three learnt intervals of silence (at least 60 s)."""
    entry = init_integration
    for value in range(4):
        await send_frame(hass, gateway, entry, OTHER_MAC, doc(temperature=20 + value))
        gateway_clock.advance(40)
        freezer.tick(timedelta(seconds=40))
    peer = peer_of(entry, OTHER_MAC)
    assert peer.learnt_interval == pytest.approx(40)
    assert peer.stale_after == pytest.approx(120)
    temperature = entity_id_of(hass, "sensor", "temperature", OTHER_MAC)
    last_seen = entity_id_of(hass, "sensor", "last_seen", OTHER_MAC)

    # 40 s since the last frame so far; 120 s is the limit.
    await tick(hass, freezer, 50)
    assert hass.states.get(temperature).state == "23"
    await tick(hass, freezer, 31)
    assert hass.states.get(temperature).state == STATE_UNAVAILABLE
    assert peer.stale
    # Last seen stays known.
    assert hass.states.get(last_seen).state != STATE_UNAVAILABLE
    await tick(hass, freezer, 30)
    assert caplog.text.count("is silent: marked unavailable") == 1

    # The next frame brings it back at once; the next tick logs it.
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(temperature=30))
    assert hass.states.get(temperature).state == "30"
    assert not peer.stale
    await tick(hass, freezer, 1)
    assert caplog.text.count(f"ESP-NOW peer {mac_to_str(OTHER_MAC)} is back") == 1


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_minimum_stale_time(
    hass: HomeAssistant,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A fast peer is given at least 60 s; short gaps (bursts) teach nothing."""
    entry = init_integration
    for _ in range(3):
        await send_frame(hass, gateway, entry, OTHER_MAC, doc(temperature=20))
        gateway_clock.advance(0.1)
        await send_frame(hass, gateway, entry, OTHER_MAC, doc(temperature=21))
        gateway_clock.advance(1)
    peer = peer_of(entry, OTHER_MAC)
    assert peer.learnt_interval == pytest.approx(1.1, abs=0.2)
    assert peer.stale_after == 60
    temperature = entity_id_of(hass, "sensor", "temperature", OTHER_MAC)
    await tick(hass, freezer, 40)
    assert hass.states.get(temperature).state == "21"
    await tick(hass, freezer, 21)
    assert hass.states.get(temperature).state == STATE_UNAVAILABLE


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
@pytest.mark.parametrize(
    "entry_options",
    [
        {
            "peers": {
                "0A:00:00:00:00:01": {"expected_interval": 10},
                "0A:00:00:00:00:02": {"expected_interval": 0},
            }
        }
    ],
)
async def test_expected_interval_option(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The per-peer option overrides learning: stale after three intervals, 0 = never."""
    entry = init_integration
    # The option applies to button peers too.
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(seq=1, button="press"))
    await send_frame(hass, gateway, entry, THIRD_MAC, doc(temperature=1))
    button = entity_id_of(hass, "event", "button", OTHER_MAC)
    never = entity_id_of(hass, "sensor", "temperature", THIRD_MAC)
    assert peer_of(entry, OTHER_MAC).stale_after == 30
    assert peer_of(entry, THIRD_MAC).stale_after is None
    await tick(hass, freezer, 15)
    assert hass.states.get(button).state != STATE_UNAVAILABLE
    await tick(hass, freezer, 16)
    assert hass.states.get(button).state == STATE_UNAVAILABLE
    await tick(hass, freezer, 24 * 3600)
    assert hass.states.get(never).state == "1"


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_button_peer_never_stale(
    hass: HomeAssistant,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Buttons are silent for days: peers with button events never go stale."""
    entry = init_integration
    for seq in range(3):
        await send_frame(
            hass, gateway, entry, OTHER_MAC, doc(seq=seq, button="press", battery=90)
        )
        gateway_clock.advance(10)
    assert peer_of(entry, OTHER_MAC).learnt_interval == pytest.approx(10)
    assert peer_of(entry, OTHER_MAC).stale_after is None
    await tick(hass, freezer, 7 * 24 * 3600)
    assert (
        hass.states.get(entity_id_of(hass, "sensor", "battery", OTHER_MAC)).state
        == "90"
    )


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_packets_per_second(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The rate is computed on every tick."""
    entry = init_integration
    sim.emit_traffic(40)
    await frames_handled(hass, gateway, entry)
    await tick(hass, freezer, 10)
    state = hass.states.get(entity_id_of(hass, "sensor", "packets_per_second"))
    assert state.state == "4.0"


# ---- the link -------------------------------------------------------------------------


async def test_link_lost_and_restored(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unplugged: everything unavailable, one warning; back: available, one info."""
    caplog.set_level(logging.INFO, logger="custom_components.espnow_gateway")
    entry = config_entry
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    runtime = runtime_of(entry)
    sim.emit_from(sim.peers[1], press=False)
    await frames_handled(hass, gateway, entry)
    temperature = entity_id_of(hass, "sensor", "temperature", sim.peers[1].mac)
    connection = entity_id_of(hass, "binary_sensor", "connection")
    channel = entity_id_of(hass, "select", "radio_channel")
    assert hass.states.get(connection).state == "on"
    # Connecting at set-up is no "restored" connection.
    assert "restored" not in caplog.text

    gateway.unplug()
    await wait_until(hass, lambda: not runtime.connected)
    assert hass.states.get(temperature).state == STATE_UNAVAILABLE
    assert hass.states.get(connection).state == "off"
    assert hass.states.get(channel).state == STATE_UNAVAILABLE
    # Failed reconnect attempts log nothing more.
    runtime.reconnect_now()
    await wait_until(hass, lambda: runtime.connection.stats.connect_failures >= 1)
    runtime.reconnect_now()  # while disconnected: retries at once

    gateway.plug()
    runtime.reconnect_now()
    await wait_until(hass, lambda: runtime.connected)
    assert hass.states.get(temperature).state != STATE_UNAVAILABLE
    assert hass.states.get(connection).state == "on"
    assert hass.states.get(channel).state == "1"
    assert caplog.text.count("Lost the connection to the ESP-NOW gateway") == 1
    assert caplog.text.count("Connection to the ESP-NOW gateway on") == 1
    assert "restored" in caplog.text
    runtime.reconnect_now()  # connected: nothing to do
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_port_held_by_another_program(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Said once at warning level, on the Connection entity, and in a repair if it lasts."""
    entry = init_integration
    runtime = runtime_of(entry)
    # Attempts only when the test asks (retry()): none of the link's own retries or
    # presence polls may take the port before the other program does.
    runtime.connection.config = dataclasses.replace(
        runtime.connection.config,
        presence_poll=0,
        reconnect_min=3600.0,
        reconnect_max=3600.0,
    )
    connection = entity_id_of(hass, "binary_sensor", "connection")
    assert hass.states.get(connection).attributes["connect_error"] is None
    issue_id = f"port_busy_{entry.entry_id}"
    # The gateway restarts; another program opens the port before the integration.
    gateway.unplug()
    stats = runtime.connection.stats
    await wait_until(hass, lambda: stats.connect_failures == 1)
    gateway.plug()
    other = GatewayConnection(gateway.url, on_packet=lambda _packet: None)
    await other.connect()
    try:
        # Time stands still until it is moved: every attempt so far (the link's
        # own retries too) finds the port busy at the same instant.
        await retry(hass, runtime)
        for seconds in (30, 29):  # busy for 59 s: no repair yet
            freezer.tick(timedelta(seconds=seconds))
            await retry(hass, runtime)
            state = hass.states.get(connection)
            assert state.state == "off"
            assert state.attributes["connect_error"] == "port_busy"
            assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
        freezer.tick(timedelta(seconds=2))  # 61 s
        await retry(hass, runtime)
        assert caplog.text.count("is held by another program") == 1
        issue = issue_registry.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_placeholders == {
            "title": entry.title,
            "port": gateway.url,
        }
    finally:
        await other.close()
    await reconnect(hass, runtime)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get(connection).attributes["connect_error"] is None
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_vanished_port_raises_repair_issue(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A port missing for a minute raises a fixable issue; it goes when the port is back."""
    entry = init_integration
    runtime = runtime_of(entry)
    issue_id = f"port_missing_{entry.entry_id}"
    gateway.unplug()
    stats = runtime.connection.stats
    await wait_until(hass, lambda: stats.connect_failures == 1)
    freezer.tick(timedelta(seconds=35))
    await retry(hass, runtime)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    freezer.tick(timedelta(seconds=35))
    await retry(hass, runtime)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {
        "port": gateway.url,
        "title": entry.title,
    }
    gateway.plug()
    await reconnect(hass, runtime)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_replug_after_a_long_outage_is_up_within_half_a_second(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A gateway plugged in again is up after 0.5 s, whatever the backoff has reached.

    After a long outage the backoff is at its 30 s cap. The link notices the device
    path again within a quarter of a second (its presence poll), and a HELLO damaged
    on the wire costs one resend of GET_INFO, not the 5 s hello timeout: a replug
    stays well within the 2 s that ``scripts/soak`` allows.
    """
    runtime = runtime_of(init_integration)
    stats = runtime.connection.stats
    runtime.connection.config = dataclasses.replace(
        runtime.connection.config, reconnect_min=30.0, reconnect_max=30.0
    )

    async def advance(seconds: float) -> None:
        freezer.tick(timedelta(seconds=seconds))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()

    gateway.unplug()
    await wait_until(hass, lambda: stats.connect_failures == 1)
    assert runtime.connection.backoff_delay(1) >= 15
    # The backoff's wait begins with a look for the device: it is not there yet.
    await wait_until(hass, lambda: stats.presence_checks == 1)

    asked = sim.stats.commands.get("GetInfo", 0)
    sim.config.corrupt_rate = 1.0  # every frame damaged: the first HELLO is lost
    gateway.plug()
    await advance(0.25)
    await wait_until(hass, lambda: sim.stats.commands.get("GetInfo", 0) > asked)
    await wait_until(hass, lambda: sim.stats.corrupted_frames >= 2)  # boot HELLO too
    assert not runtime.connected
    sim.config.corrupt_rate = 0.0
    await advance(0.25)
    await wait_until(hass, lambda: runtime.connected)
    assert stats.presence_wakeups == 1
    assert stats.gateway_restarts == 0
    assert sim.stats.commands["GetInfo"] == asked + 2


async def test_gateway_update_to_unsupported_protocol(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A gateway that restarts speaking protocol 2 is dropped and raises an issue."""
    entry = init_integration
    runtime = runtime_of(entry)
    sim.config.protocol_major, sim.config.protocol_minor = 2, 0
    sim.boot()
    await wait_until(hass, lambda: not runtime.connected)
    runtime.reconnect_now()
    issue_id = f"unsupported_version_{entry.entry_id}"
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    )
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue.translation_placeholders == {
        "title": entry.title,
        "port": gateway.url,
        "version": "2.0",
        "supported": "1.x",
    }
    sim.config.protocol_major = 1
    await reconnect(hass, runtime, timeout=3)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_gateway_figures_follow_stats(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """STATS and a gateway restart's hello update the gateway's entities."""
    entry = init_integration
    runtime = runtime_of(entry)
    dropped = entity_id_of(hass, "sensor", "gateway_dropped")
    assert hass.states.get(dropped).state == "unknown"
    sim.stats.rx_dropped = 7
    sim.send(sim.gateway_stats())
    await gateway.drain()
    await wait_until(hass, lambda: runtime.connection.gateway_stats is not None)
    assert hass.states.get(dropped).state == "7"
    sim.config.channel = 6  # it restarts on another channel
    sim.boot()
    await gateway.drain()
    await wait_until(hass, lambda: runtime.connection.stats.gateway_restarts == 1)
    assert hass.states.get(entity_id_of(hass, "select", "radio_channel")).state == "6"


# ---- ignored peers and persistence ---------------------------------------------------


async def test_removed_peer_is_ignored(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """Every packet of an ignored peer is counted and never processed."""
    entry = init_integration
    runtime = runtime_of(entry)
    peer = sim.peers[1]
    sim.emit_from(peer, press=False)
    sim.emit_from(sim.peers[2], press=False)
    await frames_handled(hass, gateway, entry)
    runtime.table.remove(mac_to_str(peer.mac))
    runtime.table.remove(mac_to_str(sim.peers[2].mac))  # a pending one
    assert not runtime.table.pending
    assert runtime.table.ignored == {mac_to_str(peer.mac), mac_to_str(sim.peers[2].mac)}
    # The question about the pending one is withdrawn.
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    events = async_capture_events(hass, EVENT_BUTTON)
    for _ in range(5):
        sim.emit_from(peer, press=True)
    await frames_handled(hass, gateway, entry)
    assert runtime.counters.ignored_packets == 5
    assert peer.mac not in runtime.table.peers
    assert not runtime.table.pending
    assert not events

    runtime.table.unignore(mac_to_str(peer.mac))
    sim.emit_from(peer, press=False)
    await frames_handled(hass, gateway, entry)
    assert peer.mac in runtime.table.peers
    assert runtime.counters.ignored_packets == 5


async def test_peer_table_survives_restart(
    hass: HomeAssistant,
    *,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """The peer table is stored; after a restart the entities exist before any frame."""
    entry = init_integration
    runtime = runtime_of(entry)
    bthome, json_peer, raw = sim.peers
    warm_up(sim, bthome.mac)
    for _ in range(2):
        sim.emit_from(bthome, press=True)
        sim.emit_from(json_peer, press=False)
        gateway_clock.advance(30)
    await frames_handled(hass, gateway, entry)
    runtime.table.remove(mac_to_str(raw.mac))
    entity_ids = set(hass.states.async_entity_ids())

    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    assert stored["ignored"] == [mac_to_str(raw.mac)]
    assert stored["peers"][mac_to_str(bthome.mac)] == {
        "kind": "bthome",
        "firmware": None,  # the simulated sender does not tell it
        "name": None,  # nor a name of its own (ESPHome nodes do)
        "decoder": {},  # nor has its decoder a state to keep (rolling codes)
        "measurements": [
            {
                "key": key,
                "device_class": key,
                "unit": unit,
                "state_class": "measurement",
                "binary": False,
                "precision": None,
            }
            for key, unit in (
                ("battery", "%"),
                ("temperature", "°C"),
                ("humidity", "%"),
            )
        ],
        "events": ["button"],
        "interval": pytest.approx(30),
    }

    runtime = runtime_of(entry)
    assert runtime is not None
    assert set(runtime.table.peers) == {bthome.mac, json_peer.mac}
    assert runtime.table.ignored == {mac_to_str(raw.mac)}
    assert runtime.table.peers[json_peer.mac].learnt_interval == pytest.approx(30)
    assert runtime.connection.stats.packets == 0
    assert set(hass.states.async_entity_ids()) == entity_ids
    temperature = hass.states.get(
        entity_id_of(hass, "sensor", "temperature", json_peer.mac)
    )
    assert temperature.state == str(round(json_peer.temperature, 2))


async def test_stored_table_with_unknown_kind(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """A stored peer of unknown kind and without interval is restored as far as possible."""
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}",
        "data": {
            "peers": {
                "0A:00:00:00:00:01": {
                    "kind": "zigbee",
                    "measurements": [],
                    "events": [],
                },
                "0A:00:00:00:00:02": {},
                "0A:00:00:00:00:03": {"kind": "json", "interval": None},
            },
            "ignored": ["0A:00:00:00:00:03"],
        },
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    runtime = runtime_of(config_entry)
    assert set(runtime.table.peers) == {OTHER_MAC, THIRD_MAC}
    assert runtime.table.peers[OTHER_MAC].kind is None
    assert runtime.table.peers[OTHER_MAC].learnt_interval is None
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_restored_peer_that_never_reports_goes_stale(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A stored peer silent since the restart becomes unavailable like any other."""
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}",
        "data": {
            "peers": {
                "0A:00:00:00:00:01": {
                    "kind": "json",
                    "measurements": [
                        {
                            "key": "temperature",
                            "device_class": "temperature",
                            "unit": "°C",
                            "state_class": "measurement",
                            "binary": False,
                            "precision": None,
                        }
                    ],
                    "events": [],
                    "interval": 20,
                }
            },
            "ignored": [],
        },
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    temperature = entity_id_of(hass, "sensor", "temperature", OTHER_MAC)
    assert hass.states.get(temperature).state == "unknown"
    await tick(hass, freezer, 40)
    assert hass.states.get(temperature).state == "unknown"
    await tick(hass, freezer, 21)
    assert hass.states.get(temperature).state == STATE_UNAVAILABLE
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_outage_does_not_make_peers_stale(
    hass: HomeAssistant,
    *,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Silence while the link is down is not the peers' fault."""
    entry = init_integration
    runtime = runtime_of(entry)
    caplog.set_level(logging.INFO, logger="custom_components.espnow_gateway")
    for value in range(3):
        await send_frame(hass, gateway, entry, OTHER_MAC, doc(temperature=value))
        gateway_clock.advance(20)
    temperature = entity_id_of(hass, "sensor", "temperature", OTHER_MAC)
    gateway.unplug()
    await wait_until(hass, lambda: not runtime.connected)
    await tick(hass, freezer, 600)
    assert "is silent" not in caplog.text
    gateway.plug()
    await reconnect(hass, runtime)
    await tick(hass, freezer, 1)
    assert hass.states.get(temperature).state == "2"
    await tick(hass, freezer, 60)
    assert hass.states.get(temperature).state == STATE_UNAVAILABLE


async def test_runtime_corner_cases(
    hass: HomeAssistant,
    gateway: PtyGateway,
    sim: SimulatedGateway,
    init_integration: MockConfigEntry,
) -> None:
    """Log lines write nothing; confirming a known peer; a peer without a device."""
    entry = init_integration
    runtime = runtime_of(entry)
    notified: list[None] = []
    unsubscribe = runtime.async_add_listener(lambda: notified.append(None))
    sim.log(LogLevel.INFO, "hello from the gateway")
    await gateway.drain()
    await wait_until(hass, lambda: runtime.connection.stats.gateway_logs == 1)
    assert notified == []
    sim.send(sim.gateway_stats())
    await gateway.drain()
    await wait_until(hass, lambda: len(notified) == 1)
    unsubscribe()

    sim.emit_from(sim.peers[1], press=False)
    await frames_handled(hass, gateway, entry)
    peer = runtime.table.peers[sim.peers[1].mac]
    assert runtime.table.approve(mac_to_str(peer.mac))
    assert runtime.table.peers[peer.mac] is peer

    # The rate needs time to pass.
    rate = runtime.packets_per_second
    runtime._async_tick(runtime._rate_mark[0])
    assert runtime.packets_per_second == rate

    # Not (yet) in the device registry: no device to update, no bus event.
    events = async_capture_events(hass, EVENT_BUTTON)
    loose = Peer(OTHER_MAC, "loose", runtime.table.hooks)
    runtime.table.devices.update(loose)
    runtime._peer_event(loose, ButtonEvent("button", "press"))
    assert not events


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
@pytest.mark.parametrize("entry_options", [{}])  # the defaults: slow values at 30 s
async def test_slowly_changing_values_are_written_less_often(
    hass: HomeAssistant,
    *,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Temperature at most every 30 s, power every 5 s; the last value always lands."""
    entry = init_integration
    await send_frame(hass, gateway, entry, OTHER_MAC, doc(temperature=20, power=0))
    temperature = entity_id_of(hass, "sensor", "temperature", OTHER_MAC)
    power = entity_id_of(hass, "sensor", "power", OTHER_MAC)
    temperature_writes = state_writes(hass, temperature)
    power_writes = state_writes(hass, power)
    for second in range(1, 40):
        gateway_clock.advance(1)
        await tick(hass, freezer, 1)
        await send_frame(
            hass, gateway, entry, OTHER_MAC, doc(temperature=20 + second, power=second)
        )
    # 40 s of one frame a second: power every 5 s, temperature once (at 30 s).
    assert len(power_writes) >= 7
    assert len(temperature_writes) == 1
    # The peer falls silent: its latest temperature is still written when due.
    await tick(hass, freezer, 31)
    assert hass.states.get(temperature).state == "59"
    assert hass.states.get(power).state == "39"
