"""One ESP-NOW node heard through the gateway: its decoder, values and schedule.

A :class:`Peer` knows nothing of its gateway. What it needs from outside comes as
narrow hooks (:class:`PeerHooks`): whether the link is up, the shared counters, and
what to do when it learns new keys, changes kind or fires an event. The receive path
(:meth:`Peer.handle`) runs straight from the link's ``data_received``: it drops
repeats, scans or decodes the payload once, fires events at once and leaves state
writes to the peer's :class:`~.scheduler.WriteScheduler`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
import time
from typing import Any
import zlib

from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.util import dt as dt_util

from .const import (
    DUPLICATE_WINDOW_US,
    LOGGER,
    MAX_MEASUREMENTS_PER_PEER,
    MAX_STALE_AFTER,
    MIN_STALE_AFTER,
    STALE_FACTOR,
)
from .espnowgw.decoders.formats import PeerDecoder, Sniffed
from .espnowgw.mac import mac_to_str
from .espnowgw.messages import Packet
from .espnowgw.model import (
    ButtonEvent,
    DecodedPayload,
    Measurement,
    PayloadFormat,
    PayloadKind,
)
from .espnowgw.values import refusal, shape_of
from .models import MeasurementInfo, PeerHooks
from .scheduler import WriteScheduler

# Gaps shorter than this (repeats, bursts) do not teach a peer's reporting interval.
_MIN_GAP_US = 500_000
_EWMA_ALPHA = 0.3

type Listener = Callable[[], None]


def write_phase(mac: bytes) -> float:
    """Where in the update interval a peer's writes fall (0 to 1, fixed per MAC)."""
    return zlib.crc32(mac) / 0x1_0000_0000


