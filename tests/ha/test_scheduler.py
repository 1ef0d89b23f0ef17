"""WriteScheduler: coalesced writes, urgent writes, and per-peer phases.

The scheduler runs on an event loop's clock and timers; here a loop whose clock
moves only when the test says so stands in for it, so every time is exact.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import cast

from custom_components.espnow_gateway.const import URGENT_MIN_GAP
from custom_components.espnow_gateway.peer import write_phase
from custom_components.espnow_gateway.scheduler import WriteScheduler
from tests.manual_loop import ManualLoop


def make(
    loop: ManualLoop, interval: float, phase: float
) -> tuple[WriteScheduler, list[float]]:
    writes: list[float] = []
    scheduler = WriteScheduler(
        cast("asyncio.AbstractEventLoop", loop),
        interval,
        lambda: writes.append(loop.now),
        phase=phase,
    )
    return scheduler, writes


def test_first_change_writes_at_once_then_on_the_peers_phase() -> None:
    loop = ManualLoop()
    scheduler, writes = make(loop, 5.0, 0.3)
    scheduler.dirty()
    assert writes == [1000.0]
    for _ in range(40):  # a change every 0.5 s, for 20 s
        loop.advance(0.5)
        scheduler.dirty()
    # Slots are (k + 0.3) * 5 s: 1006.5 is the first at least 5 s after 1000.
    assert writes == [1000.0, 1006.5, 1011.5, 1016.5]
    gaps = [b - a for a, b in itertools.pairwise(writes)]
    assert min(gaps) >= 5.0


def test_peers_that_start_together_spread_over_the_interval() -> None:
    loop = ManualLoop()
    macs = [bytes([0x0A, 0, 0, 0, n >> 8, n & 0xFF]) for n in range(100)]
    peers = [make(loop, 5.0, write_phase(mac)) for mac in macs]
    for scheduler, _writes in peers:
        scheduler.dirty()  # a reconnect: every peer written in the same instant
    for _ in range(20):
        loop.advance(1.0)
        for scheduler, _writes in peers:
            scheduler.dirty()
    second_writes = sorted(writes[1] for _s, writes in peers)
    assert second_writes[0] >= 1005.0
    assert second_writes[-1] < 1010.0
    # Spread over the interval: no half-second holds more than a fifth of them.
    per_half_second = [
        sum(1 for t in second_writes if start <= t < start + 0.5)
        for start in (1005.0 + 0.5 * i for i in range(10))
    ]
    assert max(per_half_second) <= 20, per_half_second
    assert len({round(t, 3) for t in second_writes}) > 50


def test_urgent_writes_are_immediate_but_bounded() -> None:
    loop = ManualLoop()
    scheduler, writes = make(loop, 5.0, 0.0)
    scheduler.urgent()
    scheduler.urgent()  # flapping: the second waits for the minimum gap
    assert writes == [1000.0]
    loop.advance(URGENT_MIN_GAP)
    assert writes == [1000.0, 1000.0 + URGENT_MIN_GAP]


def test_interval_zero_writes_every_change_and_may_write_everything() -> None:
    loop = ManualLoop()
    scheduler, writes = make(loop, 0.0, 0.7)
    for _ in range(3):
        scheduler.dirty()
        loop.advance(0.001)
    assert len(writes) == 3
    assert scheduler.may_write(loop.now, 60.0, loop.now)


def test_entity_minimum_gap() -> None:
    loop = ManualLoop()
    scheduler, _writes = make(loop, 5.0, 0.0)
    assert scheduler.may_write(None, 60.0, 1000.0)  # never written yet
    assert scheduler.may_write(990.0, None, 1000.0)  # follows the peer's writes
    assert not scheduler.may_write(990.0, 0.0, 994.0)  # at least the interval
    assert scheduler.may_write(990.0, 0.0, 995.0)
    assert not scheduler.may_write(990.0, 60.0, 1049.0)  # its own, longer minimum
    assert scheduler.may_write(990.0, 60.0, 1050.0)


def test_reset_and_cancel() -> None:
    loop = ManualLoop()
    scheduler, writes = make(loop, 5.0, 0.5)
    scheduler.dirty()
    loop.advance(1.0)
    scheduler.dirty()  # waits for its slot
    scheduler.cancel()
    loop.advance(20.0)
    assert writes == [1000.0]
    scheduler.reset()  # a revived peer: the next change goes at once
    scheduler.dirty()
    assert writes == [1000.0, 1021.0]
    scheduler.flush()
    assert writes == [1000.0, 1021.0, 1021.0]


def test_a_follow_up_write_never_delays_a_sooner_one() -> None:
    """An entity's own longer gap asks for a later write; the peer's stay on time."""
    loop = ManualLoop()
    scheduler, writes = make(loop, 5.0, 0.0)
    scheduler.dirty()  # written at 1000; the next slot is 1005
    scheduler.write_by(1030.0)  # a slowly changing value skipped: due at 1030
    loop.advance(1.0)
    scheduler.dirty()
    loop.advance(10.0)
    assert writes == [1000.0, 1005.0]
    scheduler.write_by(1030.0)  # asked again at the write: nothing else is due
    loop.advance(30.0)
    assert writes == [1000.0, 1005.0, 1030.0]
    scheduler.write_by(1100.0)
    scheduler.write_by(1050.0)  # the sooner of two requests wins
    loop.advance(30.0)
    assert writes == [1000.0, 1005.0, 1030.0, 1050.0]


def test_a_peers_timers_share_one_callback_and_context() -> None:
    """A waiting write makes one timer, no bound method or context copy of its own."""
    loop = ManualLoop()
    scheduler, writes = make(loop, 5.0, 0.3)
    callbacks: list[object] = []  # kept alive: no object's id is reused
    for _ in range(30):  # a change every second: most wait for a timer
        scheduler.dirty()
        if scheduler._handle is not None:
            callbacks.append(scheduler._handle._callback)
        loop.advance(1.0)
    assert len(writes) == 6
    assert len(loop.contexts) == 6  # a timer per write after the first, one waiting
    assert all(callback is callbacks[0] for callback in callbacks)
    assert loop.contexts[0] is not None
    assert all(context is loop.contexts[0] for context in loop.contexts)
