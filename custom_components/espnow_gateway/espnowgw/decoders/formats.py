"""Payload decoders: the output model, format detection and the per-peer decoder.

An ESP-NOW frame carries up to 1470 opaque bytes. :class:`PeerDecoder` turns them
into a :class:`DecodedPayload`: measurements (sensors and binary sensors), button
events and a packet id for the coordinator's duplicate suppression. Decoding never
raises on frame bytes; a payload that a format claims but cannot decode comes back
with ``error`` set.

Formats (:class:`PayloadFormat`):

* ``bthome`` -- BTHome v2 (https://bthome.io), decoded with bthome-ble
  (see :mod:`.bthome`); an optional leading service-data UUID ``D2 FC`` is removed.
* ``json`` -- a UTF-8 JSON object (see :mod:`.json_payload`).
* ``raw`` -- not decoded: the payload is only reported as ``PayloadKind.RAW``.
* ``auto`` -- per frame, by :func:`detect_kind`:

  1. **BTHome**, if the payload starts with the BTHome service-data UUID bytes
     ``D2 FC`` (little-endian 0xFCD2). The two bytes are removed and the rest is
     decoded as BTHome whatever it holds, so errors are reported as BTHome errors.
  2. **JSON**, if the first byte after optional JSON whitespace (space, tab, CR,
     LF) is ``{`` and the payload, with trailing NUL bytes removed (C senders often
     transmit the string terminator), decodes as UTF-8 into a JSON object.
  3. **BTHome**, if the payload is a plausible bare BTHome v2 service-data block:
     the device-info byte has version bits 5-7 == 2 and reserved bits 3-4 clear
     (so it is one of ``0x40``-``0x47``), and

     * unencrypted (bit 0 clear): the bytes after the device-info byte (and after
       the 6-byte MAC when bit 1 is set) are a complete walk of known BTHome
       object ids, in non-decreasing id order, each with its exact size (variable
       length objects by their length byte), ending exactly at the end of the
       payload, with at least one object;
     * encrypted (bit 0 set): objects are ciphertext, so only the minimum length
       is checked: device info, optional MAC, at least 2 bytes of ciphertext, a
       4-byte counter and a 4-byte MIC.

  4. Otherwise **raw**.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from ..mac import MAC_LENGTH
from ..model import RAW_PAYLOAD, DecodedPayload, PayloadFormat, PayloadKind
from . import bthome, json_payload

_LOGGER = logging.getLogger(__name__)

BINDKEY_LENGTH: Final = 16
_JSON_WHITESPACE: Final = b" \t\r\n"
_JSON_FIRST_BYTES: Final = frozenset(b"{" + _JSON_WHITESPACE)


def strip_bthome_uuid(payload: bytes) -> bytes:
    """Remove a leading BTHome service-data UUID (``D2 FC``) if present."""
    if payload.startswith(bthome.SERVICE_DATA_UUID_BYTES):
        return payload[len(bthome.SERVICE_DATA_UUID_BYTES) :]
    return payload


def _sniff(payload: bytes) -> tuple[PayloadKind, bytes, dict[str, Any] | None]:
    """Detect the kind, returning what the decoder needs to avoid a second parse.

    ``(BTHOME, service data without UUID, None)``, ``(JSON, b"", the object)`` or
    ``(RAW, b"", None)``.
    """
    if not payload:
        return PayloadKind.RAW, b"", None
    if payload.startswith(bthome.SERVICE_DATA_UUID_BYTES):
        return PayloadKind.BTHOME, payload[len(bthome.SERVICE_DATA_UUID_BYTES) :], None
    if payload[0] in _JSON_FIRST_BYTES and payload.lstrip(_JSON_WHITESPACE)[:1] == b"{":
        obj, _error = json_payload.parse_json_object(payload)
        if obj is not None:
            return PayloadKind.JSON, b"", obj
    if bthome.is_plausible_bthome(payload):
        return PayloadKind.BTHOME, payload, None
    return PayloadKind.RAW, b"", None


def detect_kind(payload: bytes) -> PayloadKind:
    """Return the kind ``PayloadFormat.AUTO`` would decode ``payload`` as."""
    return _sniff(payload)[0]


def kind_of(payload: bytes, payload_format: PayloadFormat) -> PayloadKind:
    """Return the kind a peer with ``payload_format`` decodes ``payload`` as."""
    if payload_format is PayloadFormat.AUTO:
        return detect_kind(payload)
    return PayloadKind(payload_format.value)


class PeerDecoder:
    """Decoder state for one peer (bthome-ble keeps per-device state: packet ids, encryption counters)."""

    __slots__ = ("_bindkey", "_bthome", "_format", "_mac")

    def __init__(
        self,
        mac: bytes,
        *,
        payload_format: PayloadFormat = PayloadFormat.AUTO,
        bindkey: bytes | None = None,
    ) -> None:
        """Create the decoder for the peer with MAC ``mac`` (6 bytes).

        ``bindkey`` is the 16-byte BTHome encryption key. Raise ``ValueError`` for
        a malformed MAC, key or format.
        """
        if len(mac) != MAC_LENGTH:
            raise ValueError(f"MAC must be {MAC_LENGTH} bytes, got {len(mac)}")
        if bindkey is not None and len(bindkey) != BINDKEY_LENGTH:
            raise ValueError(
                f"BTHome bindkey must be {BINDKEY_LENGTH} bytes, got {len(bindkey)}"
            )
        self._mac = bytes(mac)
        self._format = PayloadFormat(payload_format)
        self._bindkey = None if bindkey is None else bytes(bindkey)
        # Created on the first BTHome frame: JSON-only peers never pay for it.
        self._bthome: bthome.BTHomeDecoder | None = None

    @property
    def mac(self) -> bytes:
        """The peer's MAC address."""
        return self._mac

    @property
    def payload_format(self) -> PayloadFormat:
        """The configured payload format."""
        return self._format

    def decode(self, payload: bytes) -> DecodedPayload:
        """Decode one frame's payload. Never raises on any input bytes."""
        try:
            return self._decode(payload)
        except Exception:  # contract: frame bytes never raise
            # Only reachable through a bug here or in bthome-ble; keep the link alive.
            _LOGGER.debug("Decoder failed on payload %s", payload.hex(), exc_info=True)
            return DecodedPayload(kind=PayloadKind.RAW, error="decoder error")

    def _decode(self, payload: bytes) -> DecodedPayload:
        match self._format:
            case PayloadFormat.AUTO:
                kind, data, obj = _sniff(payload)
                if obj is not None:
                    return json_payload.decode_json_object(obj)
                if kind is PayloadKind.BTHOME:
                    return self._bthome_decoder().decode(data)
                return RAW_PAYLOAD
            case PayloadFormat.BTHOME:
                return self._bthome_decoder().decode(strip_bthome_uuid(payload))
            case PayloadFormat.JSON:
                return json_payload.decode_json(payload)
            case _:
                return RAW_PAYLOAD

    def scan(self, payload: bytes) -> tuple[bool, int | None]:
        """Classify a payload without decoding it: ``(urgent, packet_id)``.

        Urgent payloads may carry events or binary states and must be decoded at
        once; the others only carry measurements, so a caller that writes states
        at a limited rate may decode just the latest of them. ``packet_id`` is the
        BTHome packet id when it can be read without decoding. Never raises.
        """
        if not payload:
            return False, None
        if self._format is not PayloadFormat.AUTO:
            match self._format:
                case PayloadFormat.JSON:
                    return json_payload.may_be_urgent(payload), None
                case PayloadFormat.BTHOME:
                    return bthome.scan(strip_bthome_uuid(payload))
            return False, None  # raw
        first = payload[0]
        if first in _JSON_FIRST_BYTES:
            return json_payload.may_be_urgent(payload), None
        if bthome.is_v2_device_info(first):
            # bthome.scan() walks the objects: a payload that is no clean BTHome is
            # urgent, so decode() (with the full detection) decides what it is.
            return bthome.scan(payload)
        if payload.startswith(bthome.SERVICE_DATA_UUID_BYTES):
            return bthome.scan(payload[len(bthome.SERVICE_DATA_UUID_BYTES) :])
        return False, None

    def _bthome_decoder(self) -> bthome.BTHomeDecoder:
        if self._bthome is None:
            self._bthome = bthome.BTHomeDecoder(self._mac, self._bindkey)
        return self._bthome
