"""The same send tests against the simulator and the reference firmware's host gateway.

The host gateway (firmware/host: the C core under ASan and UBSan, protocol 1.1) runs
as a process on its own pty; what it transmits comes back over UDP (``--air``), and a
node is "in range" (acknowledges) once the gateway has heard it, as on a real radio.
The simulator plays the same part in Python (``SimulatedGateway.air``, ``in_range``).
A hung gateway is a stopped process (SIGSTOP) or a muted simulator; unplugging kills
the process or closes the pty. What only the simulator can do (lose, delay or refuse
sends on demand) is in test_send.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
import os
from pathlib import Path
import signal
import socket

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import automation
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.espnow_gateway.const import CONF_BAUDRATE, DOMAIN, SEND_BURST
from custom_components.espnow_gateway.coordinator import EspNowGateway
from devtools.host_gateway import HostGateway, record
from devtools.simulator import PtyGateway, SimulatorConfig
from espnowgw.mac import BROADCAST, mac_from_str, mac_to_str

from .conftest import wait_until
from .send_helpers import advance, send, start_send

FROZEN = "2026-06-01 12:00:00+00:00"
NODE = bytes.fromhex("0a0000000201")  # a JSON node: it sends, so it is a device
LISTENER = "02:00:00:00:00:42"  # a node that was never heard
_AIR = 18  # bytes of a radio record before its payload (firmware/host/hal_host.h)
pytestmark = [
    pytest.mark.freeze_time(FROZEN),
    pytest.mark.usefixtures("frozen_time_link"),
]


@dataclass
class Gateway:
    """A gateway under test, whichever it is."""

    url: str
    mac: bytes
    hear: Callable[[bytes, bytes], None]  # the radio receives a frame from a node
    on_air: Callable[[], list[tuple[bytes, bytes]]]  # (dst, payload) transmitted
    hang: Callable[[], None]  # stops answering anything
    resume: Callable[[], None]
    unplug: Callable[[], None]


async def _simulator(tmp_path: Path) -> AsyncIterator[Gateway]:
    pty = PtyGateway(SimulatorConfig(peers=0), tmp_path / "usb-sim-if00")
    pty.plug()
    sim = pty.gateway

    def hear(src: bytes, payload: bytes) -> None:
        sim.in_range.add(src)  # heard, so in range: it acknowledges
        assert sim.packet(src, payload)

    def mute(value: bool) -> Callable[[], None]:
        def apply() -> None:
            sim.mute = value

        return apply

    yield Gateway(
        pty.url, sim.config.mac, hear, lambda: list(sim.air), mute(True), mute(False),
        pty.unplug,
    )  # fmt: skip
    pty.close()


def _firmware(binary: Path, tmp_path: Path) -> Iterator[Gateway]:
    air = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    air.bind(("127.0.0.1", 0))
    air.setblocking(False)
    process = HostGateway.start(
        binary,
        "--stats-interval",
        "0",
        "--air",
        f"127.0.0.1:{air.getsockname()[1]}",
        link=tmp_path / "usb-host-if00",
    )
    transmitted: list[tuple[bytes, bytes]] = []
    killed = False

    def on_air() -> list[tuple[bytes, bytes]]:
        while True:
            try:
                datagram = air.recv(4096)
            except BlockingIOError:
                return list(transmitted)
            transmitted.append((datagram[6:12], datagram[_AIR:]))

    def signal_it(number: int) -> Callable[[], None]:
        return lambda: os.kill(process.process.pid, number)

    def unplug() -> None:
        nonlocal killed
        killed = True
        process.process.kill()  # the pty goes with the process
        process.process.wait()

    yield Gateway(
        process.link,
        process.mac,
        lambda src, payload: process.radio(record(src, payload)),
        on_air,
        signal_it(signal.SIGSTOP),
        signal_it(signal.SIGCONT),
        unplug,
    )
    air.close()
    if killed:
        return
    os.kill(process.process.pid, signal.SIGCONT)
    process.stop()  # raises if a sanitizer found something


@pytest.fixture(params=["simulator", "firmware"])
async def any_gateway(
    request: pytest.FixtureRequest, tmp_path: Path, socket_enabled: None
) -> AsyncIterator[Gateway]:
    """The simulator, then the host gateway of the reference firmware."""
    if request.param == "simulator":
        async for gateway in _simulator(tmp_path):
            yield gateway
    else:
        binary = request.getfixturevalue("host_gateway_binary")
        for gateway in _firmware(binary, tmp_path):
            yield gateway


@pytest.fixture
async def entry(
    hass: HomeAssistant, any_gateway: Gateway
) -> AsyncIterator[MockConfigEntry]:
    """The gateway's entry, set up, its radio set up; unloaded before it goes."""
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=mac_to_str(any_gateway.mac),
        data={CONF_PORT: any_gateway.url, CONF_BAUDRATE: 921600},
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    radio = runtime(config_entry).radio
    await wait_until(hass, lambda: radio._set_up is not None and radio._set_up.done())
    yield config_entry
    if config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


