"""The espnow_gateway.send action against the simulated gateway on a real pty.

Time is frozen: retries, timeouts and the rate limit's refill happen only when a test
moves time (``advance``), so no outcome depends on how fast this machine is.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.espnow_gateway.const import (
    DOMAIN,
    MAX_QUEUED_SENDS,
    MAX_RATE_BUCKETS,
    SEND_BURST,
    SEND_RATE,
)
from custom_components.espnow_gateway.coordinator import EspNowGateway
from devtools.simulator import PtyGateway, SimulatorConfig
from espnowgw.mac import mac_from_str, mac_to_str
from espnowgw.messages import AddPeer, Capability

from .conftest import entity_id_of, send_frame, wait_until
from .flow_helpers import Ports
from .send_helpers import (
    advance,
    heard,
    node,
    received,
    send,
    sends,
    sends_settled,
    start_send,
)

FROZEN = "2026-06-01 12:00:00+00:00"
pytestmark = [
    pytest.mark.freeze_time(FROZEN),
    pytest.mark.usefixtures("frozen_time_link"),
]
LISTENER = "02:00:00:00:00:42"  # a node that only listens: no device here


def runtime(entry: MockConfigEntry) -> EspNowGateway:
    """The entry's gateway runtime."""
    gateway: EspNowGateway = entry.runtime_data
    return gateway


