"""The raw-packet stream's hub: every subscriber of one Home Assistant instance.

Every subscriber (``stream_subscriber``) has its own filters, token bucket,
byte-bounded buffer and batch timer, and a credit window: at most ``window``
batches may be sent and not yet acknowledged by the client. A client that stops
reading therefore holds at most ``window`` messages in Home Assistant's
per-connection queue and the kernel's socket buffers, and at most
``high_watermark`` bytes in our buffer; what does not fit is dropped by the
subscriber's policy and counted, and the count is reported in the next message. A
subscriber that acknowledges nothing for its stall timeout is closed. See
docs/websocket.md.

The hub wraps each packet once (``StreamPacket``): its JSON is made once per
encoding, whatever the number of subscribers, and batches are joined from those
bytes (``stream_wire``). No Home Assistant imports: the glue lives in ``websocket_api``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import time
from typing import Any, Final

from .espnowgw.messages import Packet
from .stream_options import StreamOptions
from .stream_subscriber import Subscriber
from .stream_wire import Chunk, StreamPacket, gateway_json

MAX_ROUTES: Final = 64  # gateways whose subscriber lists are kept ready
MAX_PENDING: Final = 1024  # packets held for one hand-over; more: handed over at once
# Packets are handed over this long after the first of them arrived at the soonest:
# half the shortest batch interval (20 ms), long enough to gather a few reads of the
# link (each hand-over costs a timer and a step per subscriber, whatever its size).
# At the latest, when the first of the route's subscribers may send a batch: a packet
# waits for that anyway, and subscribers of one interval send together, so under load
# there is one hand-over per batch interval for all of them.
HANDOVER_DELAY: Final = 0.01
MAX_HOLD: Final = 1.0  # at the latest (no subscriber can send): drops are counted


class Route:
    """One gateway's subscribers, its id as JSON, and the packets not handed over yet.

    Packets are handed to the subscribers as one ``Chunk`` (``HANDOVER_DELAY``): a
    subscriber takes a whole chunk in a few steps (one rate check, one buffer update)
    instead of a call per packet.
    """

    __slots__ = ("gateway_json", "pending", "subscribers", "timer")

    def __init__(self, subscribers: tuple[Subscriber, ...], gateway: str) -> None:
        """Make the route of ``gateway`` to ``subscribers``."""
        self.subscribers = subscribers
        self.gateway_json = gateway_json(gateway)
        self.pending: list[StreamPacket] = []
        self.timer: asyncio.TimerHandle | None = None

    def handover_at(self, now: float) -> float:
        """Return the loop time at which packets arriving at ``now`` are handed over."""
        due = min(subscriber.due() for subscriber in self.subscribers)
        return max(now + HANDOVER_DELAY, min(due, now + MAX_HOLD))

    def deliver(self, now: float) -> None:
        """Hand the pending packets to every subscriber still open."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        items = self.pending
        if not items:
            return
        self.pending = []
        chunk = Chunk(items)
        for subscriber in self.subscribers:
            if not subscriber.closed:
                subscriber.take(chunk, now)


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
        self.full_handovers = 0  # a route held MAX_PENDING packets: handed over then
        self.closed_figures: dict[str, int] = {"sent": 0, "dropped": 0, "splits": 0}
        self._on_change = on_change
        self._numbers = 0
        # Per gateway, made when first needed, remade when subscribers change.
        self._routes: dict[str, Route] = {}

    def subscribe(
        self,
        msg_id: int,
        options: StreamOptions,
        send: Callable[[bytes], None],
        *,
        owner: object = None,
        on_close: Callable[[], None] | None = None,
    ) -> Subscriber:
        """Add a subscriber (``owner``: the connection it belongs to)."""
        subscriber = Subscriber(
            self, msg_id, options, send, owner=owner, on_close=on_close
        )
        self.subscribers.append(subscriber)
        self._changed()
        return subscriber

    def remove(self, subscriber: Subscriber) -> None:
        """Forget a closed subscriber, keeping its figures in the totals."""
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)
            self.closed_figures["sent"] += subscriber.sent
            self.closed_figures["dropped"] += subscriber.dropped
            self.closed_figures["splits"] += subscriber.splits
            self._changed()

    def _changed(self) -> None:
        self.deliver()  # what arrived before the change, to whom it was for
        self._routes.clear()
        self.active = bool(self.subscribers)
        if self._on_change is not None:
            self._on_change()

    def publish(self, gateway: str, packet: Packet, kind: str) -> None:
        """Take one received packet for the subscribers of its gateway.

        It is handed over with the others that arrive until the route's hand-over.
        """
        route = self._routes.get(gateway)
        if route is None:
            if len(self._routes) >= MAX_ROUTES:
                self.deliver()
                self._routes.clear()
            route = self._routes[gateway] = Route(
                tuple(s for s in self.subscribers if s.wants(gateway)), gateway
            )
        if not route.subscribers:
            return
        pending = route.pending
        pending.append(StreamPacket(gateway, route.gateway_json, packet, kind))
        if route.timer is None:
            loop = self.loop
            route.timer = loop.call_at(
                route.handover_at(loop.time()), self._handover, route
            )
        elif len(pending) >= MAX_PENDING:
            self.full_handovers += 1
            route.deliver(self.clock())

    def _handover(self, route: Route) -> None:
        route.deliver(self.clock())  # the clock when it runs, not when it was set

    def deliver(self) -> None:
        """Hand every pending packet over now."""
        now = self.clock()
        for route in list(self._routes.values()):
            route.deliver(now)

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

    def count_drop(self, gateway: str, count: int = 1) -> None:
        """Count packets of ``gateway`` dropped for some subscriber."""
        self.dropped_by_gateway[gateway] = (
            self.dropped_by_gateway.get(gateway, 0) + count
        )

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
                "split_batches": sum(s.splits for s in subscribers),
                "largest_message_bytes": max(
                    (s.largest_message for s in subscribers), default=0
                ),
                "closed_subscribers_sent": self.closed_figures["sent"],
                "closed_subscribers_dropped": self.closed_figures["dropped"],
                "closed_subscribers_split_batches": self.closed_figures["splits"],
                "stalled": self.stalled,
                "held_packets": sum(len(r.pending) for r in self._routes.values()),
                "full_handovers": self.full_handovers,
                "dropped_by_gateway": dict(self.dropped_by_gateway),
            },
        }
