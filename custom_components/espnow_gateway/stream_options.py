"""A stream subscriber's parameters: limits, defaults, and its filter, compiled once.

No Home Assistant imports. See docs/websocket.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .stream_wire import Encoding, StreamPacket

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
# Accepted for compatibility; what takes effect is at most STALL_TIMEOUT_BOUND.
LIMIT_STALL_TIMEOUT: Final = 600.0
# Home Assistant's WebSocket heartbeat (aiohttp, heartbeat=55) closes a connection it
# has heard nothing from for 55 s + 27.5 s without a pong: 82.5 s. A stalled
# subscription ends at most this long, plus one batch interval, after the client's
# last acknowledgement: 70 s, before Home Assistant drops the connection.
STALL_TIMEOUT_BOUND: Final = 60.0
MAX_SUBSCRIPTIONS_PER_CONNECTION: Final = 4
MAX_SUBSCRIBERS: Final = 64
MAX_FILTER_SOURCES: Final = 64


class Policy(StrEnum):
    """What happens to packets while a subscriber is throttled."""

    DROP_OLDEST = "drop_oldest"  # keep the newest, within the high watermark
    DROP_NEWEST = "drop_newest"  # keep what is buffered; refuse new packets
    LATEST_PER_PEER = "latest_per_peer"  # keep only the newest packet of each source


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

    @property
    def effective_stall_timeout(self) -> float:
        """The stall timeout that takes effect (below Home Assistant's heartbeat)."""
        return min(self.stall_timeout, STALL_TIMEOUT_BOUND)


type Predicate = Callable[[StreamPacket], bool]


def compile_filter(options: StreamOptions) -> Predicate | None:
    """Return one predicate for the options' packet filters (None: every packet).

    Made once per subscriber: only the filters it asked for are tested, in the
    order that rejects most cheaply, and a rejected packet allocates nothing.
    """
    tests: list[Predicate] = []
    if (sources := options.sources) is not None:
        tests.append(lambda item: item.packet.src in sources)
    if (kinds := options.kinds) is not None:
        tests.append(lambda item: item.kind in kinds)
    if (min_rssi := options.min_rssi) is not None:
        tests.append(lambda item: item.packet.rssi >= min_rssi)
    if not tests:
        return None
    predicate = tests[-1]
    for test in reversed(tests[:-1]):
        predicate = _both(test, predicate)
    return predicate


def _both(first: Predicate, second: Predicate) -> Predicate:
    return lambda item: first(item) and second(item)
