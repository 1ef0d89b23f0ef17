"""When the hub hands packets over and when subscribers send, on a hand-moved clock.

Subscribers of one batch interval send on one grid of the loop clock, so that under
load one wake-up and one hand-over serve all of them; a packet after a quiet spell
still goes out after ``HANDOVER_DELAY``; packets for subscribers that cannot send are
held at most ``MAX_HOLD``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any, cast

import pytest

from custom_components.espnow_gateway.stream import (
    HANDOVER_DELAY,
    MAX_HOLD,
    MAX_PENDING,
    StreamHub,
)
from custom_components.espnow_gateway.stream_options import StreamOptions
from custom_components.espnow_gateway.stream_subscriber import (
    GRID_SLACK,
    GRID_STEP,
    Subscriber,
)
from tests.manual_loop import ManualLoop
from tests.stream.test_hub import packet

FAST = {"max_rate": 10_000, "burst": 10_000}


class Sent:
    """The loop times at which one subscriber sent, and the packets of each batch."""

    def __init__(self, loop: ManualLoop) -> None:
        self.loop = loop
        self.times: list[float] = []

    def __call__(self, message: bytes) -> None:
        self.times.append(self.loop.now)


def make_hub(loop: ManualLoop) -> StreamHub:
    return StreamHub(cast("asyncio.AbstractEventLoop", loop), clock=loop.time)


def subscribe(
    hub: StreamHub, loop: ManualLoop, **options: Any
) -> tuple[Subscriber, Sent]:
    sent = Sent(loop)
    return hub.subscribe(1, StreamOptions(**options), sent), sent


def on_grid(t: float, step: float) -> bool:
    return math.isclose(round(t / step) * step, t, abs_tol=1e-9)


def run_traffic(
    hub: StreamHub, loop: ManualLoop, subscribers: list[Subscriber], seconds: float
) -> None:
    """A packet every 5 ms; each subscriber acknowledges what it got meanwhile."""
    for seq in range(round(seconds / 0.005)):
        hub.publish("gw", packet(seq=seq), "raw")
        loop.advance(0.005)
        for subscriber in subscribers:
            if subscriber.batches > subscriber.acked:
                assert subscriber.ack(subscriber.batches)


def test_subscribers_of_one_interval_send_together() -> None:
    loop = ManualLoop()
    loop.now = 1000.013
    hub = make_hub(loop)
    first, first_sent = subscribe(hub, loop, batch_interval_ms=100, **FAST)
    run_traffic(hub, loop, [first], 0.037)
    second, second_sent = subscribe(hub, loop, batch_interval_ms=100, **FAST)
    run_traffic(hub, loop, [first, second], 2.0)
    # The first batch of each goes at once; from the second on, both are on one grid.
    assert not on_grid(first_sent.times[0], 0.1)
    assert not on_grid(second_sent.times[0], 0.1)
    assert first_sent.times[1:] == second_sent.times[1:]
    assert len(second_sent.times) >= 19
    assert all(on_grid(t, 0.1) for t in second_sent.times[1:])
    for times in (first_sent.times, second_sent.times):
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 0.1 - GRID_SLACK
    # Every packet reached both, in order, and nothing is left behind.
    hub.deliver()
    loop.advance(0.2)
    assert first.sent == first.matched
    assert second.sent == second.matched
    assert first.buffered_count == second.buffered_count == 0


def test_packets_wait_for_the_first_subscriber_that_may_send() -> None:
    loop = ManualLoop()
    hub = make_hub(loop)
    subscriber, sent = subscribe(hub, loop, batch_interval_ms=250, **FAST)
    hub.publish("gw", packet(seq=0), "raw")
    loop.advance(HANDOVER_DELAY)  # a quiet spell before it: handed over, sent at once
    assert sent.times == [1000.0 + HANDOVER_DELAY]
    subscriber.ack(1)
    for seq in range(1, 20):  # 10 ms apart, all before the next batch may go
        hub.publish("gw", packet(seq=seq), "raw")
        loop.advance(0.01)
        assert subscriber.buffered_count == 0  # held for one hand-over
    due = subscriber.next_send()
    assert due >= sent.times[0] + 0.25 - GRID_SLACK
    loop.advance(due - loop.now)
    assert sent.times[1] == due
    assert subscriber.sent == 20
    assert subscriber.buffered_count == 0


@pytest.mark.parametrize(("interval_ms", "step"), [(20, 0.02), (250, 0.25 / 3)])
def test_the_grid_divides_the_interval(interval_ms: int, step: float) -> None:
    loop = ManualLoop()
    loop.now = 1000.0071
    hub = make_hub(loop)
    subscriber, sent = subscribe(hub, loop, batch_interval_ms=interval_ms, **FAST)
    run_traffic(hub, loop, [subscriber], 3.0)
    assert step <= GRID_STEP
    assert all(on_grid(t, step) for t in sent.times[1:])
    gaps = [b - a for a, b in itertools.pairwise(sent.times[1:])]
    assert gaps == pytest.approx([interval_ms / 1000] * len(gaps))


def test_a_long_interval_is_late_by_at_most_a_step_after_a_quiet_spell() -> None:
    loop = ManualLoop()
    loop.now = 1000.0537
    hub = make_hub(loop)
    _subscriber, sent = subscribe(
        hub, loop, batch_interval_ms=10_000, window=16, **FAST
    )
    hub.publish("gw", packet(seq=0), "raw")
    loop.advance(HANDOVER_DELAY)
    hub.publish("gw", packet(seq=1), "raw")
    loop.advance(10.2)
    assert len(sent.times) == 2
    assert 10.0 - GRID_SLACK <= sent.times[1] - sent.times[0] <= 10.0 + GRID_STEP


def test_packets_for_a_subscriber_that_cannot_send_are_held_at_most_max_hold() -> None:
    loop = ManualLoop()
    hub = make_hub(loop)
    subscriber, sent = subscribe(hub, loop, batch_interval_ms=20, window=1, **FAST)
    hub.publish("gw", packet(seq=0), "raw")
    loop.advance(HANDOVER_DELAY)
    assert len(sent.times) == 1  # its window is now full: no acknowledgement yet
    hub.publish("gw", packet(seq=1), "raw")
    loop.advance(MAX_HOLD - 0.001)
    assert subscriber.buffered_count == 0  # held by the hub
    loop.advance(0.002)
    assert subscriber.buffered_count == 1  # handed over: its policies and figures
    hub.publish("gw", packet(seq=2), "raw")
    assert subscriber.ack(1)  # the window opens: what is held is its next batch
    loop.advance(0)
    assert len(sent.times) == 2
    assert subscriber.sent == 3


def test_at_most_max_pending_packets_are_held_and_each_full_hand_over_counts() -> None:
    loop = ManualLoop()
    hub = make_hub(loop)
    subscriber, sent = subscribe(
        hub, loop, batch_interval_ms=20, window=1, high_watermark=1024 * 1024, **FAST
    )
    hub.publish("gw", packet(seq=0), "raw")
    loop.advance(HANDOVER_DELAY)
    assert len(sent.times) == 1  # the window is full from here on
    for seq in range(1, MAX_PENDING + 1):
        hub.publish("gw", packet(seq=seq), "raw")
        totals = hub.diagnostics()["totals"]
        assert totals["held_packets"] <= MAX_PENDING
    assert totals["full_handovers"] == 1
    assert totals["held_packets"] == 0
    assert subscriber.buffered_count == MAX_PENDING
