"""Raw-packet stream to WebSocket subscribers, safe under any load.

Every subscriber has its own filters, token bucket, byte-bounded buffer and batch
timer, and a credit window: at most ``window`` batches may be sent and not yet
acknowledged by the client. A client that stops reading therefore holds at most
``window`` batches in Home Assistant's per-connection queue and the kernel's socket
buffers, and at most ``high_watermark`` bytes in our buffer; what does not fit is
dropped by the subscriber's policy and counted, and the count is reported in the next
message. A subscriber that acknowledges nothing for ``stall_timeout`` is closed.
See docs/websocket.md.

No Home Assistant imports: the WebSocket glue lives in ``websocket_api``.
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
import time
from typing import Any, Final

from .espnowgw.mac import mac_to_str
from .espnowgw.messages import Packet

# Server defaults and hard limits: a client cannot ask for unbounded resources.
DEFAULT_MAX_RATE: Final = 100.0
LIMIT_MAX_RATE: Final = 10_000.0
DEFAULT_BATCH_INTERVAL_MS: Final = 250
MIN_BATCH_INTERVAL_MS: Final = 20
MAX_BATCH_INTERVAL_MS: Final = 10_000
DEFAULT_HIGH_WATERMARK: Final = 64 * 1024
MIN_HIGH_WATERMARK: Final = 4 * 1024
LIMIT_HIGH_WATERMARK: Final = 1024 * 1024
DEFAULT_WINDOW: Final = 4
LIMIT_WINDOW: Final = 16
DEFAULT_STALL_TIMEOUT: Final = 60.0
LIMIT_STALL_TIMEOUT: Final = 600.0
MAX_BATCH_BYTES: Final = 256 * 1024  # one message never carries more than this
MAX_SUBSCRIPTIONS_PER_CONNECTION: Final = 4
MAX_SUBSCRIBERS: Final = 64
MAX_FILTER_SOURCES: Final = 64
# Estimated JSON size of one packet besides its payload (keys, MACs, numbers).
PACKET_OVERHEAD: Final = 170


class Policy(StrEnum):
    """What happens to packets while a subscriber is throttled."""

    DROP_OLDEST = "drop_oldest"  # keep the newest, within the high watermark
    DROP_NEWEST = "drop_newest"  # keep what is buffered; refuse new packets
    LATEST_PER_PEER = "latest_per_peer"  # keep only the newest packet of each source


class Encoding(StrEnum):
    """How payload bytes are written."""

    BASE64 = "base64"
    HEX = "hex"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamOptions:
    """A subscriber's validated parameters."""

    entry_id: str | None = None
    sources: frozenset[bytes] | None = None
    min_rssi: int | None = None
    kinds: frozenset[str] | None = None
    max_rate: float = DEFAULT_MAX_RATE
    burst: float | None = None  # default: one second of max_rate
    batch_interval_ms: int = DEFAULT_BATCH_INTERVAL_MS
    high_watermark: int = DEFAULT_HIGH_WATERMARK
    low_watermark: int | None = None  # default: half the high watermark
    policy: Policy = Policy.DROP_OLDEST
    encoding: Encoding = Encoding.BASE64
    window: int = DEFAULT_WINDOW
    stall_timeout: float = DEFAULT_STALL_TIMEOUT


# A packet as the hub shares it between subscribers: (gateway, packet, kind, bytes).
type Item = tuple[str, Packet, str, int]


def _packet_json(item: Item, encoding: Encoding) -> dict[str, Any]:
    gateway, packet, kind, _size = item
    payload = packet.payload
    return {
        "gateway": gateway,
        "src": mac_to_str(packet.src),
        "dst": mac_to_str(packet.dst),
        "rssi": packet.rssi,
        "channel": packet.channel,
        "ts": packet.timestamp_us,
        "seq": packet.seq,
        "kind": kind,
        "payload": b64encode(payload).decode()
        if encoding is Encoding.BASE64
        else payload.hex(),
    }


