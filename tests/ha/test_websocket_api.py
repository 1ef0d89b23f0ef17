"""The raw-packet subscription through Home Assistant's WebSocket API.

Packets come from the simulated gateway on a real pty; batches are due on Home
Assistant's loop timers, advanced with ``async_fire_time_changed``.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import json_bytes
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.espnow_gateway.stream_options import LIMIT_HIGH_WATERMARK
from custom_components.espnow_gateway.stream_wire import MAX_MESSAGE_BYTES
from custom_components.espnow_gateway.websocket_api import async_get_hub
from devtools.simulator import PtyGateway

from .conftest import entity_id_of
from .stream_helpers import Stream, fire, send

A = bytes.fromhex("024e000000aa")
B = bytes.fromhex("024e000000bb")
JSON = b'{"temperature": 21.5}'


def raw(size: int = 250) -> bytes:
    return bytes([0x07]) * size  # not BTHome, not JSON


async def test_subscribe_batches_and_acks(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
) -> None:
    entry = init_integration
    result = await stream.subscribe(max_rate=1000, batch_interval=1000)
    assert result["success"]
    assert result["result"] == {
        "subscription": 1,
        "max_rate": 1000.0,
        "batch_interval": 1000,
        "high_watermark": 65536,
        "low_watermark": 32768,
        "window": 4,
        "stall_timeout": 60.0,
    }
    await send(hass, gateway, entry, [(A, JSON, -40)])
    first = await stream.event()  # the first packet goes out at once
    assert first["batch"] == 1
    assert first["subscription"] == 1
    (packet,) = first["packets"]
    assert packet["gateway"] == entry.entry_id
    assert packet["src"] == "02:4E:00:00:00:AA"
    assert packet["dst"] == "FF:FF:FF:FF:FF:FF"
    assert packet["rssi"] == -40
    assert packet["kind"] == "json"
    assert packet["payload"] == "eyJ0ZW1wZXJhdHVyZSI6IDIxLjV9"
    assert (first["dropped"], first["dropped_total"], first["throttled"]) == (
        0,
        0,
        False,
    )
    # More packets wait for the batch interval, then go in one message.
    await send(hass, gateway, entry, [(B, raw(10), -50)] * 5)
    fire(hass)
    second = await stream.event()
    assert second["batch"] == 2
    assert [p["kind"] for p in second["packets"]] == ["raw"] * 5
    ack = await stream.ack(2)
    assert ack["success"]
    assert ack["result"] == {"in_flight": 0}


async def test_filters(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
) -> None:
    entry = init_integration
    assert (
        await stream.subscribe(
            entry_id=entry.entry_id,
            sources=["02:4e:00:00:00:aa"],
            min_rssi=-60,
            kinds=["json"],
            encoding="hex",
        )
    )["success"]
    await send(
        hass,
        gateway,
        entry,
        [(B, JSON, -40), (A, JSON, -70), (A, raw(4), -40), (A, JSON, -45)],
    )
    event = await stream.event()
    assert [(p["rssi"], p["payload"]) for p in event["packets"]] == [(-45, JSON.hex())]


async def test_window_limits_unacknowledged_batches(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
) -> None:
    entry = init_integration
    await stream.subscribe(max_rate=1000, window=1)
    await send(hass, gateway, entry, [(A, raw(4), -50)])
    assert (await stream.event())["batch"] == 1
    await send(hass, gateway, entry, [(A, raw(4), -50)] * 3)
    fire(hass)
    await hass.async_block_till_done()
    hub = async_get_hub(hass)
    (subscriber,) = hub.subscribers
    assert subscriber.in_flight == 1
    assert subscriber.diagnostics()["buffered_packets"] == 3  # held back: window full
    await stream.ack(1)
    fire(hass)
    event = await stream.event()
    assert event["batch"] == 2
    assert len(event["packets"]) == 3


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest", "latest_per_peer"])
async def test_watermarks_policies_and_drop_accounting(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
    policy: str,
) -> None:
    entry = init_integration
    await stream.subscribe(
        max_rate=10_000,
        window=1,
        high_watermark=4096,
        low_watermark=1024,
        policy=policy,
    )
    await send(hass, gateway, entry, [(A, raw(), -50)])
    assert (await stream.event())["batch"] == 1
    frames = [(A if i % 2 else B, raw(), -50) for i in range(40)]
    await send(hass, gateway, entry, frames)
    status = await stream.event()
    assert status["status"] == "throttled"
    assert status["throttled"]
    hub = async_get_hub(hass)
    (subscriber,) = hub.subscribers
    assert subscriber.peak_bytes <= 4096
    await stream.ack(1)
    fire(hass)
    batch = await stream.event()
    resumed = await stream.event()
    assert resumed["status"] == "resumed"
    sent = 1 + len(batch["packets"])
    dropped = status["dropped"] + batch["dropped"] + resumed["dropped"]
    assert (
        sent + dropped == 41
    )  # every matching packet is either sent or reported dropped
    assert batch["dropped_total"] == dropped
    if policy == "latest_per_peer":
        assert (
            len(batch["packets"]) <= 8
        )  # what fitted before throttling, then one per peer
    diag = subscriber.diagnostics()
    assert (diag["matched"], diag["sent"], diag["dropped"]) == (41, sent, dropped)


async def test_rate_limit(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
) -> None:
    """A bucket of 2 at 0.1 packets/s: 2 of 5 packets pass (refills: tests/stream)."""
    entry = init_integration
    await stream.subscribe(max_rate=0.1, burst=2, batch_interval=1000)
    await send(hass, gateway, entry, [(A, raw(4), -50)] * 5)
    events = [await stream.event()]
    while sum(len(e["packets"]) for e in events) < 2:
        fire(hass)
        events.append(await stream.event())
    await hass.async_block_till_done()
    (subscriber,) = async_get_hub(hass).subscribers
    assert (subscriber.sent, subscriber.dropped_rate) == (2, 3)
    assert sum(e["dropped"] for e in events) == 3


async def test_unsubscribe_and_close_release_everything(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
) -> None:
    hub = async_get_hub(hass)
    await stream.subscribe()
    await send(hass, gateway, init_integration, [(A, raw(), -50)] * 3)
    await stream.event()
    assert hub.active
    result = await stream.command(
        {"type": "unsubscribe_events", "subscription": stream.subscription}
    )
    assert result["success"]
    assert hub.subscribers == []
    assert not hub.active
    other = Stream(await hass_ws_client(hass))
    await other.subscribe(batch_interval=10_000)
    assert len(hub.subscribers) == 1
    await other.client.close()
    await hass.async_block_till_done()
    assert hub.subscribers == []


async def test_stalled_subscription_is_closed(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
) -> None:
    await stream.subscribe(window=1, stall_timeout=5)
    await send(hass, gateway, init_integration, [(A, raw(), -50)] * 2)
    await stream.event()
    fire(hass, 6)
    closed = await stream.event()
    assert closed["status"] == "closed"
    assert closed["reason"] == "stalled"
    assert async_get_hub(hass).subscribers == []
    result = await stream.command(
        {"type": "unsubscribe_events", "subscription": stream.subscription}
    )
    assert result["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"max_rate": 0}, "invalid_format"),
        ({"max_rate": 1e9}, "invalid_format"),
        ({"batch_interval": 5}, "invalid_format"),
        ({"high_watermark": 10**9}, "invalid_format"),
        ({"high_watermark": 8192, "low_watermark": 8192}, "invalid_format"),
        ({"policy": "drop_everything"}, "invalid_format"),
        ({"sources": ["not a mac"]}, "invalid_format"),
        ({"sources": []}, "invalid_format"),
        ({"kinds": ["xml"]}, "invalid_format"),
        ({"min_rssi": 10}, "invalid_format"),
        ({"window": 0}, "invalid_format"),
        ({"stall_timeout": 0}, "invalid_format"),
        ({"unknown": 1}, "invalid_format"),
        # A boolean is no number, a string neither (issue 9: window true was 1).
        ({"window": True}, "invalid_format"),
        ({"batch_interval": True}, "invalid_format"),
        ({"high_watermark": False}, "invalid_format"),
        ({"min_rssi": False}, "invalid_format"),
        ({"max_rate": True}, "invalid_format"),
        ({"burst": True}, "invalid_format"),
        ({"stall_timeout": True}, "invalid_format"),
        ({"window": "4"}, "invalid_format"),
        ({"max_rate": "100"}, "invalid_format"),
        ({"window": 2.0}, "invalid_format"),
        ({"entry_id": "nope"}, "not_found"),
    ],
)
async def test_invalid_parameters(
    hass: HomeAssistant, stream: Stream, params: dict[str, Any], code: str
) -> None:
    result = await stream.subscribe(**params)
    assert not result["success"]
    assert result["error"]["code"] == code
    assert async_get_hub(hass).subscribers == []


async def test_translated_errors(hass: HomeAssistant, stream: Stream) -> None:
    result = await stream.subscribe(high_watermark=8192, low_watermark=9000)
    assert result["error"]["translation_key"] == "invalid_watermarks"
    assert result["error"]["translation_domain"] == "espnow_gateway"
    result = await stream.subscribe(entry_id="nope")
    assert result["error"]["translation_key"] == "entry_not_found"
    assert result["error"]["translation_placeholders"] == {"entry_id": "nope"}


async def test_entry_id_of_another_integration(
    hass: HomeAssistant, stream: Stream
) -> None:
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    result = await stream.subscribe(entry_id=other.entry_id)
    assert result["error"]["code"] == "not_found"


async def test_too_many_subscriptions(hass: HomeAssistant, stream: Stream) -> None:
    for _ in range(4):
        assert (await stream.subscribe())["success"]
    result = await stream.subscribe()
    assert result["error"]["code"] == "too_many_subscriptions"
    assert result["error"]["translation_placeholders"] == {
        "per_connection": "4",
        "total": "64",
    }


async def test_ack_errors(hass: HomeAssistant, stream: Stream) -> None:
    stream.subscription = 99
    result = await stream.ack(1)
    assert result["error"]["code"] == "not_found"
    assert result["error"]["translation_key"] == "subscription_not_found"
    await stream.subscribe()
    result = await stream.ack(3)
    assert result["error"]["code"] == "invalid_format"
    assert result["error"]["translation_key"] == "batch_not_sent"


async def test_ack_refuses_booleans(hass: HomeAssistant, stream: Stream) -> None:
    """``true`` is no subscription id nor batch number."""
    await stream.subscribe()
    subscription = stream.subscription
    for message in (
        {"subscription": True, "batch": 0},
        {"subscription": subscription, "batch": True},
        {"subscription": subscription, "batch": False},
    ):
        result = await stream.command({"type": "espnow_gateway/ack_packets", **message})
        assert result["error"]["code"] == "invalid_format", message
    # A real integer reaches the handler.
    result = await stream.ack(3)
    assert result["error"]["translation_key"] == "batch_not_sent", result


async def test_another_connection_cannot_acknowledge(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, stream: Stream
) -> None:
    await stream.subscribe()
    intruder = Stream(await hass_ws_client(hass))
    intruder.subscription = stream.subscription
    result = await intruder.ack(0)
    assert result["error"]["code"] == "not_found"


async def test_admin_only(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    hass_read_only_access_token: str,
    init_integration: MockConfigEntry,
) -> None:
    stream = Stream(await hass_ws_client(hass, hass_read_only_access_token))
    result = await stream.subscribe()
    assert result["error"]["code"] == "unauthorized"
    stream.subscription = 1
    result = await stream.ack(0)
    assert result["error"]["code"] == "unauthorized"
    assert async_get_hub(hass).subscribers == []


@pytest.fixture
async def diagnostics_loaded(hass: HomeAssistant) -> None:
    """Load diagnostics before any client freezes the HTTP routes."""
    assert await async_setup_component(hass, "diagnostics", {})


async def test_gateway_sensors_and_diagnostics(
    hass: HomeAssistant,
    diagnostics_loaded: None,
    hass_client: ClientSessionGenerator,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
    entity_registry_enabled_by_default: None,
) -> None:
    entry = init_integration
    subscribers = entity_id_of(hass, "sensor", "stream_subscribers")
    dropped = entity_id_of(hass, "sensor", "stream_dropped")
    assert hass.states.get(subscribers).state == "0"
    await stream.subscribe(max_rate=1, burst=1)
    await hass.async_block_till_done()
    assert hass.states.get(subscribers).state == "1"
    await send(hass, gateway, entry, [(A, raw(4), -50)] * 4)
    await stream.event()
    fire(hass, 11)  # the gateway figures' tick
    await hass.async_block_till_done()
    assert hass.states.get(dropped).state == "3"
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    (figures,) = diagnostics["stream"]["subscribers"]
    assert (figures["matched"], figures["sent"], figures["dropped_rate"]) == (4, 1, 3)
    assert diagnostics["stream"]["totals"]["dropped_by_gateway"] == {entry.entry_id: 3}


async def test_connection_close_releases_every_subscription(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
) -> None:
    """Closing a connection with several subscriptions releases them all."""
    client = Stream(await hass_ws_client(hass))
    for _ in range(3):
        await client.subscribe(batch_interval=10_000)
    hub = async_get_hub(hass)
    assert len(hub.subscribers) == 3
    await client.client.close()
    await hass.async_block_till_done()
    assert hub.subscribers == []


async def test_large_hex_batches_are_split_under_the_cap(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
) -> None:
    """Hex payloads are counted as hex: ~1 MB buffered goes out in <= 256 KiB parts."""
    entry = init_integration
    await stream.subscribe(
        encoding="hex",
        high_watermark=LIMIT_HIGH_WATERMARK,
        window=16,
        max_rate=10_000,
        burst=10_000,
        batch_interval=10_000,
    )
    await send(hass, gateway, entry, [(A, raw(4), -50)])
    assert (await stream.event())["batch"] == 1
    payloads = [bytes([i % 256]) * 1400 for i in range(330)]
    for start in range(0, len(payloads), 110):  # what the simulated USB link buffers
        await send(hass, gateway, entry, [(B, p, -50) for p in payloads[start:][:110]])
    (subscriber,) = async_get_hub(hass).subscribers
    buffered = subscriber.buffered_bytes
    assert buffered > 3 * MAX_MESSAGE_BYTES
    assert not subscriber.throttled  # exact hex sizes: it fits the 1 MiB buffer
    fire(hass, 11)
    received: list[str] = []
    parts: list[dict[str, Any]] = []
    while sum(len(p["packets"]) for p in parts) < len(payloads):
        message = await stream.client.receive(timeout=10)
        received.append(message.data)
        parts.append(json.loads(message.data)["event"])
    assert all(len(text) <= MAX_MESSAGE_BYTES for text in received)
    assert [p["batch"] for p in parts] == list(range(2, 2 + len(parts)))
    assert len(parts) == math.ceil(buffered / MAX_MESSAGE_BYTES)
    assert [
        bytes.fromhex(p["payload"]) for e in parts for p in e["packets"]
    ] == payloads
    # The bytes joined by the hub are what Home Assistant's serialiser makes of them.
    for text in received:
        assert text.encode() == json_bytes(json.loads(text))
    figures = subscriber.diagnostics()
    assert figures["split_batches"] == len(parts) - 1
    assert figures["largest_message_bytes"] == max(len(t) for t in received)


async def test_stall_timeout_is_capped_below_the_heartbeat(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant drops a silent connection after 82.5 s; a stall ends by 60 s."""
    result = await stream.subscribe(stall_timeout=600, batch_interval=1000)
    assert result["result"]["stall_timeout"] == 60.0  # what takes effect
    await send(hass, gateway, init_integration, [(A, raw(), -50)])
    assert (await stream.event())["batch"] == 1
    fire(hass, 59)
    await hass.async_block_till_done()
    assert async_get_hub(hass).subscribers  # not yet
    fire(hass, 61)
    closed = await stream.event()
    assert (closed["status"], closed["reason"]) == ("closed", "stalled")
    assert async_get_hub(hass).subscribers == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_closing_with_batches_in_flight_logs_nothing(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that goes away mid-stream is released without a trace in the log."""
    streams = [Stream(await hass_ws_client(hass)) for _ in range(3)]
    for client in streams:
        await client.subscribe(max_rate=10_000, window=16, batch_interval=20)
    await send(hass, gateway, init_integration, [(A, raw(), -50)] * 50)
    for client in streams:
        await client.event()
    await send(hass, gateway, init_integration, [(B, raw(), -50)] * 50)
    fire(hass)  # more batches on their way while the clients go
    for client in streams:
        await client.client.close()
    await hass.async_block_till_done()
    assert async_get_hub(hass).subscribers == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
