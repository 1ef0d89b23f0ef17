"""The stream hub on its own: filters, rate limits, watermarks, policies, credits.

A real asyncio loop drives the batch timers (batches are due after ``batch_interval``
of loop time, so tests advance with short real intervals only where a timer must
fire); the token bucket reads an injected clock, so rate limits are exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import json
import math
from typing import Any

from homeassistant.components.websocket_api import event_message
from homeassistant.helpers.json import json_bytes
import pytest

from custom_components.espnow_gateway.espnowgw.mac import BROADCAST
from custom_components.espnow_gateway.espnowgw.messages import Packet
from custom_components.espnow_gateway.stream import (
    HANDOVER_DELAY,
    MAX_ROUTES,
    StreamHub,
)
from custom_components.espnow_gateway.stream_options import (
    LIMIT_HIGH_WATERMARK,
    MAX_BATCH_INTERVAL_MS,
    STALL_TIMEOUT_BOUND,
    Policy,
    StreamOptions,
)
from custom_components.espnow_gateway.stream_subscriber import Subscriber
from custom_components.espnow_gateway.stream_wire import MAX_MESSAGE_BYTES

A = bytes.fromhex("0200000000aa")
B = bytes.fromhex("0200000000bb")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Client:
    """Collects what a subscriber sends: whole messages, JSON bytes."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.events: list[dict[str, Any]] = []

    def __call__(self, message: bytes) -> None:
        self.messages.append(message)
        decoded = json.loads(message)
        assert decoded["type"] == "event"
        assert decoded["id"] == decoded["event"]["subscription"]
        self.events.append(decoded["event"])

    @property
    def batches(self) -> list[dict[str, Any]]:
        return [e for e in self.events if "batch" in e]

    @property
    def statuses(self) -> list[str]:
        return [e["status"] for e in self.events if "status" in e]

    @property
    def packets(self) -> list[dict[str, Any]]:
        return [p for b in self.batches for p in b["packets"]]

    @property
    def reported_drops(self) -> int:
        return sum(e["dropped"] for e in self.events)


def packet(src: bytes = A, seq: int = 0, rssi: int = -60, size: int = 10) -> Packet:
    return Packet(src, BROADCAST, rssi, -95, 1, 0, seq, seq * 1000, bytes(size))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hub(clock: Clock) -> AsyncIterator[StreamHub]:
    hub = StreamHub(asyncio.get_running_loop(), clock=clock)
    yield hub
    for subscriber in list(hub.subscribers):
        subscriber.close()


async def next_batch() -> None:
    """Wait past a 20 ms batch interval."""
    await asyncio.sleep(0.06)


async def settle() -> None:
    """Let the hub hand packets over, then run what is due now (zero-delay timers).

    The hand-over timer was set before this sleep's, for no later: it runs first.
    """
    await asyncio.sleep(HANDOVER_DELAY)
    for _ in range(3):
        await asyncio.sleep(0)


def subscribe(hub: StreamHub, **options: Any) -> tuple[Subscriber, Client]:
    client = Client()
    return hub.subscribe(1, StreamOptions(**options), client), client


async def test_filters(hub: StreamHub) -> None:
    by_source, c1 = subscribe(hub, sources=frozenset({A}))
    by_rssi, c2 = subscribe(hub, min_rssi=-70)
    by_kind, c3 = subscribe(hub, kinds=frozenset({"json"}))
    by_entry, c4 = subscribe(hub, entry_id="gw1")
    hub.publish("gw1", packet(A, 0, -80), "raw")
    hub.publish("gw2", packet(B, 1, -50), "json")
    await settle()
    assert [p["seq"] for p in c1.packets] == [0]
    assert [p["seq"] for p in c2.packets] == [1]
    assert [p["seq"] for p in c3.packets] == [1]
    assert [p["seq"] for p in c4.packets] == [0]
    assert hub.subscriber_count("gw1") == 4
    assert hub.subscriber_count("gw2") == 3
    for subscriber in (by_source, by_rssi, by_kind, by_entry):
        assert subscriber.matched == 1