class Subscriber:
    """One subscription: filters, rate limit, bounded buffer, batches, credits."""

    def __init__(
        self,
        hub: StreamHub,
        msg_id: int,
        options: StreamOptions,
        send: Callable[[dict[str, Any]], None],
        *,
        owner: object = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """Initialize; ``send`` hands one event (a dict) to the WebSocket."""
        self.hub = hub
        self.number = hub.next_number()  # tells subscribers apart in diagnostics
        self.msg_id = msg_id
        self.owner = owner
        self._on_close = on_close
        self.options = options
        self._send = send
        self._rate = options.max_rate
        self._burst = (
            options.burst if options.burst is not None else max(1.0, options.max_rate)
        )
        self._tokens = self._burst
        self._refilled = hub.clock()
        self._interval = options.batch_interval_ms / 1000
        self._high = options.high_watermark
        self._low = (
            options.low_watermark
            if options.low_watermark is not None
            else self._high // 2
        )
        self._buffer: OrderedDict[object, Item] = OrderedDict()
        self._counter = 0
        self.buffered_bytes = 0
        self.peak_bytes = 0
        self.throttled = False
        self._throttled_at = 0.0
        self.throttled_seconds = 0.0
        self.matched = 0
        self.sent = 0
        self.dropped_rate = 0
        self.dropped_overflow = 0
        self._dropped_unreported = 0
        self.batches = 0
        self.acked = 0
        self.status_messages = 0
        self._last_send = -1e9
        self._timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self.closed = False

    # ---- figures ------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Packets that matched the filters but were not delivered (rate + overflow)."""
        return self.dropped_rate + self.dropped_overflow

    @property
    def in_flight(self) -> int:
        """Batches sent and not yet acknowledged."""
        return self.batches - self.acked

    def wants(self, gateway: str) -> bool:
        """Whether this subscriber follows ``gateway``."""
        entry_id = self.options.entry_id
        return entry_id is None or entry_id == gateway

    def diagnostics(self) -> dict[str, Any]:
        """Return the subscriber's figures."""
        throttled = self.throttled_seconds
        if self.throttled:
            throttled += self.hub.clock() - self._throttled_at
        return {
            "number": self.number,
            "subscription": self.msg_id,
            "entry_id": self.options.entry_id,
            "policy": self.options.policy,
            "max_rate": self._rate,
            "batch_interval_ms": self.options.batch_interval_ms,
            "high_watermark": self._high,
            "low_watermark": self._low,
            "window": self.options.window,
            "matched": self.matched,
            "sent": self.sent,
            "dropped": self.dropped,
            "dropped_rate": self.dropped_rate,
            "dropped_overflow": self.dropped_overflow,
            "buffered_bytes": self.buffered_bytes,
            "buffered_packets": len(self._buffer),
            "peak_buffered_bytes": self.peak_bytes,
            "throttled": self.throttled,
            "throttled_seconds": round(throttled, 3),
            "batches": self.batches,
            "status_messages": self.status_messages,
            "acked": self.acked,
            "in_flight": self.in_flight,
        }

    # ---- hot path -----------------------------------------------------------------

    def offer(self, item: Item, now: float) -> None:
        """Consider one packet (the hub has matched the gateway)."""
        options = self.options
        packet = item[1]
        if options.sources is not None and packet.src not in options.sources:
            return
        if options.min_rssi is not None and packet.rssi < options.min_rssi:
            return
        if options.kinds is not None and item[2] not in options.kinds:
            return
        self.matched += 1
        elapsed = now - self._refilled if now > self._refilled else 0.0
        tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._refilled = now
        if tokens < 1.0:
            self._tokens = tokens
            self._drop(item, rate=True)
            return
        self._tokens = tokens - 1.0
        self._store(item)

    def _drop(self, item: Item, *, rate: bool) -> None:
        if rate:
            self.dropped_rate += 1
        else:
            self.dropped_overflow += 1
        self._dropped_unreported += 1
        self.hub.count_drop(item[0])

    def _store(self, item: Item) -> None:
        size = item[3]
        if not self.throttled and self.buffered_bytes + size > self._high:
            self._set_throttled(True)
        buffer = self._buffer
        key: object = self._counter
        if self.throttled:
            policy = self.options.policy
            if policy is Policy.DROP_NEWEST:
                self._drop(item, rate=False)
                return
            if policy is Policy.LATEST_PER_PEER:
                key = item[1].src
                old = buffer.pop(key, None)
                if old is not None:
                    self.buffered_bytes -= old[3]
                    self._drop(old, rate=False)
        self._counter += 1
        buffer[key] = item
        self.buffered_bytes += size
        # Never hold more than the high watermark: the oldest make room.
        while self.buffered_bytes > self._high and len(buffer) > 1:
            _key, old = buffer.popitem(last=False)
            self.buffered_bytes -= old[3]
            self._drop(old, rate=False)
        self.peak_bytes = max(self.peak_bytes, self.buffered_bytes)
        if self._timer is None:
            self._arm()

    # ---- sending --------------------------------------------------------------------

    def _arm(self) -> None:
        if self.closed or not self._buffer or self.in_flight >= self.options.window:
            return
        loop = self.hub.loop
        delay = max(0.0, self._last_send + self._interval - loop.time())
        self._timer = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        """Send one batch if the credit window allows it."""
        self._timer = None
        if self.closed or not self._buffer or self.in_flight >= self.options.window:
            return
        buffer = self._buffer
        encoding = self.options.encoding
        packets: list[dict[str, Any]] = []
        taken = 0
        while buffer and taken < MAX_BATCH_BYTES:
            _key, item = buffer.popitem(last=False)
            taken += item[3]
            packets.append(_packet_json(item, encoding))
        self.buffered_bytes -= taken
        self.sent += len(packets)
        self.batches += 1
        self._last_send = self.hub.loop.time()
        self._send(self._event({"batch": self.batches, "packets": packets}))
        if self.throttled and self.buffered_bytes <= self._low:
            self._set_throttled(False)
        if self.in_flight >= self.options.window:
            self._arm_stall_timer()
        self._arm()

    def _event(self, body: dict[str, Any]) -> dict[str, Any]:
        body["subscription"] = self.msg_id
        body["dropped"] = self._dropped_unreported
        body["dropped_total"] = self.dropped
        body["buffered_bytes"] = self.buffered_bytes
        body["throttled"] = self.throttled
        self._dropped_unreported = 0
        return body

    def _set_throttled(self, throttled: bool) -> None:
        now = self.hub.clock()
        self.throttled = throttled
        if throttled:
            self._throttled_at = now
        else:
            self.throttled_seconds += now - self._throttled_at
        self.status_messages += 1
        self._send(self._event({"status": "throttled" if throttled else "resumed"}))

    def ack(self, batch: int) -> bool:
        """Acknowledge batches up to ``batch``; False if ``batch`` was never sent."""
        if batch > self.batches or batch < 0:
            return False
        if batch > self.acked:
            self.acked = batch
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None
            if self._timer is None:
                self._arm()
        return True

    def _arm_stall_timer(self) -> None:
        if self._stall_timer is None and self.options.stall_timeout > 0:
            self._stall_timer = self.hub.loop.call_later(
                self.options.stall_timeout, self._stalled
            )

    def _stalled(self) -> None:
        """No acknowledgement for too long: the client is gone or stuck."""
        self._stall_timer = None
        self.hub.stalled += 1
        self._send(self._event({"status": "closed", "reason": "stalled"}))
        self.close()

    def close(self, *, notify: bool = True) -> None:
        """Release everything (unsubscribe, connection closed, stalled).

        ``notify=False`` when the owner itself is closing the subscription (it is
        iterating its subscriptions): ``on_close`` is then not called.
        """
        if self.closed:
            return
        self.closed = True
        for timer in (self._timer, self._stall_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._stall_timer = None
        if self.throttled:
            self.throttled_seconds += self.hub.clock() - self._throttled_at
            self.throttled = False
        self._buffer.clear()
        self.buffered_bytes = 0
        self.hub.remove(self)
        if notify and self._on_close is not None:
            self._on_close()


class StreamHub:
    """All subscribers of one Home Assistant instance."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Initialize; ``on_change`` is called when subscribers come or go."""
        self.loop = loop
        self.clock = clock
        self.subscribers: list[Subscriber] = []
        self.active = False  # any subscriber: the gateways publish only then
        self.dropped_by_gateway: dict[str, int] = {}
        self.stalled = 0
        self.closed_figures: dict[str, int] = {"sent": 0, "dropped": 0}
        self._on_change = on_change
        self._numbers = 0

    def subscribe(
        self,
        msg_id: int,
        options: StreamOptions,
        send: Callable[[dict[str, Any]], None],
        *,
        owner: object = None,
        on_close: Callable[[], None] | None = None,
    ) -> Subscriber:
        """Add a subscriber (``owner``: the connection it belongs to)."""
        subscriber = Subscriber(
            self, msg_id, options, send, owner=owner, on_close=on_close
        )
        self.subscribers.append(subscriber)
        self.active = True
        if self._on_change is not None:
            self._on_change()
        return subscriber

    def remove(self, subscriber: Subscriber) -> None:
        """Forget a closed subscriber, keeping its figures in the totals."""
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)
            self.closed_figures["sent"] += subscriber.sent
            self.closed_figures["dropped"] += subscriber.dropped
            self.active = bool(self.subscribers)
            if self._on_change is not None:
                self._on_change()

    def publish(self, gateway: str, packet: Packet, kind: str) -> None:
        """Offer one received packet to every subscriber (call only when active)."""
        item: Item = (
            gateway,
            packet,
            kind,
            PACKET_OVERHEAD + len(packet.payload) * 4 // 3,
        )
        now = self.clock()
        for subscriber in self.subscribers:
            if subscriber.wants(gateway):
                subscriber.offer(item, now)

    def next_number(self) -> int:
        """Return a number for a new subscriber."""
        self._numbers += 1
        return self._numbers

    def find(self, owner: object, msg_id: int) -> Subscriber | None:
        """Return the subscriber ``msg_id`` of connection ``owner``."""
        for subscriber in self.subscribers:
            if subscriber.owner is owner and subscriber.msg_id == msg_id:
                return subscriber
        return None

    def owned_by(self, owner: object) -> int:
        """Subscriptions of one connection."""
        return sum(1 for s in self.subscribers if s.owner is owner)

    def count_drop(self, gateway: str) -> None:
        """Count a packet of ``gateway`` dropped for some subscriber."""
        self.dropped_by_gateway[gateway] = self.dropped_by_gateway.get(gateway, 0) + 1

    def subscriber_count(self, gateway: str) -> int:
        """Return how many subscribers follow ``gateway``."""
        return sum(1 for s in self.subscribers if s.wants(gateway))

    def diagnostics(self, gateway: str | None = None) -> dict[str, Any]:
        """Return per-subscriber and total figures."""
        subscribers = [
            s for s in self.subscribers if gateway is None or s.wants(gateway)
        ]
        return {
            "subscribers": [s.diagnostics() for s in subscribers],
            "totals": {
                "subscribers": len(subscribers),
                "sent": sum(s.sent for s in subscribers),
                "dropped": sum(s.dropped for s in subscribers),
                "buffered_bytes": sum(s.buffered_bytes for s in subscribers),
                "peak_buffered_bytes": max(
                    (s.peak_bytes for s in subscribers), default=0
                ),
                "closed_subscribers_sent": self.closed_figures["sent"],
                "closed_subscribers_dropped": self.closed_figures["dropped"],
                "stalled": self.stalled,
                "dropped_by_gateway": dict(self.dropped_by_gateway),
            },
        }
