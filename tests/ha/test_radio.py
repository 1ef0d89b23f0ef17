"""The gateway's radio state the host owns: keys, registered peers, after restarts.

docs/protocol.md 5.9, against the simulated gateway on a real pty (its peer table is
bounded like ESP-NOW's and lost when it restarts).
"""

from __future__ import annotations

import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.radio import SET_UP_ATTEMPTS
from devtools.simulator import CAPABILITIES_1_0, PtyGateway, SimulatorConfig
from espnowgw.mac import BROADCAST, mac_to_str
from espnowgw.messages import (
    AddPeer,
    Capability,
    GetPeers,
    PeerEntry,
    RemovePeer,
    SetPmk,
)

from .conftest import send_frame, wait_until
from .send_helpers import advance, heard, node, received, send, start_send

FROZEN = "2026-06-01 12:00:00+00:00"
PMK = "pmk1234567890123"  # 16 characters, as ESP-IDF's examples write it
LMK = "00112233445566778899aabbccddeeff"
NODE = bytes.fromhex("0a0000000010")  # a JSON node configured with an LMK
NODE2 = bytes.fromhex("0a0000000011")
STALE = bytes.fromhex("0a0000000020")  # registered by an earlier run, deleted since
ENCRYPTED = {"pmk": PMK, "peers": {mac_to_str(NODE): {"lmk": LMK}}}
pytestmark = [
    pytest.mark.freeze_time(FROZEN),
    pytest.mark.usefixtures("frozen_time_link"),
]


def runtime(entry: MockConfigEntry) -> EspNowGateway:
    """The entry's gateway runtime."""
    gateway: EspNowGateway = entry.runtime_data
    return gateway


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> EspNowGateway:
    """Set the entry up and wait until the radio set-up has run."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    return await radio_ready(hass, entry)


async def radio_ready(hass: HomeAssistant, entry: MockConfigEntry) -> EspNowGateway:
    """Wait until the entry's radio set-up has run."""
    gw = runtime(entry)
    await wait_until(
        hass, lambda: gw.radio._set_up is not None and gw.radio._set_up.done()
    )
    return gw


async def add_node(
    hass: HomeAssistant, pty: PtyGateway, entry: MockConfigEntry
) -> None:
    """Let NODE be heard, so that it becomes a known peer."""
    pty.gateway.in_range.add(NODE)
    await send_frame(hass, pty, entry, NODE, b'{"temperature":20}')


@pytest.mark.parametrize("entry_options", [ENCRYPTED])
async def test_encrypted_peer_and_key_set_up_after_every_start(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    unload_entries: None,
) -> None:
    """The PMK first, then every peer with an LMK, encrypted; again after a restart."""
    sim = gateway.gateway
    gw = await set_up(hass, config_entry)
    await add_node(hass, gateway, config_entry)
    assert sim.pmk == PMK.encode()
    # Known only now: a reload registers it (as the options flow's reload does).
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    gw = await radio_ready(hass, config_entry)
    assert sim.registered[NODE] == PeerEntry(NODE, 0, PeerEntry.FLAG_ENCRYPT)
    adds = [m for m in received(sim, AddPeer) if m.mac == NODE]
    assert adds[-1].lmk == bytes.fromhex(LMK)
    order = [type(m) for m in sim.received if type(m) in (SetPmk, AddPeer)]
    assert order[-2:] == [SetPmk, AddPeer]  # the key before the encrypted peer
    assert gw.radio.registered == {NODE: True}
    sim.boot()  # a restart: the gateway forgets the key and the table
    assert NODE not in sim.registered
    await wait_until(hass, lambda: NODE in sim.registered and sim.pmk is not None)
    response = await send(hass, mac=mac_to_str(NODE), payload="x")
    assert response["results"][0]["outcome"] == "delivered"
    assert gw.radio.counters.set_ups == 2
    diagnostics = gw.diagnostics()["radio"]
    assert diagnostics["pmk_configured"] is True
    assert diagnostics["registered"] == [{"mac": mac_to_str(NODE), "encrypted": True}]