async def test_packet_fields_and_encodings(hub: StreamHub) -> None:
    _, b64 = subscribe(hub)
    _, hexa = subscribe(hub, encoding="hex")
    hub.publish(
        "gw", Packet(A, BROADCAST, -61, -95, 6, 0, 42, 123, b"\x01\x02"), "bthome"
    )
    await settle()
    expected = {
        "gateway": "gw",
        "src": "02:00:00:00:00:AA",
        "dst": "FF:FF:FF:FF:FF:FF",
        "rssi": -61,
        "channel": 6,
        "ts": 123,
        "seq": 42,
        "kind": "bthome",
    }
    assert b64.packets == [expected | {"payload": "AQI="}]
    assert hexa.packets == [expected | {"payload": "0102"}]
    assert b64.batches[0]["subscription"] == 1


async def test_token_bucket(hub: StreamHub, clock: Clock) -> None:
    subscriber, client = subscribe(
        hub, max_rate=10, burst=5, window=16, batch_interval_ms=20
    )
    for seq in range(20):
        hub.publish("gw", packet(seq=seq), "raw")
    await settle()
    assert subscriber.dropped_rate == 15  # a full bucket of 5, then nothing
    clock.now += 1.0  # one second refills 10 tokens, capped at the burst of 5
    for seq in range(20, 40):
        hub.publish("gw", packet(seq=seq), "raw")
    hub.deliver()
    assert subscriber.dropped_rate == 30
    clock.now += 0.35  # 3.5 tokens
    for seq in range(40, 45):
        hub.publish("gw", packet(seq=seq), "raw")
        hub.deliver()  # one by one: the same as all at once
    await next_batch()
    assert [p["seq"] for p in client.packets] == [
        0,
        1,
        2,
        3,
        4,
        20,
        21,
        22,
        23,
        24,
        40,
        41,
        42,
    ]
    assert subscriber.matched == 45
    assert subscriber.sent + subscriber.dropped == subscriber.matched
    assert client.reported_drops == subscriber.dropped


async def test_batches_respect_interval_and_window(hub: StreamHub) -> None:
    subscriber, client = subscribe(hub, max_rate=1000, batch_interval_ms=20, window=2)
    hub.publish("gw", packet(seq=0), "raw")
    await settle()
    assert len(client.batches) == 1  # the first packet goes at once
    for seq in range(1, 6):
        hub.publish("gw", packet(seq=seq), "raw")
    await settle()
    assert len(client.batches) == 1  # the next one waits for the interval
    await asyncio.sleep(0.05)
    assert len(client.batches) == 2
    assert [p["seq"] for p in client.batches[1]["packets"]] == [1, 2, 3, 4, 5]
    assert subscriber.in_flight == 2
    hub.publish("gw", packet(seq=6), "raw")
    await asyncio.sleep(0.05)
    assert len(client.batches) == 2  # window full: nothing more until an ack
    assert subscriber.ack(1)
    await asyncio.sleep(0.05)
    assert len(client.batches) == 3
    assert [p["seq"] for p in client.batches[2]["packets"]] == [6]
    assert not subscriber.ack(99)  # never sent
    assert not subscriber.ack(-1)
    assert subscriber.ack(1)  # repeated: harmless
    assert subscriber.ack(3)
    assert subscriber.in_flight == 0


def _fill(hub: StreamHub, count: int, sources: tuple[bytes, ...] = (A,)) -> None:
    """Publish ``count`` packets and hand them over (as the loop would, next)."""
    for seq in range(count):
        hub.publish("gw", packet(sources[seq % len(sources)], seq, size=300), "raw")
    hub.deliver()