def runtime(entry: MockConfigEntry) -> EspNowGateway:
    """The entry's gateway runtime."""
    gateway: EspNowGateway = entry.runtime_data
    return gateway


async def node_device(
    hass: HomeAssistant, gateway: Gateway, entry: MockConfigEntry
) -> str:
    """Let NODE be heard; return its device id."""
    gateway.hear(NODE, b'{"temperature":21.5}')
    table = runtime(entry).table
    await wait_until(hass, lambda: NODE in table.peers)
    device_id = table.peers[NODE].device_id
    assert device_id is not None
    return device_id


async def transmitted(
    hass: HomeAssistant, gateway: Gateway, count: int
) -> list[tuple[bytes, bytes]]:
    """Wait until ``count`` frames were transmitted; return them."""
    await wait_until(hass, lambda: len(gateway.on_air()) >= count)
    return gateway.on_air()


async def test_delivered_to_a_device(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """Registered with the radio, transmitted, acknowledged."""
    device_id = await node_device(hass, any_gateway, entry)
    response = await send(hass, device_id=device_id, payload="01 ff", encoding="hex")
    result = response["results"][0]
    assert (result["outcome"], result["attempts"], result["device_id"]) == (
        "delivered",
        1,
        device_id,
    )
    assert await transmitted(hass, any_gateway, 1) == [(NODE, b"\x01\xff")]
    assert runtime(entry).radio.registered == {NODE: False}


async def test_not_acknowledged(
    hass: HomeAssistant,
    any_gateway: Gateway,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A node never heard does not acknowledge: every attempt goes out, none lands."""
    counters = runtime(entry).sender.counters
    task = start_send(hass, mac=LISTENER, payload="on", retries=1)
    await wait_until(hass, lambda: counters.retries == 1)
    await advance(hass, freezer, 0.1)
    result = (await task)["results"][0]
    assert (result["outcome"], result["attempts"], result["status"]) == (
        "not_acknowledged",
        2,
        "no_ack",
    )
    assert (
        await transmitted(hass, any_gateway, 2) == [(mac_from_str(LISTENER), b"on")] * 2
    )


async def test_broadcast(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """Transmitted to everyone, acknowledged by no one, no registration needed."""
    response = await send(hass, broadcast=True, payload={"all": "off"})
    assert response["results"][0]["outcome"] == "sent"
    assert response["results"][0]["target"] == mac_to_str(BROADCAST)
    response = await send(hass, mac="ff:ff:ff:ff:ff:ff", payload="again")
    assert response["delivered"] == 1
    assert await transmitted(hass, any_gateway, 2) == [
        (BROADCAST, b'{"all":"off"}'),
        (BROADCAST, b"again"),
    ]
    assert not runtime(entry).radio.registered
    assert runtime(entry).sender.counters.broadcast == 2


async def test_payload_too_long(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """Longer than the gateway's hello allows: refused before anything is sent."""
    limit = runtime(entry).info.max_payload  # type: ignore[union-attr]
    with pytest.raises(ServiceValidationError) as err:
        await send(hass, broadcast=True, payload="x" * (limit + 1))
    assert err.value.translation_key == "payload_too_long"
    await send(hass, broadcast=True, payload="x" * limit)
    assert [len(p) for _, p in await transmitted(hass, any_gateway, 1)] == [limit]


async def test_rate_limit(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """A loop of sends to one device: the burst goes out, the rest is refused."""
    device_id = await node_device(hass, any_gateway, entry)
    outcomes = [
        (await send(hass, device_id=device_id, payload=str(i), wait=False))["results"][
            0
        ]["outcome"]
        for i in range(SEND_BURST + 5)
    ]
    assert outcomes.count("rate_limited") == 5
    sender = runtime(entry).sender
    await wait_until(hass, lambda: sender.queued == 0)
    assert sender.counters.acknowledged == SEND_BURST
    sent = await transmitted(hass, any_gateway, SEND_BURST)
    assert [p for _, p in sent] == [str(i).encode() for i in range(SEND_BURST)]


async def test_hung_gateway_times_out(
    hass: HomeAssistant,
    any_gateway: Gateway,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A gateway that stops answering: timed out after the timeout, nothing left."""
    any_gateway.hang()
    task = start_send(hass, broadcast=True, payload="x", timeout=2)
    await advance(hass, freezer, 2)
    result = (await task)["results"][0]
    assert (result["outcome"], result["attempts"]) == ("timed_out", 1)
    gw = runtime(entry)
    assert gw.sender.queued == 0
    assert not gw.connection._pending
    any_gateway.resume()


async def test_unplugged_mid_send(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """Unplugged while a send waits for its answer: it ends disconnected at once."""
    gw = runtime(entry)
    any_gateway.hang()
    written = gw.connection.stats.frames_sent
    task = start_send(hass, broadcast=True, payload="x", retries=5)
    await wait_until(hass, lambda: gw.connection.stats.frames_sent > written)
    any_gateway.unplug()
    assert (await task)["results"][0]["outcome"] == "disconnected"
    assert gw.sender.queued == 0
    assert not gw.connection._pending


async def test_unloaded_with_sends_waiting(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """Unloading while sends wait ends them all (cancelled); no task is left."""
    gw = runtime(entry)
    any_gateway.hang()
    tasks = [
        start_send(hass, mac=mac, payload="x")
        for mac in (mac_to_str(BROADCAST), LISTENER, LISTENER)
    ]
    await wait_until(hass, lambda: gw.sender.queued == 3)
    await hass.config_entries.async_unload(entry.entry_id)
    assert [(await t)["results"][0]["outcome"] for t in tasks] == ["cancelled"] * 3
    assert gw.sender.queued == 0
    assert not entry._background_tasks
    any_gateway.resume()


async def test_device_action_in_an_automation(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """An automation's device action: the rendered payload reaches the node."""
    device_id = await node_device(hass, any_gateway, entry)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "triggers": [{"trigger": "event", "event_type": "relay"}],
                "actions": [
                    {
                        "domain": DOMAIN,
                        "device_id": device_id,
                        "type": "send_payload",
                        "payload": "relay={{ trigger.event.data.state }}",
                    }
                ],
            }
        },
    )
    hass.bus.async_fire("relay", {"state": "on"})
    assert await transmitted(hass, any_gateway, 1) == [(NODE, b"relay=on")]


async def test_channel_change_answered(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """SET_CHANNEL, confirmed by the gateway's COMMAND_RESULT, shown by the select."""
    select = er.async_get(hass).async_get_entity_id(
        "select", DOMAIN, f"{any_gateway.mac.hex()}-radio_channel"
    )
    assert select is not None
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "11"}, blocking=True
    )
    assert hass.states.get(select).state == "11"
    assert runtime(entry).info.channel == 11  # type: ignore[union-attr]
    # The gateway's own word: the PACKETs it forwards now say channel 11.
    received: list[int] = []
    remove = runtime(entry).async_add_packet_listener(
        lambda packet, _kind: received.append(packet.channel)
    )
    any_gateway.hear(NODE, b'{"temperature":20}')
    await wait_until(hass, lambda: bool(received))
    remove()
    assert received == [11]


async def test_registered_peers_read_back_after_a_reload(
    hass: HomeAssistant, any_gateway: Gateway, entry: MockConfigEntry
) -> None:
    """Protocol 1.1: after a reload the gateway's own table says what is registered.

    The gateway kept running (as one on native USB does while Home Assistant
    restarts): GET_PEERS lists the node the last run registered, so the next send
    needs no ADD_PEER, and PEER_LIST gives the table's capacities.
    """
    device_id = await node_device(hass, any_gateway, entry)
    assert (await send(hass, device_id=device_id, payload="1"))["delivered"] == 1
    assert await hass.config_entries.async_reload(entry.entry_id)
    radio = runtime(entry).radio
    await wait_until(hass, lambda: radio._set_up is not None and radio._set_up.done())
    assert radio.registered == {NODE: False}
    assert radio.capacity == (20, 7)
    assert radio.counters.peers_added == 0
    assert (await send(hass, device_id=device_id, payload="2"))["delivered"] == 1
    assert radio.counters.peers_added == 0  # it was registered already
    assert [p for _, p in await transmitted(hass, any_gateway, 2)] == [b"1", b"2"]