async def test_delivered_to_a_device(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A peer device is registered with the radio, then sent to; it acknowledges."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    response = await send(hass, device_id=device_id, payload="on")
    mac = mac_to_str(node(sim).mac)
    assert response == {
        "results": [
            {
                "target": mac,
                "device_id": device_id,
                "gateway": init_integration.entry_id,
                "outcome": "delivered",
                "attempts": 1,
                "status": None,
            }
        ],
        "delivered": 1,
        "failed": 0,
    }
    assert [(m.dst, m.payload) for m in sends(sim)] == [(node(sim).mac, b"on")]
    assert [m.mac for m in received(sim, AddPeer)] == [node(sim).mac]
    # The next send needs no registration: the host knows the gateway has it.
    await send(hass, device_id=device_id, payload="off")
    assert len(received(sim, AddPeer)) == 1
    counters = runtime(init_integration).sender.counters
    assert (counters.sent, counters.acknowledged, counters.failed) == (2, 2, 0)
    assert counters.attempts == 2


@pytest.mark.parametrize(
    ("payload", "encoding", "expected"),
    [
        ("on", None, b"on"),
        ("ünï", "text", "ünï".encode()),
        ("01 02:ff-7F", "hex", b"\x01\x02\xff\x7f"),
        (base64.b64encode(b"\x00\x01binary").decode(), "base64", b"\x00\x01binary"),
        ('{ "relay" : "on",  "for": 5 }', "json", b'{"relay":"on","for":5}'),
        ({"relay": "on", "for": 5}, None, b'{"relay":"on","for":5}'),
        ([1, 2, 3], "json", b"[1,2,3]"),
        (42, None, b"42"),
    ],
)
async def test_payload_encodings(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    payload: Any,
    encoding: str | None,
    expected: bytes,
) -> None:
    """Text, hex, Base64 and JSON (objects are encoded compactly)."""
    data: dict[str, Any] = {"mac": LISTENER, "payload": payload}
    if encoding is not None:
        data["encoding"] = encoding
    gateway.gateway.script_sends("ack")
    response = await send(hass, **data)
    assert response["results"][0]["outcome"] == "delivered"
    assert sends(gateway.gateway)[-1].payload == expected


async def test_retry_then_success(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Two lost acknowledgements, then one: delivered at the third attempt."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    sim.script_sends("no_ack", "no_ack", "ack")
    counters = runtime(init_integration).sender.counters
    task = start_send(hass, device_id=device_id, payload="on", retries=2)
    await wait_until(hass, lambda: counters.retries == 1)  # the answer is in
    await advance(hass, freezer, 0.1)  # the first retry waits 0.1 s
    await wait_until(hass, lambda: counters.retries == 2)
    assert len(sends(sim)) == 2
    assert not task.done()
    await advance(hass, freezer, 0.2)  # the second 0.2 s
    result = (await task)["results"][0]
    assert (result["outcome"], result["attempts"]) == ("delivered", 3)
    assert (counters.sent, counters.attempts, counters.retries) == (1, 3, 2)
    assert counters.acknowledged == 1


async def test_not_acknowledged_after_every_retry(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A node out of range: not acknowledged, after 1 + retries attempts."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    sim.in_range.clear()
    counters = runtime(init_integration).sender.counters
    task = start_send(hass, device_id=device_id, payload="on", retries=1)
    await wait_until(hass, lambda: counters.retries == 1)
    await advance(hass, freezer, 0.1)
    response = await task
    assert response["results"][0] | {"device_id": None} == {
        "target": mac_to_str(node(sim).mac),
        "device_id": None,
        "gateway": init_integration.entry_id,
        "outcome": "not_acknowledged",
        "attempts": 2,
        "status": "no_ack",
    }
    assert (response["delivered"], response["failed"]) == (0, 1)
    assert runtime(init_integration).sender.counters.failed == 1


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ("busy", "gateway_busy", "busy"),
        ("error", "failed", "error"),
    ],
)
async def test_refused_by_the_gateway(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    behaviour: Any,
    outcome: str,
    status: str,
) -> None:
    """A gateway that refuses: the outcome and its status, no retry asked for."""
    gateway.gateway.script_sends(behaviour)
    response = await send(hass, mac=LISTENER, payload="x", retries=0)
    result = response["results"][0]
    assert (result["outcome"], result["status"], result["attempts"]) == (
        outcome,
        status,
        1,
    )


async def test_invalid_argument_is_not_retried(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
) -> None:
    """A refusal no retry can change (INVALID_ARGUMENT) ends the send at once."""
    sim = gateway.gateway
    sim.config.max_payload = 4  # the gateway's limit shrank since its hello
    response = await send(hass, mac=LISTENER, payload="12345", retries=3)
    result = response["results"][0]
    assert (result["outcome"], result["status"], result["attempts"]) == (
        "failed",
        "invalid_argument",
        1,
    )


async def test_timed_out(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A gateway that never answers: timed out after the timeout, nothing left."""
    sim = gateway.gateway
    sim.script_sends("drop", "drop")
    task = start_send(hass, mac=LISTENER, payload="x", timeout=2, retries=5)
    await wait_until(hass, lambda: len(sends(sim)) == 1)
    await advance(hass, freezer, 2)
    result = (await task)["results"][0]
    assert (result["outcome"], result["attempts"]) == ("timed_out", 1)
    gw = runtime(init_integration)
    assert gw.sender.queued == 0
    assert not gw.connection._pending  # the link waits for nothing any more


async def test_no_answer_then_retry(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An unanswered SEND gives up after the link's 5 s; the retry is answered."""
    sim = gateway.gateway
    sim.script_sends("drop", "ack")
    task = start_send(hass, mac=LISTENER, payload="x", timeout=20, retries=1)
    await wait_until(hass, lambda: len(sends(sim)) == 1)
    await advance(hass, freezer, 5)
    await wait_until(hass, lambda: runtime(init_integration).sender.counters.retries)
    await advance(hass, freezer, 0.1)
    result = (await task)["results"][0]
    assert (result["outcome"], result["attempts"]) == ("delivered", 2)


async def test_rate_limit(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Above the burst a send is refused at once; the bucket refills with time."""
    caplog.set_level(logging.WARNING)
    gateway.gateway.in_range.add(mac_from_str(LISTENER))
    for _ in range(SEND_BURST):
        response = await send(hass, mac=LISTENER, payload="x", wait=False)
        assert response["results"][0]["outcome"] in {"queued", "delivered"}
    for _ in range(2):
        response = await send(hass, mac=LISTENER, payload="x", wait=False)
        assert response["results"][0]["outcome"] == "rate_limited"
        assert response["failed"] == 1
    assert caplog.text.count("exceed 10 at once") == 1  # logged once, not per send
    # Another destination has its own bucket.
    other = await send(hass, broadcast=True, payload="x")
    assert other["results"][0]["outcome"] == "sent"
    await advance(hass, freezer, 1 / SEND_RATE)  # one token back
    response = await send(hass, mac=LISTENER, payload="x")
    assert response["results"][0]["outcome"] == "delivered"
    response = await send(hass, mac=LISTENER, payload="x", wait=False)
    assert response["results"][0]["outcome"] == "rate_limited"
    counters = runtime(init_integration).sender.counters
    assert (counters.refused, counters.rate_limited) == (3, 3)
    await sends_settled(hass, runtime(init_integration).sender)
    # Every send was refused or sent; every sent one has ended.
    assert counters.sent == SEND_BURST + 2 == counters.acknowledged + counters.broadcast
    assert len(sends(gateway.gateway)) == SEND_BURST + 2


async def test_queue_is_bounded(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Sends the gateway has not answered yet fill the queue; then refused."""
    sim = gateway.gateway
    sender = runtime(init_integration).sender
    macs = [f"02:00:00:00:01:{index:02x}" for index in range(4)]
    sim.in_range.update(mac_from_str(mac) for mac in macs)
    sim.script_sends(*["hold"] * MAX_QUEUED_SENDS)
    outcomes = []
    for index in range(MAX_QUEUED_SENDS + 1):
        response = await send(hass, mac=macs[index % 4], payload="x", wait=False)
        outcomes.append(response["results"][0]["outcome"])
    assert outcomes == ["queued"] * MAX_QUEUED_SENDS + ["queue_full"]
    assert sender.counters.queue_peak == MAX_QUEUED_SENDS
    while sender.queued:  # one send per destination at a time: release in rounds
        await wait_until(hass, lambda: bool(sim.held) or not sender.queued)
        sim.release_held()
        await hass.async_block_till_done()
    assert sender.counters.acknowledged == MAX_QUEUED_SENDS


async def test_payload_too_long(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Longer than the hello's max_payload: a translated error, nothing sent."""
    limit = runtime(init_integration).info.max_payload  # type: ignore[union-attr]
    with pytest.raises(ServiceValidationError) as err:
        await send(hass, broadcast=True, payload="x" * (limit + 1))
    assert err.value.translation_key == "payload_too_long"
    assert err.value.translation_placeholders["max_payload"] == str(limit)
    await send(hass, broadcast=True, payload="x" * limit)
    assert [len(m.payload) for m in sends(gateway.gateway)] == [limit]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"device_id": "not-a-device", "payload": "x"}, "unknown_device"),
        ({"mac": "84:F7:03", "payload": "x"}, "invalid_mac"),
        ({"payload": "x"}, "no_target"),
        ({"broadcast": True, "payload": "0g", "encoding": "hex"}, "invalid_hex"),
        ({"broadcast": True, "payload": "abc", "encoding": "hex"}, "invalid_hex"),
        ({"broadcast": True, "payload": "@@@", "encoding": "base64"}, "invalid_base64"),
        ({"broadcast": True, "payload": "{", "encoding": "json"}, "invalid_json"),
        (
            {"broadcast": True, "payload": {"a": 1}, "encoding": "hex"},
            "payload_not_text",
        ),
        ({"broadcast": True, "payload": ""}, "empty_payload"),
        ({"broadcast": True, "payload": "x", "gateway": "nope"}, "gateway_not_found"),
    ],
)
async def test_validation_errors(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    data: dict[str, Any],
    key: str,
) -> None:
    """Every bad call is a translated ServiceValidationError; nothing is queued."""
    with pytest.raises(ServiceValidationError) as err:
        await send(hass, **data)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert not sends(gateway.gateway)
    assert runtime(init_integration).sender.counters.queue_peak == 0