async def test_watermarks_and_drop_oldest(hub: StreamHub) -> None:
    subscriber, client = subscribe(
        hub,
        max_rate=10_000,
        high_watermark=4096,
        low_watermark=1024,
        window=1,
        batch_interval_ms=20,
    )
    _fill(hub, 1)
    await settle()  # batch 1 in flight: the window is full from now on
    _fill(hub, 30)
    assert subscriber.throttled
    assert client.statuses == ["throttled"]
    assert subscriber.buffered_bytes <= 4096
    assert subscriber.peak_bytes <= 4096
    buffered = subscriber.buffered_items()
    assert [item.packet.seq for item in buffered] == list(
        range(30 - len(buffered), 30)
    )  # newest kept
    subscriber.ack(1)
    await next_batch()
    # One batch takes the whole buffer: below the low watermark, the subscriber resumes.
    assert client.statuses == ["throttled", "resumed"]
    assert not subscriber.throttled
    assert subscriber.matched == (
        subscriber.sent + subscriber.dropped + subscriber.buffered_count
    )
    assert client.reported_drops == subscriber.dropped
    assert subscriber.throttled_seconds >= 0


async def test_drop_newest(hub: StreamHub) -> None:
    subscriber, client = subscribe(
        hub,
        max_rate=10_000,
        high_watermark=4096,
        policy=Policy.DROP_NEWEST,
        window=1,
        batch_interval_ms=20,
    )
    _fill(hub, 1)
    await settle()
    _fill(hub, 30)
    kept = [item.packet.seq for item in subscriber.buffered_items()]
    assert kept == list(range(len(kept)))  # the oldest are kept
    assert subscriber.dropped_overflow == 30 - len(kept)
    subscriber.ack(1)
    await next_batch()
    assert [p["seq"] for p in client.batches[1]["packets"]] == kept


async def test_latest_per_peer(hub: StreamHub) -> None:
    subscriber, client = subscribe(
        hub,
        max_rate=10_000,
        high_watermark=4096,
        policy=Policy.LATEST_PER_PEER,
        window=1,
        batch_interval_ms=20,
    )
    _fill(hub, 1)
    await settle()
    for seq in range(1, 41):  # 40 packets from two peers
        hub.publish("gw", packet(A if seq % 2 else B, seq, size=300), "raw")
    hub.deliver()
    assert subscriber.throttled
    sources = [item.packet.src for item in subscriber.buffered_items()]
    # Until throttling started packets were kept; after it, one per peer (the newest).
    throttled_part = sources[-2:]
    assert sorted(throttled_part) == [A, B]
    newest = {item.packet.src: item.packet.seq for item in subscriber.buffered_items()}
    assert newest == {A: 39, B: 40}
    assert subscriber.matched == 41
    assert subscriber.sent + subscriber.dropped + subscriber.buffered_count == 41
    subscriber.ack(1)
    await next_batch()
    assert client.reported_drops == subscriber.dropped


async def test_stalled_client_is_closed(hub: StreamHub) -> None:
    subscriber, client = subscribe(hub, window=1, stall_timeout=0.05)
    closed: list[bool] = []
    subscriber._on_close = lambda: closed.append(True)
    _fill(hub, 3)
    await settle()
    assert subscriber.in_flight == 1
    await asyncio.sleep(0.1)
    assert client.statuses[-1] == "closed"
    assert client.events[-1]["reason"] == "stalled"
    assert subscriber.closed
    assert closed == [True]
    assert hub.subscribers == []
    assert not hub.active
    assert hub.stalled == 1
    _fill(hub, 3)  # nothing happens any more
    assert subscriber.matched == 3


async def test_close_releases_everything(hub: StreamHub) -> None:
    subscriber, _client = subscribe(hub, batch_interval_ms=10_000, window=1)
    _fill(hub, 5)
    assert subscriber._timer is not None
    subscriber.close()
    subscriber.close()  # idempotent
    assert subscriber._timer is None
    assert subscriber._stall_timer is None
    assert subscriber.buffered_bytes == 0
    assert not subscriber.buffered_count
    assert hub.diagnostics()["totals"]["closed_subscribers_sent"] == subscriber.sent


async def test_diagnostics_and_totals(hub: StreamHub) -> None:
    first, _ = subscribe(hub, entry_id="gw", max_rate=1, burst=1)
    _second, _ = subscribe(hub, entry_id="other")
    _fill(hub, 3)
    await settle()
    diag = hub.diagnostics("gw")
    assert [s["subscription"] for s in diag["subscribers"]] == [1]
    assert diag["totals"]["dropped"] == 2
    assert diag["totals"]["dropped_by_gateway"] == {"gw": 2}
    figures = first.diagnostics()
    assert figures["matched"] == 3
    assert figures["sent"] == 1
    assert figures["dropped_rate"] == 2
    for subscriber in list(hub.subscribers):
        subscriber.close()
    assert hub.subscribers == []


