"""An event loop's clock and timers, and nothing else, moved only when a test says so.

For code that schedules on ``loop.time()``/``call_at()``/``call_later()`` (the write
scheduler, the stream hub): every time a test sees is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextvars
import heapq
import itertools
from typing import Any, cast


class ManualLoop:
    """``time()``, ``call_at()``, ``call_later()``, with a clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, asyncio.TimerHandle]] = []
        self._order = itertools.count()
        self.contexts: list[contextvars.Context | None] = []  # given to timers

    def time(self) -> float:
        return self.now

    def call_at(
        self,
        when: float,
        callback: Callable[..., None],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        self.contexts.append(context)
        handle = asyncio.TimerHandle(when, callback, args, cast("Any", self), context)
        heapq.heappush(self._timers, (when, next(self._order), handle))
        return handle

    def call_later(
        self, delay: float, callback: Callable[..., None], *args: Any
    ) -> asyncio.TimerHandle:
        return self.call_at(self.now + delay, callback, *args)

    def get_debug(self) -> bool:
        return False

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        """What asyncio calls when a handle is cancelled (nothing to do here)."""

    def advance(self, seconds: float) -> None:
        """Move the clock, running the timers that fall due, in order."""
        end = self.now + seconds
        while self._timers and self._timers[0][0] <= end:
            when, _order, handle = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not handle.cancelled():
                handle._run()
        self.now = end