async def test_what_is_no_longer_wanted_is_unregistered(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    unload_entries: None,
) -> None:
    """A 1.1 gateway lists its table: leftovers go, known plain peers stay."""
    sim = gateway.gateway
    await set_up(hass, config_entry)
    await heard(hass, gateway, config_entry)
    known = node(sim).mac
    # Home Assistant restarts; the gateway (native USB) kept running meanwhile.
    sim.registered[STALE] = PeerEntry(STALE, 0, 0)
    sim.registered[known] = PeerEntry(known, 0, 0)
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    gw = await radio_ready(hass, config_entry)
    assert [m.mac for m in received(sim, RemovePeer)] == [STALE]
    assert set(sim.registered) == {BROADCAST, known}
    # The listed table is taken as it is: no registration before the first send.
    await send(hass, mac=mac_to_str(known), payload="x")
    assert not received(sim, AddPeer)
    assert gw.radio.capacity == (20, 7)


async def test_deleting_a_device_unregisters_its_peer(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A deleted peer device is let go of in the gateway's table too."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    await send(hass, device_id=device_id, payload="x")
    assert node(sim).mac in sim.registered
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "config/device_registry/remove", "device_id": device_id}
    )
    assert (await client.receive_json())["success"]
    await wait_until(hass, lambda: node(sim).mac not in sim.registered)
    assert dr.async_get(hass).async_get(device_id) is None
    assert [m.mac for m in received(sim, RemovePeer)] == [node(sim).mac]


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(peers=3, kinds=("json",), max_peers=3, seed=5)]
)
async def test_a_full_table_lets_the_least_recent_plain_peer_go(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """3 entries (broadcast and 2 peers): the peer sent to least recently makes room."""
    sim = gateway.gateway
    await radio_ready(hass, init_integration)
    first, second, third = (mac_to_str(peer.mac) for peer in sim.peers)
    for mac in (first, second, first):  # second is now the least recent
        assert (await send(hass, mac=mac, payload="x"))["delivered"] == 1
    assert (await send(hass, mac=third, payload="x"))["delivered"] == 1
    assert [mac_to_str(m.mac) for m in received(sim, RemovePeer)] == [second]
    assert {mac_to_str(mac) for mac in sim.registered} == {
        mac_to_str(BROADCAST),
        first,
        third,
    }
    assert runtime(init_integration).radio.counters.evictions == 1


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(peers=1, kinds=("json",), max_encrypted=1, seed=5)]
)
@pytest.mark.parametrize(
    "entry_options",
    [{"peers": {mac_to_str(NODE): {"lmk": LMK}, mac_to_str(NODE2): {"lmk": LMK}}}],
)
async def test_the_encrypted_limit_lets_nothing_go(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    unload_entries: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One encrypted peer at most: the second is refused, plain peers stay."""
    sim = gateway.gateway
    await set_up(hass, config_entry)
    sim.in_range.update({NODE, NODE2})
    for mac in (NODE, NODE2):
        await send_frame(hass, gateway, config_entry, mac, b'{"temperature":20}')
    plain = await heard(hass, gateway, config_entry)
    assert (await send(hass, device_id=plain, payload="x"))["delivered"] == 1
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    gw = await radio_ready(hass, config_entry)
    assert gw.radio.counters.table_full == 1
    assert "(1 encrypted peers)" in caplog.text
    assert NODE in sim.registered
    assert NODE2 not in sim.registered
    response = await send(hass, mac=mac_to_str(NODE2), payload="x", retries=0)
    assert response["results"][0]["outcome"] == "peer_table_full"
    assert not received(sim, RemovePeer)


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(peers=1, kinds=("json",), max_peers=2, seed=5)]
)
async def test_a_full_table_with_nothing_to_let_go_is_an_error(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Entries the host did not register are not its to remove: peer_table_full."""
    sim = gateway.gateway
    gw = await radio_ready(hass, init_integration)
    sim.registered[STALE] = PeerEntry(STALE, 0, 0)  # room for nothing more
    response = await send(hass, mac=mac_to_str(sim.peers[0].mac), payload="x")
    assert response["results"][0]["outcome"] == "peer_table_full"
    assert gw.radio.counters.table_full == 1
    assert "(2 peers)" in gw.radio._full_message(None)


@pytest.mark.parametrize(
    "sim_config",
    [
        SimulatorConfig(
            peers=1,
            kinds=("json",),
            protocol_minor=0,
            capabilities=int(CAPABILITIES_1_0),
            max_peers=2,
            seed=5,
        )
    ],
)
@pytest.mark.parametrize("entry_options", [ENCRYPTED])
async def test_protocol_1_0_gateway(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    unload_entries: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 1.0 gateway gets no 1.1 command; a configured PMK is reported unused."""
    caplog.set_level(logging.WARNING)
    sim = gateway.gateway
    gw = await set_up(hass, config_entry)
    assert not received(sim, GetPeers)
    assert not received(sim, SetPmk)
    assert "cannot take a primary master key" in caplog.text
    peer = sim.peers[0].mac
    assert (await send(hass, mac=mac_to_str(peer), payload="x"))["delivered"] == 1
    assert gw.radio.capacity is None
    sim.registered[STALE] = PeerEntry(STALE, 0, 0)
    gw.radio.forget(peer)
    del sim.registered[peer]
    response = await send(hass, mac=mac_to_str(peer), payload="x", retries=0)
    assert response["results"][0]["outcome"] == "peer_table_full"
    assert "the gateway's peer table is full" in gw.radio._full_message(None)


@pytest.mark.parametrize(
    "sim_config",
    [
        SimulatorConfig(
            peers=1,
            kinds=("json",),
            capabilities=int(
                (CAPABILITIES_1_0 & ~Capability.ENCRYPTION) | Capability.PEER_LIST
            ),
            seed=5,
        )
    ],
)
@pytest.mark.parametrize("entry_options", [{"peers": {mac_to_str(NODE): {"lmk": LMK}}}])
async def test_never_sent_unencrypted_instead(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A gateway without encryption: a peer configured with an LMK gets nothing."""
    await add_node(hass, gateway, init_integration)
    response = await send(hass, mac=mac_to_str(NODE), payload="secret", retries=0)
    result = response["results"][0]
    assert (result["outcome"], result["status"]) == ("failed", "not_supported")
    assert not [
        m for m in gateway.gateway.received if getattr(m, "payload", None) == b"secret"
    ]


async def test_a_send_waits_for_the_set_up(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Set-up and registration share one lock; a failed step is logged and counted."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    gw = await radio_ready(hass, init_integration)
    sim.mute = True  # the set-up's GET_PEERS goes unanswered, each of three times
    gw.radio.link_up()
    task = start_send(hass, device_id=device_id, payload="x", timeout=20)
    for _ in range(SET_UP_ATTEMPTS - 1):
        await advance(hass, freezer, 5)  # the link gives up on an answer after 5 s
        assert not task.done()
    assert not received(sim, AddPeer)  # the send waits for the set-up
    sim.mute = False
    await advance(hass, freezer, 5)
    assert (await task)["delivered"] == 1
    assert gw.radio.counters.set_up_retries == SET_UP_ATTEMPTS - 1
    assert gw.radio.counters.set_up_errors == 1
    assert "Setting up the peer table of the ESP-NOW gateway" in caplog.text


@pytest.mark.parametrize("entry_options", [ENCRYPTED])
async def test_a_lost_answer_is_asked_again(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    unload_entries: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A set-up command whose answer is lost on the line is sent again: no warning."""
    sim = gateway.gateway
    sim.command_script.append(None)  # SET_PMK's first answer is lost
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await wait_until(hass, lambda: not sim.command_script)
    assert sim.pmk is None
    await advance(hass, freezer, 5)
    gw = await radio_ready(hass, config_entry)
    assert sim.pmk == PMK.encode()
    assert len(received(sim, SetPmk)) == 2
    assert (gw.radio.counters.set_up_retries, gw.radio.counters.set_up_errors) == (1, 0)
    assert "Setting up the" not in caplog.text
