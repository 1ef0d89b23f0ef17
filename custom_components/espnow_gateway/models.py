"""The integration's data: what a measurement's entity looks like, counters, hooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .espnowgw.model import ButtonEvent, Measurement

if TYPE_CHECKING:
    from .peer import Peer


@dataclass(frozen=True, slots=True)
class MeasurementInfo:
    """What an entity for one measurement key looks like (persisted)."""

    key: str
    device_class: str | None
    unit: str | None
    state_class: str | None
    binary: bool = False
    precision: int | None = None

    @classmethod
    def from_measurement(cls, m: Measurement) -> MeasurementInfo:
        """Describe a decoded measurement."""
        return cls(m.key, m.device_class, m.unit, m.state_class, m.binary, m.precision)

    def as_stored(self) -> dict[str, Any]:
        """Return the stored form (``dataclasses.asdict`` is several times slower)."""
        return {
            "key": self.key,
            "device_class": self.device_class,
            "unit": self.unit,
            "state_class": self.state_class,
            "binary": self.binary,
            "precision": self.precision,
        }


@dataclass(slots=True)
class GatewayCounters:
    """Host-side counters of a gateway's peers (the link has its own)."""

    unknown_packets: int = 0
    ignored_packets: int = 0
    table_full_packets: int = 0
    pending_dropped: int = 0  # silent pending peers that made room for new ones
    pending_refused: int = 0  # frames of new senders refused: pending table full
    duplicates: int = 0
    decode_errors: int = 0
    events: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerHooks:
    """What a peer may ask of the world around it."""

    loop: asyncio.AbstractEventLoop
    update_interval: float
    slow_interval: float  # entities of slowly changing values: at least this apart
    link_up: Callable[[], bool]
    counters: GatewayCounters
    new_keys: Callable[[Peer, list[str]], None]  # new measurements or buttons
    device_changed: Callable[[Peer], None]  # its kind or firmware version
    fire_event: Callable[[Peer, ButtonEvent], None]  # to the bus (device triggers)
