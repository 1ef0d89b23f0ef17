"""Payload decoders: ESP-NOW payload bytes to measurements and events.

Pure Python, no Home Assistant imports. See :mod:`.registry` for the model and
the format detection.
"""

from .json_payload import decode_json
from .registry import (
    ButtonEvent,
    DecodedPayload,
    Measurement,
    PayloadFormat,
    PayloadKind,
    PeerDecoder,
    detect_kind,
)

__all__ = [
    "ButtonEvent",
    "DecodedPayload",
    "Measurement",
    "PayloadFormat",
    "PayloadKind",
    "PeerDecoder",
    "decode_json",
    "detect_kind",
]
