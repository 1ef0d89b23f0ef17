"""Payload decoders: ESP-NOW payload bytes to measurements and events.

:mod:`.formats` detects a payload's format and holds the per-peer decoder;
:mod:`.bthome`, :mod:`.json_payload`, :mod:`.esphome` (ESPHome packet_transport) and
:mod:`.espnow_ctrl` (Espressif's esp-now component) decode one format each. What they produce is
defined in :mod:`espnowgw.model` (re-exported here for the decoders' users).
"""

from ..model import ButtonEvent, DecodedPayload, Measurement, PayloadFormat, PayloadKind
from .formats import PeerDecoder, detect_kind, kind_of
from .json_payload import decode_json

__all__ = [
    "ButtonEvent",
    "DecodedPayload",
    "Measurement",
    "PayloadFormat",
    "PayloadKind",
    "PeerDecoder",
    "decode_json",
    "detect_kind",
    "kind_of",
]
