"""The library-level checks of the fuzz harness: documented limits, scan and decode agree.

Pure Python, no Home Assistant imports: ``tests/lib`` uses them too.
"""

from __future__ import annotations

from collections.abc import Iterator
import math
import re
from typing import Final

from espnowgw.decoders import json_payload
from espnowgw.decoders.formats import PeerDecoder
from espnowgw.model import BUTTON_EVENT_NAMES, DecodedPayload, PayloadKind

_KEY: Final = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")  # snake case (model.Measurement)
_ESPHOME_KEY: Final = re.compile(r"[A-Za-z0-9_]{1,255}")  # an ESPHome id, as it is


def limit_violations(decoded: DecodedPayload) -> list[str]:
    """Return what in a decoded payload breaks the decoders' documented limits."""
    found: list[str] = []
    keys = [m.key for m in decoded.measurements]
    if len(set(keys)) != len(keys):
        found.append(f"duplicate measurement keys {sorted(keys)}")
    event_keys = [e.key for e in decoded.events]
    if len(set(event_keys)) != len(event_keys):
        found.append(f"duplicate event keys {event_keys}")
    for m in decoded.measurements:
        if decoded.kind is PayloadKind.ESPHOME:
            if not _ESPHOME_KEY.fullmatch(m.key):  # esphome.py documents its ids
                found.append(f"ESPHome key {m.key!r}")
        elif not _KEY.fullmatch(m.key) or len(m.key) > json_payload.MAX_KEY_LENGTH:
            found.append(f"key {m.key!r}")
        if m.binary and not isinstance(m.value, bool | None):
            found.append(f"binary {m.key} = {m.value!r}")
    if decoded.decryption_failed and not decoded.encrypted:
        found.append("decryption failed, not encrypted")
    packet_id = decoded.packet_id
    if packet_id is not None and (isinstance(packet_id, bool) or packet_id < 0):
        found.append(f"packet id {packet_id!r}")
    if decoded.kind is PayloadKind.BTHOME and packet_id is not None and packet_id > 255:
        found.append(f"BTHome packet id {packet_id}")
    if decoded.kind is PayloadKind.JSON:
        found.extend(_json_violations(decoded))
    return found


def _json_violations(decoded: DecodedPayload) -> Iterator[str]:
    if len(decoded.measurements) > json_payload.MAX_MEASUREMENTS:
        yield f"{len(decoded.measurements)} measurements"
    if len(decoded.events) > json_payload.MAX_EVENTS:
        yield f"{len(decoded.events)} events"
    for event in decoded.events:
        if event.event_type not in BUTTON_EVENT_NAMES:
            yield f"event type {event.event_type!r}"
    for m in decoded.measurements:
        value = m.value
        if isinstance(value, float) and not math.isfinite(value):
            yield f"{m.key} = {value}"  # documented: NaN and infinities are ignored
        if isinstance(value, str) and len(value) > json_payload.MAX_TEXT_LENGTH:
            yield f"{m.key}: text of {len(value)} characters"


def scan_disagreement(
    decoder: PeerDecoder, payload: bytes, decoded: DecodedPayload
) -> str | None:
    """Return how the scan of ``payload`` contradicts its decode, if it does."""
    scan = decoder.scan(payload)
    urgent_content = bool(decoded.events) or any(m.binary for m in decoded.measurements)
    if urgent_content and not scan.urgent:
        return "not urgent, but the decode holds an event or a binary state"
    if scan.urgent:
        return None
    if scan.packet_id is not None and scan.packet_id != decoded.packet_id:
        return f"packet id {scan.packet_id} (scan) != {decoded.packet_id} (decode)"
    if decoded.kind is PayloadKind.BTHOME and scan.packet_id != decoded.packet_id:
        return f"BTHome packet id {scan.packet_id} (scan) != {decoded.packet_id}"
    return None