async def test_the_gateway_itself_is_no_target(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """The gateway's own device is not a peer: unknown device."""
    with pytest.raises(ServiceValidationError) as err:
        await send(hass, device_id=runtime(init_integration).device_id, payload="x")
    assert err.value.translation_key == "unknown_device"


async def test_gateway_not_connected(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A disconnected gateway: a translated error; nothing waits for it."""
    device_id = await heard(hass, gateway, init_integration)
    gateway.unplug()
    gw = runtime(init_integration)
    await wait_until(hass, lambda: not gw.connected)
    for data in ({"device_id": device_id}, {"broadcast": True}):
        with pytest.raises(HomeAssistantError) as err:
            await send(hass, payload="x", **data)
        assert err.value.translation_key == "gateway_not_connected"
    assert gw.sender.queued == 0
    assert gw.sender.counters.queue_peak == 0


async def test_unplugged_mid_send(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Unplugged while sends wait: they end disconnected at once, none is kept."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    sim.script_sends("hold")
    first = start_send(hass, device_id=device_id, payload="1", retries=5)
    second = start_send(hass, device_id=device_id, payload="2")  # waits its turn
    third = start_send(hass, broadcast=True, payload="3")
    await wait_until(hass, lambda: len(sim.held) == 1)
    gateway.unplug()
    outcomes = [(await t)["results"][0]["outcome"] for t in (first, second, third)]
    assert outcomes[:2] == ["disconnected", "disconnected"]
    assert outcomes[2] in {"sent", "disconnected"}  # the broadcast may have gone
    gw = runtime(init_integration)
    assert gw.sender.queued == 0
    assert not gw.connection._pending


async def test_unloaded_with_sends_waiting(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Unloading ends every unfinished send (cancelled); no task is left behind."""
    sim = gateway.gateway
    sim.script_sends("hold", "hold")
    tasks = [
        start_send(hass, mac=LISTENER, payload=str(index), retries=5)
        for index in range(3)
    ]
    queued = await send(hass, broadcast=True, payload="b", wait=False)
    assert queued["results"][0]["outcome"] in {"queued", "sent"}
    await wait_until(hass, lambda: len(sim.held) >= 1)
    gw = runtime(init_integration)
    assert gw.sender.queued >= 3
    await hass.config_entries.async_unload(init_integration.entry_id)
    outcomes = [(await t)["results"][0]["outcome"] for t in tasks]
    assert outcomes == ["cancelled"] * 3
    assert gw.sender.queued == 0
    assert not init_integration._background_tasks
    assert not gw.connection._pending


async def test_send_without_the_capability(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A gateway whose firmware cannot send: a translated error, nothing sent."""
    gw = runtime(init_integration)
    assert gw.connection.info is not None
    gw.connection.info.capabilities &= ~Capability.SEND
    with pytest.raises(HomeAssistantError) as err:
        await send(hass, broadcast=True, payload="x")
    assert err.value.translation_key == "send_not_supported"


async def test_the_gateway_lost_its_peer(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """UNKNOWN_PEER (the gateway forgot it): registered again, then delivered."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    await send(hass, device_id=device_id, payload="1")
    del sim.registered[node(sim).mac]  # as after an unnoticed restart
    counters = runtime(init_integration).sender.counters
    task = start_send(hass, device_id=device_id, payload="2")
    await wait_until(hass, lambda: counters.retries == 1)
    await advance(hass, freezer, 0.1)
    result = (await task)["results"][0]
    assert (result["outcome"], result["attempts"]) == ("delivered", 2)
    assert len(received(sim, AddPeer)) == 2


async def test_without_waiting_and_without_response(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Fire and forget: the call returns at once; the counters and sensors tell."""
    sim = gateway.gateway
    sim.in_range.clear()
    assert (
        await hass.services.async_call(
            DOMAIN,
            "send",
            {"mac": [LISTENER, "02:00:00:00:00:43"], "payload": "x", "retries": 0},
            blocking=True,
        )
        is None
    )
    gw = runtime(init_integration)
    await sends_settled(hass, gw.sender)
    await advance(hass, freezer, 10)  # the gateway's figures are written every 10 s
    assert hass.states.get(entity_id_of(hass, "sensor", "sends_failed")).state == "2"
    assert hass.states.get(entity_id_of(hass, "sensor", "sends_refused")).state == "0"


async def test_targets_and_gateways(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    unload_entries: None,
    ports: Ports,
) -> None:
    """A peer is sent to by the gateway that owns it; unknown MACs need a gateway."""
    other_pty = ports.make("usb-other-if00", mac=b"\x24\x6f\x28\x00\x00\x02")
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id="24:6F:28:00:00:02",
        data={"port": other_pty.url, "baudrate": 921600},
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    peer = bytes.fromhex("0a00000000aa")
    other_pty.gateway.in_range.update({peer, mac_from_str(LISTENER)})
    await send_frame(hass, other_pty, other, peer, b'{"temperature":20}')
    other_device = runtime(other).table.peers[peer].device_id
    response = await send(hass, mac=mac_to_str(peer), payload="a")  # known to one
    assert response["results"][0]["gateway"] == other.entry_id
    assert response["results"][0]["device_id"] == other_device
    with pytest.raises(ServiceValidationError) as err:
        await send(hass, mac=LISTENER, payload="b")
    assert err.value.translation_key == "gateway_required"
    response = await send(hass, mac=LISTENER, gateway=other.entry_id, payload="c")
    assert response["results"][0]["gateway"] == other.entry_id
    assert response["results"][0]["outcome"] == "delivered"
    response = await send(
        hass, broadcast=True, device_id=[other_device, other_device], payload="d"
    )
    assert [(r["gateway"], r["outcome"]) for r in response["results"]] == [
        (other.entry_id, "delivered"),  # the same device twice: sent once
        (init_integration.entry_id, "sent"),
        (other.entry_id, "sent"),
    ]
    assert [m.payload for m in sends(gateway.gateway)] == [b"d"]


async def test_one_gateway_of_several_can_broadcast(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
) -> None:
    """A broadcast through a chosen gateway."""
    response = await send(
        hass, broadcast=True, gateway=init_integration.entry_id, payload="x"
    )
    assert response["results"][0]["outcome"] == "sent"


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(peers=1, kinds=("json",), max_payload=250, seed=5)]
)
async def test_esp_now_v1_gateway_limit(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """An ESP-NOW v1 gateway (250 bytes) refuses 251 before anything is sent."""
    with pytest.raises(ServiceValidationError) as err:
        await send(hass, broadcast=True, payload="x" * 251)
    assert err.value.translation_placeholders["max_payload"] == "250"


async def test_broadcast_without_any_gateway(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """No gateway loaded: nothing to broadcast with."""
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await send(hass, broadcast=True, payload="x")
    assert err.value.translation_key == "no_gateway"


async def test_rate_buckets_are_bounded(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """Buckets of many destinations: full ones are forgotten, the table stays bounded."""
    sender = runtime(init_integration).sender
    now = hass.loop.time()
    macs = [index.to_bytes(6, "big") for index in range(MAX_RATE_BUCKETS * 2)]
    for mac in macs:
        assert sender._take_token(mac, now)  # none is full: the oldest goes
    assert len(sender._buckets) == MAX_RATE_BUCKETS
    later = now + SEND_BURST / SEND_RATE  # every bucket is full again
    assert sender._take_token(b"\x02" * 6, later)
    assert len(sender._buckets) == 1
