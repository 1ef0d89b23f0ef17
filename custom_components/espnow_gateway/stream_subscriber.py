"""One subscription of the raw-packet stream: its whole flow control.

Filters (compiled once), a token bucket, a byte-bounded buffer with watermarks and
an overflow policy, batches joined from the packets' shared JSON and never above
the message cap, a credit window, and the stall clock. See docs/websocket.md.

No Home Assistant imports; the hub (``stream``) feeds it, ``websocket_api`` sends.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
import math
from typing import Any, Final, Protocol

from .stream_options import Policy, StreamOptions, compile_filter
from .stream_wire import (
    MAX_MESSAGE_BYTES,
    Chunk,
    StreamPacket,
    batch_head,
    batch_message,
    figures,
    fragment_of,
    made_of,
    status_message,
)

# A batch falls due on a grid of the loop clock, so that subscribers of one interval
# send in the same loop iteration (one wake-up, one hand-over for all of them): the
# interval divided into steps of at most GRID_STEP (a batch after a quiet spell, sent
# at once, is off the grid: the next is then at most a step later than its interval).
# A timer runs a little late; a batch that started up to GRID_SLACK after its grid
# point still counts as on it.
GRID_STEP: Final = 0.1
GRID_SLACK: Final = 0.01


class Hub(Protocol):
    """What a subscriber needs from the hub it belongs to."""

    loop: asyncio.AbstractEventLoop
    clock: Callable[[], float]
    stalled: int

    def next_number(self) -> int:
        """Return a number for a new subscriber."""

    def count_drop(self, gateway: str, count: int = 1) -> None:
        """Count packets of ``gateway`` dropped for some subscriber."""

    def deliver(self) -> None:
        """Hand every packet not handed over yet to its subscribers."""

    def remove(self, subscriber: Subscriber) -> None:
        """Forget a closed subscriber."""


class Subscriber:
    """One subscription: filters, rate limit, bounded buffer, batches, credits."""

    def __init__(
        self,
        hub: Hub,
        msg_id: int,
        options: StreamOptions,
        send: Callable[[bytes], None],
        *,
        owner: object = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """Initialize; ``send`` hands one message (JSON bytes) to the WebSocket."""
        self.hub = hub
        self.number = hub.next_number()  # tells subscribers apart in diagnostics
        self.msg_id = msg_id
        self.owner = owner
        self._on_close = on_close
        self.options = options
        self._send = send
        self._accepts = compile_filter(options)
        self._fragment = fragment_of(options.encoding)
        self._made = made_of(options.encoding)  # for packets in the buffer
        self._rate = options.max_rate
        self._burst = (
            options.burst if options.burst is not None else max(1.0, options.max_rate)
        )
        self._tokens = self._burst
        self._refilled = hub.clock()
        self._interval = options.batch_interval_ms / 1000
        self._step = self._interval / math.ceil(self._interval / GRID_STEP - 1e-9)
        self._high = options.high_watermark
        self._low = (
            options.low_watermark
            if options.low_watermark is not None
            else self._high // 2
        )
        self._window = options.window
        self.stall_timeout = options.effective_stall_timeout
        # The buffer, oldest first: packets one by one (where policies act), then
        # whole hand-overs kept as they came, with their JSON joined (the common case).
        self._buffer: OrderedDict[object, StreamPacket] = OrderedDict()
        self._counter = 0
        self._chunks: list[tuple[list[StreamPacket], bytes]] = []
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
        self.splits = 0
        self.sent_bytes = 0
        self.largest_message = 0
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
    def buffered_count(self) -> int:
        """Packets in the buffer."""
        return len(self._buffer) + sum(len(items) for items, _ in self._chunks)

    def _has_buffered(self) -> bool:
        return bool(self._buffer or self._chunks)

    def buffered_items(self) -> list[StreamPacket]:
        """Return the packets in the buffer, oldest first."""
        return [*self._buffer.values(), *(i for c, _ in self._chunks for i in c)]

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
            "encoding": self.options.encoding,
            "max_rate": self._rate,
            "batch_interval_ms": self.options.batch_interval_ms,
            "high_watermark": self._high,
            "low_watermark": self._low,
            "window": self._window,
            "stall_timeout": self.stall_timeout,
            "matched": self.matched,
            "sent": self.sent,
            "dropped": self.dropped,
            "dropped_rate": self.dropped_rate,
            "dropped_overflow": self.dropped_overflow,
            "buffered_bytes": self.buffered_bytes,
            "buffered_packets": self.buffered_count,
            "peak_buffered_bytes": self.peak_bytes,
            "throttled": self.throttled,
            "throttled_seconds": round(throttled, 3),
            "batches": self.batches,
            "split_batches": self.splits,
            "sent_bytes": self.sent_bytes,
            "largest_message_bytes": self.largest_message,
            "status_messages": self.status_messages,
            "acked": self.acked,
            "in_flight": self.in_flight,
        }

    # ---- hot path -----------------------------------------------------------------

    def take(self, chunk: Chunk, now: float) -> None:
        """Consider the packets of one gateway that arrived at ``now``, in order.

        The common case (everything passes and fits) is one rate check and one
        buffer update, and the chunk's JSON, joined once for every subscriber of
        the same encoding, is kept as it is; throttling and policies go packet by
        packet.
        """
        items = chunk.items
        whole = True  # all of the chunk is kept
        accepts = self._accepts
        if accepts is not None:
            items = [item for item in items if accepts(item)]
            if not items:
                return
            whole = len(items) == len(chunk.items)
        count = len(items)
        self.matched += count
        tokens = self._tokens
        if now > self._refilled:
            tokens = min(self._burst, tokens + (now - self._refilled) * self._rate)
            self._refilled = now
        allowed = min(count, int(tokens))  # a token each, while there are
        self._tokens = tokens - allowed
        if allowed < count:
            rejected = count - allowed
            self.dropped_rate += rejected
            self._dropped_unreported += rejected
            self.hub.count_drop(items[0].gateway, rejected)
            if not allowed:
                return
            items = items[:allowed]
            whole = False
        if self.throttled:
            for item in items:
                self._store(item)
            return
        if whole:
            joined = chunk.joined(self.options.encoding)
        else:
            joined = b",".join(map(self._fragment, items))
        # Each packet's JSON and the separator after it: one comma fewer, and "]".
        buffered = self.buffered_bytes + len(joined) + 1
        if buffered > self._high:
            for item in items:
                self._store(item)
            return
        self._chunks.append((items, joined))
        self.buffered_bytes = buffered
        self._kept()

    def _spill(self) -> None:
        """Put the kept chunks' packets in the buffer one by one (policies, splits)."""
        buffer = self._buffer
        counter = self._counter
        for items, _joined in self._chunks:
            buffer.update(zip(range(counter, counter + len(items)), items, strict=True))
            counter += len(items)
        self._counter = counter
        self._chunks.clear()

    def _drop(self, item: StreamPacket) -> None:
        """Count a packet dropped by the overflow policy."""
        self.dropped_overflow += 1
        self._dropped_unreported += 1
        self.hub.count_drop(item.gateway)

    def _store(self, item: StreamPacket) -> None:
        """Store one packet near or above the high watermark: the policies."""
        if self._chunks:
            self._spill()
        policy = self.options.policy
        if self.throttled and policy is Policy.DROP_NEWEST:
            self._drop(item)  # refused before it is even encoded
            return
        size = len(self._fragment(item)) + 1  # its JSON and the separator after it
        if not self.throttled:
            if self.buffered_bytes + size <= self._high:
                self._keep(item, self._counter, size)
                self._kept()
                return
            self._set_throttled(True)
            if policy is Policy.DROP_NEWEST:
                self._drop(item)
                return
        buffer = self._buffer
        fragment = self._fragment
        key: object = self._counter
        if policy is Policy.LATEST_PER_PEER:
            key = item.packet.src
            old = buffer.pop(key, None)
            if old is not None:
                self.buffered_bytes -= len(fragment(old)) + 1
                self._drop(old)
        self._keep(item, key, size)
        # Never hold more than the high watermark: the oldest make room.
        while self.buffered_bytes > self._high and len(buffer) > 1:
            _key, old = buffer.popitem(last=False)
            self.buffered_bytes -= len(fragment(old)) + 1
            self._drop(old)
        self._kept()

    def _keep(self, item: StreamPacket, key: object, size: int) -> None:
        self._counter += 1
        self._buffer[key] = item
        self.buffered_bytes += size

    def _kept(self) -> None:
        """After packets were stored: the peak, the batch timer."""
        self.peak_bytes = max(self.peak_bytes, self.buffered_bytes)
        if self._timer is None:
            self._arm()

    # ---- sending --------------------------------------------------------------------

    def next_send(self) -> float:
        """Return the loop time from which the next batch may be sent.

        The first grid point (``GRID_STEP``) at least an interval after the last
        batch, less ``GRID_SLACK``: subscribers of one interval fall due together.
        """
        step = self._step
        earliest = self._last_send + self._interval - min(GRID_SLACK, step / 4)
        return math.ceil(earliest / step) * step

    def due(self) -> float:
        """Return when this subscriber sends next if it gets packets (inf: it cannot).

        A closed subscriber, or one whose window is full, sends nothing until an
        acknowledgement, whose batch then takes what is pending (``_flush``).
        """
        if self._blocked():
            return math.inf
        return self.next_send()

    def _blocked(self) -> bool:
        """Whether no batch can go now: closed, or the window is full."""
        return self.closed or self.in_flight >= self._window

    def _arm(self) -> None:
        if not self._has_buffered() or self._blocked():
            return
        loop = self.hub.loop
        self._timer = loop.call_at(max(loop.time(), self.next_send()), self._flush)

    def _flush(self) -> None:
        """Send what is buffered: one batch, or several if it exceeds the size cap."""
        self._timer = None
        self.hub.deliver()  # what arrived since the last hand-over goes too
        while self._has_buffered() and not self._blocked():
            self._send_batch()
            if not self._has_buffered():
                break
            self.splits += 1  # the rest did not fit in one message: it follows
        if self.throttled and self.buffered_bytes <= self._low:
            self._set_throttled(False)
        self._arm()

    def _send_batch(self) -> None:
        """Send one batch of the oldest packets, as many as fit in one message."""
        head = batch_head(self.msg_id, self.batches + 1)
        # The figures at the end can only get shorter than with today's numbers.
        budget = MAX_MESSAGE_BYTES - len(head) - len(self._tail(self.buffered_bytes))
        buffer = self._buffer
        fragment = self._fragment
        if self.buffered_bytes <= budget:  # all of it fits: the common case
            count = self.buffered_count
            parts = [joined for _items, joined in self._chunks]
            if buffer:
                parts.insert(0, b",".join(map(self._made, buffer.values())))
                buffer.clear()
            self._chunks.clear()
            self._finish_batch(head, parts, count, self.buffered_bytes)
            return
        self._spill()
        fragments: list[bytes] = []
        taken = 0
        while buffer:
            key, item = buffer.popitem(last=False)
            data = fragment(item)
            size = len(data) + 1
            if taken + size > budget and fragments:
                buffer[key] = item  # the first packet of the next message
                buffer.move_to_end(key, last=False)
                break
            fragments.append(data)
            taken += size
        self._finish_batch(head, fragments, len(fragments), taken)

    def _finish_batch(
        self, head: bytes, parts: list[bytes], count: int, taken: int
    ) -> None:
        """Send ``count`` packets (``parts``: their JSON, ``taken`` bytes in all)."""
        self.buffered_bytes -= taken
        self.sent += count
        self.batches += 1
        message = batch_message(head, parts, self._tail(self.buffered_bytes))
        loop = self.hub.loop
        self._last_send = loop.time()
        if self._stall_timer is None and self.stall_timeout > 0:
            self._stall_timer = loop.call_later(self.stall_timeout, self._stalled)
        self._emit(message)

    def _emit(self, message: bytes) -> None:
        """Send one message; its figures have reported the drops so far."""
        self._dropped_unreported = 0
        self.sent_bytes += len(message)
        self.largest_message = max(self.largest_message, len(message))
        self._send(message)

    def _tail(self, buffered: int) -> bytes:
        return figures(
            self.msg_id,
            self._dropped_unreported,
            self.dropped,
            buffered,
            self.throttled,
        )

    def _send_status(self, status: str, reason: str | None = None) -> None:
        self.status_messages += 1
        self._emit(
            status_message(self.msg_id, status, reason, self._tail(self.buffered_bytes))
        )

    def _set_throttled(self, throttled: bool) -> None:
        now = self.hub.clock()
        self.throttled = throttled
        if throttled:
            self._throttled_at = now
        else:
            self.throttled_seconds += now - self._throttled_at
        self._send_status("throttled" if throttled else "resumed")

    def ack(self, batch: int) -> bool:
        """Acknowledge batches up to ``batch``; False if ``batch`` was never sent."""
        if batch > self.batches or batch < 0:
            return False
        if batch > self.acked:
            blocked = self._blocked()
            self.acked = batch
            # The stall clock restarts at every acknowledgement, and stops when
            # nothing is left unacknowledged.
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None
            if self.in_flight and self.stall_timeout > 0:
                self._stall_timer = self.hub.loop.call_later(
                    self.stall_timeout, self._stalled
                )
            if blocked:
                # Packets were held for it (``due``): they are its next batch.
                self.hub.deliver()
            if self._timer is None:
                self._arm()
        return True

    def _stalled(self) -> None:
        """No acknowledgement for too long: the client is gone or stuck."""
        self._stall_timer = None
        self.hub.stalled += 1
        self._send_status("closed", "stalled")
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
        self._chunks.clear()
        self.buffered_bytes = 0
        self.hub.remove(self)
        if notify and self._on_close is not None:
            self._on_close()