class Peer:
    """One ESP-NOW node heard through the gateway."""

    def __init__(
        self,
        mac: bytes,
        unique_prefix: str,
        hooks: PeerHooks,
        *,
        payload_format: PayloadFormat = PayloadFormat.AUTO,
        bindkey: bytes | None = None,
        esphome_key: str | None = None,
        expected_interval: float | None = None,
        entities: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Initialize a peer with its per-peer options."""
        self.mac = mac
        self.mac_str = mac_to_str(mac)
        self.unique_prefix = unique_prefix
        self._hooks = hooks
        self.decoder = PeerDecoder(
            mac, payload_format=payload_format, bindkey=bindkey, esphome_key=esphome_key
        )
        # The user's names, device classes and units, by measurement key.
        self.entity_options: dict[str, dict[str, str]] = dict(entities or {})
        self.name: str | None = None  # what the peer calls itself (ESPHome hostname)
        self.replays = 0  # authenticated frames refused as replayed (rolling code)
        self.state_dirty = False  # decoder state (rolling codes) to be saved
        self.expected_interval = expected_interval  # user override (s); 0 = never stale
        self.kind: PayloadKind | None = None
        self.firmware: str | None = None  # as the peer tells (BTHome 0xF1/0xF2)
        self.measurements: dict[str, MeasurementInfo] = {}
        self.event_keys: set[str] = set()
        self.values: dict[str, float | int | str | bool | None] = {}
        self.rssi: int | None = None
        # The wall time of the latest frame, as a number: a datetime is made only
        # when one is read (``last_seen``), not for every frame.
        self.heard_at: float | None = None
        self.packets = 0
        self.duplicates = 0
        self.decode_errors = 0
        self.decryption_failures = 0
        self.invalid_values = 0  # refused: no entity could show them
        self.unauthenticated = 0  # frames with its MAC that its key does not decrypt
        self.learnt_interval: float | None = None  # seconds, EWMA of gaps
        self.stale = False
        self.device_id: str | None = None
        self.scheduler = WriteScheduler(
            hooks.loop,
            hooks.update_interval,
            self._write,
            phase=write_phase(mac),
            slow_interval=hooks.slow_interval,
        )
        self._last_ts = -1
        self._last_payload = b""
        self._last_kind = PayloadKind.RAW
        self._last_packet_id: int | None = None
        self._last_packet_ts = -1
        self._listeners: list[Listener] = []
        self._event_listeners: dict[str, Callable[[ButtonEvent], None]] = {}
        # The latest measurement-only payload, decoded when the next write is due.
        self._pending: bytes | None = None

    # ---- listeners ----------------------------------------------------------------

    @callback
    def async_add_listener(self, listener: Listener) -> CALLBACK_TYPE:
        """Call ``listener`` when the peer's values may have changed (rate-limited)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_add_event_listener(
        self, key: str, listener: Callable[[ButtonEvent], None]
    ) -> CALLBACK_TYPE:
        """Call ``listener`` at once for every event of ``key``."""
        self._event_listeners[key] = listener

        def remove() -> None:
            self._event_listeners.pop(key, None)

        return remove

    @property
    def link_up(self) -> bool:
        """Whether the gateway link is up (the peer could be heard)."""
        return self._hooks.link_up()

    @property
    def available(self) -> bool:
        """Whether the peer's entities are available."""
        return self._hooks.link_up() and not self.stale

    @property
    def stale_after(self) -> float | None:
        """Seconds of silence after which the peer is unavailable; None: never."""
        if self.expected_interval is not None:
            return (
                self.expected_interval * STALE_FACTOR
                if self.expected_interval
                else None
            )
        if self.event_keys or self.learnt_interval is None:
            return None  # buttons are silent for days; unknown rhythm: no verdict
        return min(
            MAX_STALE_AFTER, max(MIN_STALE_AFTER, STALE_FACTOR * self.learnt_interval)
        )

    @property
    def last_seen(self) -> datetime | None:
        """When the peer's latest frame came (None: not heard since set-up)."""
        heard = self.heard_at
        return None if heard is None else dt_util.utc_from_timestamp(heard)

    # ---- receive path (hot) ---------------------------------------------------------

    @callback
    def handle(self, packet: Packet, sniffed: Sniffed | None = None) -> PayloadKind:
        """Handle one packet from this peer; return the kind its payload is.

        The payload is scanned or decoded once: ``sniffed`` is what format detection
        already found for it (a new peer's first frame).
        """
        self.packets += 1
        ts = packet.timestamp_us
        gap = ts - self._last_ts
        payload = packet.payload
        repeat = payload == self._last_payload and 0 <= gap < DUPLICATE_WINDOW_US
        authentic: DecodedPayload | None = None
        if not repeat and self.decoder.authenticates:
            # A peer with a key: only a frame its key decrypts is its own. Anyone
            # can send with its MAC; a forged frame touches nothing but counters.
            authentic = self.decoder.decode(payload)
            if not authentic.authenticated:
                self._count_unauthenticated(authentic)
                return authentic.kind
        self.rssi = packet.rssi
        self.heard_at = time.time()
        if self.stale:
            self._revive()
        if repeat:
            self._count_duplicate()
            return self._last_kind
        if gap >= _MIN_GAP_US and self._last_ts >= 0:
            seconds = gap / 1_000_000
            learnt = self.learnt_interval
            self.learnt_interval = (
                seconds if learnt is None else learnt + _EWMA_ALPHA * (seconds - learnt)
            )
        self._last_ts = ts
        self._last_payload = payload
        # Measurements only matter as of the next state write: a payload that can
        # carry no event or binary state waits, and only the latest is decoded then.
        decoded: DecodedPayload | None
        if authentic is not None:
            decoded = authentic
            packet_id, kind = decoded.packet_id, decoded.kind
        elif sniffed is not None or self.kind is None:
            decoded = self.decoder.decode(payload, sniffed)
            packet_id, kind = decoded.packet_id, decoded.kind
        else:
            scan = self.decoder.scan(payload)
            decoded = self.decoder.decode(payload) if scan.urgent else None
            if decoded is not None:
                packet_id, kind = decoded.packet_id, decoded.kind
            else:
                packet_id, kind = scan.packet_id, scan.kind
        self._last_kind = kind
        if packet_id is not None:
            if (
                packet_id == self._last_packet_id
                and 0 <= ts - self._last_packet_ts < DUPLICATE_WINDOW_US
            ):
                self._count_duplicate()
                return kind
            self._last_packet_id = packet_id
            self._last_packet_ts = ts
        if decoded is None:
            self._pending = payload
            self.scheduler.dirty()
            return kind
        self._pending = None
        if self._absorb(decoded):
            self.scheduler.urgent()
        else:
            self.scheduler.dirty()
        return kind

    def _count_unauthenticated(self, decoded: DecodedPayload) -> None:
        """Count a frame with this peer's MAC that its key does not decrypt."""
        self.unauthenticated += 1
        if decoded.decryption_failed:
            self._count_decryption_failure("its key does not decrypt them")
        elif decoded.error is not None:
            self.decode_errors += 1
            self._hooks.counters.decode_errors += 1

    def _count_decryption_failure(self, why: str) -> None:
        """Count a frame that did not decrypt; the first one is a hint to the user."""
        self.decryption_failures += 1
        if self.decryption_failures == 1:
            LOGGER.warning(
                "ESP-NOW peer %s sends encrypted payloads, and %s: set its key in "
                "the gateway's options (Device settings)",
                self.mac_str,
                why,
            )

    def _count_duplicate(self) -> None:
        """Count a repeat of a frame already handled: only link figures change."""
        self.duplicates += 1
        self._hooks.counters.duplicates += 1
        self.scheduler.dirty()

    def _revive(self) -> None:
        """Make a stale peer available again (it was heard): write with this frame."""
        self.stale = False
        LOGGER.info("ESP-NOW peer %s is back", self.mac_str)
        self.scheduler.reset()

    def _absorb(self, decoded: DecodedPayload) -> bool:
        """Take in a decoded payload; fire its events; True if a binary state changed."""
        hooks = self._hooks
        # A peer known to send BTHome or JSON stays so when a frame is not decodable.
        if self.kind is not decoded.kind and not (
            decoded.kind is PayloadKind.RAW and self.kind is not None
        ):
            self.kind = decoded.kind
            hooks.device_changed(self)
        if decoded.firmware is not None and decoded.firmware != self.firmware:
            self.firmware = decoded.firmware
            hooks.device_changed(self)
        if decoded.name is not None and decoded.name != self.name:
            self.name = decoded.name
            hooks.device_changed(self)
        if decoded.replayed:
            self.replays += 1
        elif decoded.kind is PayloadKind.ESPHOME and not decoded.decryption_failed:
            self.state_dirty = True  # a rolling code moved on
        if decoded.error is not None:
            self.decode_errors += 1
            hooks.counters.decode_errors += 1
        if decoded.decryption_failed:
            self._count_decryption_failure("it has no key")
        new_keys: list[str] = []
        values = self.values
        binary_changed = False
        for m in decoded.measurements:
            info = self.measurements.get(m.key)
            if (reason := refusal(m.value, shape_of(info or m))) is not None:
                self._refuse(m, reason)
                continue
            if info is None:
                if len(self.measurements) >= MAX_MEASUREMENTS_PER_PEER:
                    continue
                self.measurements[m.key] = MeasurementInfo.from_measurement(m)
                new_keys.append(m.key)
            if m.binary and m.key in values and values[m.key] != m.value:
                binary_changed = True
            values[m.key] = m.value
        for event in decoded.events:
            if event.key not in self.event_keys:
                self.event_keys.add(event.key)
                new_keys.append(event.key)
        if new_keys:
            hooks.new_keys(self, new_keys)
        for event in decoded.events:
            self._fire(event)
        return binary_changed

    def _refuse(self, m: Measurement, reason: str) -> None:
        """Count a value no entity of its key could show (``espnowgw.values``)."""
        self.invalid_values += 1
        LOGGER.debug("%s: value of %s refused: %s", self.mac_str, m.key, reason)

    def _fire(self, event: ButtonEvent) -> None:
        """Deliver a button event now: never rate-limited."""
        self._hooks.counters.events += 1
        listener = self._event_listeners.get(event.key)
        if listener is not None:
            listener(event)
        self._hooks.fire_event(self, event)

    # ---- state writes (the scheduler decides when) ------------------------------------

    def _write(self) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._absorb(self.decoder.decode(pending))
        for listener in list(self._listeners):
            listener()

    @callback
    def flush(self) -> None:
        """Write all entities now (availability changed)."""
        self.scheduler.flush()

    # ---- persistence --------------------------------------------------------------

    def as_stored(self) -> dict[str, Any]:
        """Return what is kept across restarts."""
        return {
            "kind": self.kind.value if self.kind else None,
            "firmware": self.firmware,
            "name": self.name,
            "decoder": self.decoder.export_state(),
            "measurements": [m.as_stored() for m in self.measurements.values()],
            "events": sorted(self.event_keys),
            "interval": self.learnt_interval,
        }

    def restore(self, stored: dict[str, Any]) -> None:
        """Restore what ``as_stored`` returned."""
        kind = stored.get("kind")
        self.kind = PayloadKind(kind) if kind in set(PayloadKind) else None
        firmware = stored.get("firmware")
        self.firmware = firmware if isinstance(firmware, str) else None
        name = stored.get("name")
        self.name = name if isinstance(name, str) else None
        if isinstance(state := stored.get("decoder"), dict):
            self.decoder.restore_state(state)
        for item in stored.get("measurements", [])[:MAX_MEASUREMENTS_PER_PEER]:
            info = MeasurementInfo(**item)
            self.measurements[info.key] = info
        self.event_keys = set(stored.get("events", []))
        interval = stored.get("interval")
        self.learnt_interval = float(interval) if interval else None

    def diagnostics(self) -> dict[str, Any]:
        """Return the peer's figures for diagnostics."""
        return {
            "mac": self.mac_str,
            "kind": self.kind,
            "payload_format": self.decoder.payload_format,
            "firmware": self.firmware,
            "name": self.name,
            "replays": self.replays,
            "measurements": sorted(self.measurements),
            "events": sorted(self.event_keys),
            "values": dict(self.values),
            "rssi": self.rssi,
            "last_seen": self.last_seen,
            "packets": self.packets,
            "duplicates": self.duplicates,
            "decode_errors": self.decode_errors,
            "decryption_failures": self.decryption_failures,
            "invalid_values": self.invalid_values,
            "unauthenticated": self.unauthenticated,
            "learnt_interval_s": self.learnt_interval,
            "stale_after_s": self.stale_after,
            "stale": self.stale,
        }