async def test_a_batch_over_the_cap_is_split(hub: StreamHub) -> None:
    """1 MiB of hex packets goes out in messages of at most 256 KiB, none lost."""
    subscriber, client = subscribe(
        hub,
        encoding="hex",
        max_rate=10_000,
        burst=10_000,
        high_watermark=LIMIT_HIGH_WATERMARK,
        window=16,
        batch_interval_ms=20,
    )
    _fill(hub, 1)
    await settle()  # the first packet goes at once
    for seq in range(1, 3001):
        hub.publish("gw", packet(seq=seq, size=250), "raw")
    hub.deliver()
    buffered = subscriber.buffered_bytes
    assert buffered > 3 * MAX_MESSAGE_BYTES
    assert subscriber.buffered_count + subscriber.dropped == 3000
    await next_batch()
    parts = [m for m in client.messages[1:] if b'"batch"' in m]
    # As few messages as the cap allows (each also carries its head and figures).
    assert math.ceil(buffered / MAX_MESSAGE_BYTES) <= len(parts)
    assert len(parts) <= math.ceil(buffered / MAX_MESSAGE_BYTES) + 1
    assert subscriber.splits == len(parts) - 1
    assert client.statuses == ["throttled", "resumed"]
    assert all(len(message) <= MAX_MESSAGE_BYTES for message in client.messages)
    assert max(len(message) for message in parts[:-1]) > MAX_MESSAGE_BYTES - 1000
    assert subscriber.largest_message == max(len(m) for m in client.messages)
    assert subscriber.sent_bytes == sum(len(m) for m in client.messages)
    # Consecutive batches, the packets in order, none twice, none missing.
    assert [e["batch"] for e in client.batches] == list(range(1, len(parts) + 2))
    seqs = [p["seq"] for p in client.packets]
    assert seqs == sorted(set(seqs))
    assert len(seqs) == 1 + 3000 - subscriber.dropped
    assert subscriber.buffered_bytes == 0
    figures = subscriber.diagnostics()
    assert figures["split_batches"] == subscriber.splits
    assert hub.diagnostics()["totals"]["split_batches"] == subscriber.splits


async def test_a_split_waits_for_credits(hub: StreamHub) -> None:
    subscriber, client = subscribe(
        hub,
        encoding="hex",
        max_rate=10_000,
        burst=10_000,
        high_watermark=LIMIT_HIGH_WATERMARK,
        window=2,
        batch_interval_ms=20,
    )
    for seq in range(1500):
        hub.publish("gw", packet(seq=seq, size=250), "raw")
    await settle()
    assert len(client.batches) == 2  # the window: the rest stays buffered
    assert subscriber.splits == 2  # two messages were cut short by the cap
    assert subscriber.buffered_count
    left = subscriber.buffered_bytes
    # Later packets are kept as their hand-over came, after those kept one by one.
    for seq in range(1500, 1510):
        hub.publish("gw", packet(seq=seq, size=250), "raw")
    hub.deliver()
    assert subscriber._buffer
    assert subscriber._chunks
    assert subscriber.buffered_bytes > left
    subscriber.ack(2)
    await next_batch()
    assert subscriber.buffered_bytes == 0
    assert [p["seq"] for p in client.packets] == list(range(1510))
    assert all(len(message) <= MAX_MESSAGE_BYTES for message in client.messages)
    assert subscriber.sent_bytes == sum(len(m) for m in client.messages)


