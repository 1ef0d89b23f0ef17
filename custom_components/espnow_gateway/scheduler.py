"""When a peer's entities are written: the one home of the update interval.

Frames may arrive many times a second; the recorder must not see a state write for
each. Every peer has one :class:`WriteScheduler`:

* ``dirty()``: something changed; the peer's entities are written now if the last
  write is at least ``interval`` ago, otherwise once, when it is due. Changes in
  between coalesce into that one write.
* ``urgent()``: a binary state changed (a door, a motion): written now, but at most
  once per ``URGENT_MIN_GAP``, so a flapping sensor cannot flood.
* ``flush()``: written now, whatever is due (availability changed).
* ``may_write()``: whether one entity whose description asks for a minimum gap
  between its own writes (slowly changing values, diagnostics such as signal
  strength) takes part in a write; ``write_by()`` then makes sure the one it skips is
  written when its gap is over, so that its latest value is never left unwritten.

Each peer writes on its own phase of the interval (from its MAC): a thousand peers
that all became dirty at once (set-up, a reconnect) do not stay due in the same
instant every interval; after their first write they spread over it.

A waiting write is one timer and nothing else: its callback and context are made
once per peer. Objects that live for seconds are promoted to the garbage
collector's oldest generation, and with thousands of peers enough of them make
Python run full collections, which stop every thread, more often.

An interval of 0 writes on every change: the naive design, used as the benchmarks'
baseline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextvars
import math

from .const import URGENT_MIN_GAP


class WriteScheduler:
    """The write schedule of one peer's entities."""

    __slots__ = (
        "_context",
        "_due",
        "_handle",
        "_interval",
        "_last_urgent",
        "_loop",
        "_next",
        "_phase",
        "_write",
        "slow_interval",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval: float,
        write: Callable[[], None],
        phase: float = 0.0,
        slow_interval: float = 0.0,
    ) -> None:
        """Call ``write()`` whenever the entities are to be written.

        ``phase`` (0 to 1): where in each interval this peer's scheduled writes fall.
        ``slow_interval``: the minimum gap of slowly changing values' entities.
        """
        self._loop = loop
        self._interval = interval
        self._write = write
        self._phase = phase % 1.0
        self.slow_interval = slow_interval
        self._next = 0.0  # loop time from which the next write may happen
        self._last_urgent = -URGENT_MIN_GAP
        self._handle: asyncio.TimerHandle | None = None
        # Made once: a timer would otherwise make a bound method and a copy of the
        # context each time, objects that live until it runs (seconds), long enough
        # to reach the garbage collector's oldest generation (see above).
        self._due = self._scheduled
        self._context = contextvars.copy_context()

    def now(self) -> float:
        """Return the time on the clock writes are scheduled on."""
        return self._loop.time()

    def dirty(self) -> None:
        """Something changed: write now if due, else once when due."""
        handle = self._handle
        if handle is not None and handle.when() <= self._next:
            return  # a write is already coming, no later than due
        now = self._loop.time()
        if now >= self._next:
            self.cancel()
            self._run(now)
        else:
            # Due before a follow-up write that an entity asked for: sooner.
            self.cancel()
            self._handle = self._at(self._next)

    def urgent(self) -> None:
        """Write now for a binary state change, at most once per ``URGENT_MIN_GAP``."""
        now = self._loop.time()
        earliest = self._last_urgent + URGENT_MIN_GAP
        if now >= earliest:
            self._last_urgent = now
            self.cancel()
            self._run(now)
        elif self._handle is None or self._handle.when() > earliest:
            self._last_urgent = earliest
            self.cancel()
            self._handle = self._at(earliest)

    def flush(self) -> None:
        """Write now, whatever is due."""
        self.cancel()
        self._run(self._loop.time())

    def reset(self) -> None:
        """Forget the schedule: the next change is written at once."""
        self.cancel()
        self._next = 0.0

    def cancel(self) -> None:
        """Cancel a waiting write."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def may_write(
        self, written_at: float | None, min_interval: float | None, now: float
    ) -> bool:
        """Whether an entity last written at ``written_at`` is written now.

        ``min_interval`` None: the entity follows the peer's schedule (every write).
        A number: at least that long, and at least the update interval, between two
        of its writes (except with an interval of 0, which writes everything).
        """
        if min_interval is None or written_at is None or self._interval <= 0:
            return True
        return now - written_at >= max(min_interval, self._interval)

    def write_by(self, when: float) -> None:
        """Make sure the entities are written again at ``when`` at the latest."""
        if self._handle is not None and self._handle.when() <= when:
            return
        self.cancel()
        self._handle = self._at(when)

    def due_at(self, written_at: float, min_interval: float) -> float:
        """When an entity written at ``written_at`` with ``min_interval`` is due."""
        return written_at + max(min_interval, self._interval)

    def _at(self, when: float) -> asyncio.TimerHandle:
        return self._loop.call_at(when, self._due, context=self._context)

    def _scheduled(self) -> None:
        self._handle = None
        self._run(self._loop.time())

    def _run(self, now: float) -> None:
        interval = self._interval
        if interval > 0:
            # The first slot of this peer's phase at least an interval from now.
            slots = math.ceil((now + interval) / interval - self._phase - 1e-9)
            self._next = (slots + self._phase) * interval
        else:
            self._next = now
        self._write()
