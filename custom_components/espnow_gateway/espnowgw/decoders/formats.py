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
from typing import Any, Final, NamedTuple

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


class Sniffed(NamedTuple):
    """What format detection found, kept so that the payload is parsed only once.

    ``data`` is the BTHome service data without its UUID; ``obj`` the parsed JSON
    object. Hand it to :meth:`PeerDecoder.decode` to decode without a second parse.
    """

    kind: PayloadKind
    data: bytes = b""
    obj: dict[str, Any] | None = None


class Scan(NamedTuple):
    """What :meth:`PeerDecoder.scan` tells without decoding a payload.

    ``urgent``: the payload may carry an event or a binary state and must be decoded
    at once. ``packet_id``: the packet id, when it can be read without decoding.
    ``kind``: the payload's kind as far as the scan can tell (the first bytes; a
    non-urgent payload that starts like JSON counts as JSON).
    """

    urgent: bool
    packet_id: int | None
    kind: PayloadKind


_SNIFFED_RAW: Final = Sniffed(PayloadKind.RAW)


def sniff(payload: bytes) -> Sniffed:
    """Detect the kind ``PayloadFormat.AUTO`` decodes ``payload`` as (parsing it once)."""
    if not payload:
        return _SNIFFED_RAW
    if payload.startswith(bthome.SERVICE_DATA_UUID_BYTES):
        return Sniffed(
            PayloadKind.BTHOME, payload[len(bthome.SERVICE_DATA_UUID_BYTES) :]
        )
    if payload[0] in _JSON_FIRST_BYTES and payload.lstrip(_JSON_WHITESPACE)[:1] == b"{":
        obj, _error = json_payload.parse_json_object(payload)
        if obj is not None:
            return Sniffed(PayloadKind.JSON, obj=obj)
    if bthome.is_plausible_bthome(payload):
        return Sniffed(PayloadKind.BTHOME, payload)
    return _SNIFFED_RAW


def sniff_as(payload: bytes, payload_format: PayloadFormat) -> Sniffed:
    """Return what a peer with ``payload_format`` decodes ``payload`` as.

    A configured format is taken as it is, without looking at the payload.
    """
    if payload_format is PayloadFormat.AUTO:
        return sniff(payload)
    return Sniffed(PayloadKind(payload_format.value))


def detect_kind(payload: bytes) -> PayloadKind:
    """Return the kind ``PayloadFormat.AUTO`` would decode ``payload`` as."""
    return sniff(payload).kind


def kind_of(payload: bytes, payload_format: PayloadFormat) -> PayloadKind:
    """Return the kind a peer with ``payload_format`` decodes ``payload`` as."""
    return sniff_as(payload, payload_format).kind


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

    def decode(self, payload: bytes, sniffed: Sniffed | None = None) -> DecodedPayload:
        """Decode one frame's payload. Never raises on any input bytes.

        ``sniffed``: what :func:`sniff` found for this payload, if the caller ran it
        already (for ``PayloadFormat.AUTO``; ignored otherwise).
        """
        try:
            return self._decode(payload, sniffed)
        except Exception:  # contract: frame bytes never raise
            # Only reachable through a bug here or in bthome-ble; keep the link alive.
            _LOGGER.debug("Decoder failed on payload %s", payload.hex(), exc_info=True)
            return DecodedPayload(kind=PayloadKind.RAW, error="decoder error")

    def _decode(self, payload: bytes, sniffed: Sniffed | None) -> DecodedPayload:
        match self._format:
            case PayloadFormat.AUTO:
                kind, data, obj = sniffed if sniffed is not None else sniff(payload)
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

    def scan(self, payload: bytes) -> Scan:
        """Classify a payload without decoding it (see :class:`Scan`).

        Urgent payloads may carry events or binary states and must be decoded at
        once; the others only carry measurements, so a caller that writes states
        at a limited rate may decode just the latest of them. Never raises.
        """
        if not payload:
            return Scan(False, None, PayloadKind.RAW)
        match self._format:
            case PayloadFormat.JSON:
                return Scan(json_payload.may_be_urgent(payload), None, PayloadKind.JSON)
            case PayloadFormat.BTHOME:
                return Scan(
                    *bthome.scan(strip_bthome_uuid(payload)), PayloadKind.BTHOME
                )
            case PayloadFormat.RAW:
                return Scan(False, None, PayloadKind.RAW)
        first = payload[0]
        if first in _JSON_FIRST_BYTES:
            return Scan(json_payload.may_be_urgent(payload), None, PayloadKind.JSON)
        if bthome.is_v2_device_info(first):
            # bthome.scan() walks the objects: a payload that is no clean BTHome is
            # urgent, so decode() (with the full detection) decides what it is.
            return Scan(*bthome.scan(payload), PayloadKind.BTHOME)
        if payload.startswith(bthome.SERVICE_DATA_UUID_BYTES):
            data = payload[len(bthome.SERVICE_DATA_UUID_BYTES) :]
            return Scan(*bthome.scan(data), PayloadKind.BTHOME)
        return Scan(False, None, PayloadKind.RAW)

    def _bthome_decoder(self) -> bthome.BTHomeDecoder:
        if self._bthome is None:
            self._bthome = bthome.BTHomeDecoder(self._mac, self._bindkey)
        return self._bthome