@pytest.mark.parametrize("encoding", ["base64", "hex"])
async def test_sizes_are_exact_per_encoding(hub: StreamHub, encoding: str) -> None:
    """The buffer counts each packet's JSON in the message and its separator."""
    subscriber, client = subscribe(
        hub, encoding=encoding, window=1, max_rate=1000, batch_interval_ms=20
    )
    _fill(hub, 1)
    await settle()
    _fill(hub, 7)  # held back: the window is full
    held = subscriber.buffered_bytes
    subscriber.ack(1)
    await next_batch()
    message = client.messages[1]
    event = client.events[1]
    packets_json = [json_bytes(p) for p in event["packets"]]
    assert held == sum(len(p) + 1 for p in packets_json)
    empty = json_bytes(event_message(1, event | {"packets": []}))
    assert len(message) - len(empty) == held - 1
    payload = event["packets"][0]["payload"]
    assert len(payload) == (600 if encoding == "hex" else 400)


async def test_each_packet_is_encoded_once_for_all_subscribers(hub: StreamHub) -> None:
    subscribers = [subscribe(hub, window=1)[0] for _ in range(3)]
    by_source, _ = subscribe(hub, sources=frozenset({B}))
    _fill(hub, 1)
    await settle()
    _fill(hub, 2)
    items = [s.buffered_items()[0] for s in subscribers]
    assert items[0] is items[1] is items[2]  # one shared packet
    assert items[0]._base64 is not None
    assert items[0]._hex is None  # nobody asked for hex
    assert not by_source.buffered_count  # filtered out: nothing kept, nothing counted
    assert by_source.matched == 0


async def test_rate_limited_packets_are_never_encoded(hub: StreamHub) -> None:
    subscriber, _ = subscribe(hub, max_rate=1, burst=1, window=1)
    hub.publish("gw", packet(seq=0), "raw")
    await settle()
    hub.publish("gw", packet(seq=1), "raw")
    item = hub._routes["gw"].pending[0]
    hub.deliver()
    assert subscriber.dropped_rate == 1
    assert item._base64 is None
    assert item._hex is None
    assert hub._routes["gw"].subscribers == (subscriber,)


async def test_stall_clock_restarts_at_each_acknowledgement(hub: StreamHub) -> None:
    """Not "window full for stall_timeout": no acknowledgement for stall_timeout."""
    subscriber, client = subscribe(
        hub, window=4, stall_timeout=0.2, batch_interval_ms=20, max_rate=1000
    )
    _fill(hub, 1)
    await settle()
    assert subscriber._stall_timer is not None  # one batch unacknowledged
    first_deadline = subscriber._stall_timer.when()
    await asyncio.sleep(0.05)
    _fill(hub, 1)
    await next_batch()
    assert subscriber._stall_timer.when() == first_deadline  # still the first one's
    subscriber.ack(1)  # batch 2 still unacknowledged: the clock restarts
    assert subscriber._stall_timer is not None
    assert subscriber._stall_timer.when() > first_deadline
    subscriber.ack(2)  # nothing unacknowledged: no clock
    assert subscriber._stall_timer is None
    assert not subscriber.closed
    assert client.statuses == []


def test_stall_timeout_stays_below_home_assistants_heartbeat() -> None:
    assert StreamOptions(stall_timeout=600).effective_stall_timeout == (
        STALL_TIMEOUT_BOUND
    )
    assert StreamOptions(stall_timeout=5).effective_stall_timeout == 5
    # aiohttp closes a connection 55 s + 55 / 2 s after the last frame it received;
    # a stall ends at most one batch interval later than stall_timeout.
    assert STALL_TIMEOUT_BOUND + MAX_BATCH_INTERVAL_MS / 1000 < 55 + 55 / 2


async def test_routes_follow_subscribers(hub: StreamHub) -> None:
    first, c1 = subscribe(hub, entry_id="gw1")
    hub.publish("gw1", packet(seq=0), "raw")
    hub.publish("gw2", packet(seq=1), "raw")  # nobody follows gw2
    second, c2 = subscribe(hub)
    hub.publish("gw2", packet(seq=2), "raw")
    await settle()
    assert [p["seq"] for p in c1.packets] == [0]
    assert [p["seq"] for p in c2.packets] == [2]
    for number in range(MAX_ROUTES + 1):
        hub.publish(f"other{number}", packet(seq=3), "raw")
    assert len(hub._routes) <= MAX_ROUTES
    first.close()
    second.close()
    assert not hub._routes
