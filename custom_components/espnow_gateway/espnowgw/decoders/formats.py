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
* ``esphome`` -- ESPHome ``packet_transport`` frames (see :mod:`.esphome`).
* ``espnow_ctrl`` -- Espressif ``esp-now`` component frames (see :mod:`.espnow_ctrl`).
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

  4. **ESPHome**, if the payload starts with a packet_transport magic (``53 45``
     data, ``48 50`` ping request) and its clear header is well formed
     (:func:`.esphome.parse_header`: a hostname of 1-63 characters of
     ``[a-z0-9_-]``, zero padding to 4 bytes, a non-empty body of a multiple of 4
     bytes, at most 1470 bytes in all; a ping request ends right after its 4-byte
     key). The body is not needed: it may be encrypted.
  5. **esp-now component**, if the payload has the 20-byte header
     (:func:`.espnow_ctrl.looks_like_frame`: version 2 and reserved bits clear in
     the first byte, the size byte equal to the payload's length less 20 (its low 8
     bits), at most 1470 bytes) and its source address is the sender's MAC. Without
     a MAC (:func:`detect_kind` called without one) such frames are raw.
  6. Otherwise **raw**.

  The first bytes of the formats do not overlap (BTHome ``D2``/``40``-``47``, JSON
  ``{`` or whitespace, ESPHome ``53``/``48``, esp-now ``20``-``2F``; only ``20`` is
  both a JSON space and an esp-now ack, and JSON is tried first), so adding steps 4
  and 5 changed no payload's kind from BTHome or JSON. Random payloads are not
  taken for either new format: the magic, the header's structure and (esp-now) the
  source address all have to match (see ``tests/lib/decoders/test_detection.py``).

  That is what one frame looks like. Random bytes look like BTHome once in about
  64 frames, so a *new sender* is given a kind only on the evidence of several
  frames: :class:`.evidence.FormatEvidence`.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any, Final, NamedTuple

from ..mac import MAC_LENGTH
from ..model import RAW_PAYLOAD, DecodedPayload, PayloadFormat, PayloadKind
from . import bthome, esphome, espnow_ctrl, json_payload

_LOGGER = logging.getLogger(__name__)

BINDKEY_LENGTH: Final = 16
_JSON_WHITESPACE: Final = b" \t\r\n"
_JSON_FIRST_BYTES: Final = frozenset(b"{" + _JSON_WHITESPACE)
_ESPHOME_FIRST_BYTES: Final = frozenset((esphome.MAGIC_DATA[0], esphome.MAGIC_PING[0]))
_ESPNOW_FIRST_BYTES: Final = frozenset(range(0x20, 0x30))


def strip_bthome_uuid(payload: bytes) -> bytes:
    """Remove a leading BTHome service-data UUID (``D2 FC``) if present."""
    if payload.startswith(bthome.SERVICE_DATA_UUID_BYTES):
        return payload[len(bthome.SERVICE_DATA_UUID_BYTES) :]
    return payload


class Sniffed(NamedTuple):
    """What format detection found, kept so that the payload is parsed only once.

    ``data`` is the BTHome service data without its UUID; ``obj`` the parsed JSON
    object; ``header`` an ESPHome frame's clear header. Hand it to
    :meth:`PeerDecoder.decode` to decode without a second parse.
    """

    kind: PayloadKind
    data: bytes = b""
    obj: dict[str, Any] | None = None
    header: esphome.Header | None = None


class Scan(NamedTuple):
    """What :meth:`PeerDecoder.scan` tells without decoding a payload.

    ``urgent``: the payload may carry an event or a binary state and must be decoded
    at once (conservative: whenever :meth:`PeerDecoder.decode` would give an event
    or a binary state, ``urgent`` is True). ``packet_id``: for a payload that is not
    urgent, the packet id the decoder would give, or None when the scan cannot tell
    (JSON: it is not parsed); for an urgent one, None (the decoder tells).
    ``kind``: the payload's kind as far as the scan can tell (the first bytes; a
    non-urgent payload that starts like JSON counts as JSON).
    """

    urgent: bool
    packet_id: int | None
    kind: PayloadKind


_SNIFFED_RAW: Final = Sniffed(PayloadKind.RAW)
_KEYED_FORMATS: Final = frozenset({PayloadFormat.AUTO, PayloadFormat.BTHOME})


_SNIFFED_ESPNOW: Final = Sniffed(PayloadKind.ESPNOW_CTRL)


def sniff(payload: bytes, mac: bytes | None = None) -> Sniffed:
    """Detect the kind ``PayloadFormat.AUTO`` decodes ``payload`` as (parsing it once).

    ``mac`` is the sender's radio MAC: esp-now component frames are recognised only
    with it (their header's source address must match).
    """
    if not payload:
        return _SNIFFED_RAW
    first = payload[0]
    if payload.startswith(bthome.SERVICE_DATA_UUID_BYTES):
        return Sniffed(
            PayloadKind.BTHOME, payload[len(bthome.SERVICE_DATA_UUID_BYTES) :]
        )
    if first in _JSON_FIRST_BYTES and payload.lstrip(_JSON_WHITESPACE)[:1] == b"{":
        obj, _error = json_payload.parse_json_object(payload)
        if obj is not None:
            return Sniffed(PayloadKind.JSON, obj=obj)
    if first in _ESPHOME_FIRST_BYTES:
        if (header := esphome.parse_header(payload)) is not None:
            return Sniffed(PayloadKind.ESPHOME, header=header)
    elif first in _ESPNOW_FIRST_BYTES:
        if mac is not None and espnow_ctrl.looks_like_frame(payload, mac):
            return _SNIFFED_ESPNOW
    elif bthome.is_plausible_bthome(payload):
        return Sniffed(PayloadKind.BTHOME, payload)
    return _SNIFFED_RAW


def sniff_as(
    payload: bytes, payload_format: PayloadFormat, mac: bytes | None = None
) -> Sniffed:
    """Return what a peer (MAC ``mac``) with ``payload_format`` decodes ``payload`` as.

    A configured format is taken as it is, without looking at the payload.
    """
    if payload_format is PayloadFormat.AUTO:
        return sniff(payload, mac)
    return Sniffed(PayloadKind(payload_format.value))


def detect_kind(payload: bytes, mac: bytes | None = None) -> PayloadKind:
    """Return the kind ``PayloadFormat.AUTO`` would decode ``payload`` from ``mac`` as.

    esp-now component frames are recognised only with the sender's ``mac``.
    """
    return sniff(payload, mac).kind


def kind_of(
    payload: bytes, payload_format: PayloadFormat, mac: bytes | None = None
) -> PayloadKind:
    """Return the kind a peer (MAC ``mac``) with ``payload_format`` decodes ``payload`` as."""
    return sniff_as(payload, payload_format, mac).kind


class PeerDecoder:
    """Decoder state for one peer.

    bthome-ble keeps per-device state (packet ids, encryption counters); ESPHome
    frames need the last rolling code per hostname (:meth:`export_state`, to be
    persisted); esp-now component frames need the last send ids (repeats).
    """

    __slots__ = (
        "_bindkey",
        "_bthome",
        "_codes",
        "_esphome_key",
        "_format",
        "_json_shape",
        "_json_urgent",
        "_mac",
        "_recent",
    )

    def __init__(
        self,
        mac: bytes,
        *,
        payload_format: PayloadFormat = PayloadFormat.AUTO,
        bindkey: bytes | None = None,
        esphome_key: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        """Create the decoder for the peer with MAC ``mac`` (6 bytes).

        ``bindkey`` is the 16-byte BTHome encryption key; ``esphome_key`` the
        ESPHome ``packet_transport`` encryption key string as typed in the node's
        YAML (``encryption: key:``; it is hashed as ESPHome does); ``state`` what
        :meth:`export_state` returned before (see :meth:`restore_state`). Raise
        ``ValueError`` for a malformed MAC, key or format.
        """
        if len(mac) != MAC_LENGTH:
            raise ValueError(f"MAC must be {MAC_LENGTH} bytes, got {len(mac)}")
        if bindkey is not None and len(bindkey) != BINDKEY_LENGTH:
            raise ValueError(
                f"BTHome bindkey must be {BINDKEY_LENGTH} bytes, got {len(bindkey)}"
            )
        if esphome_key is not None and not isinstance(esphome_key, str):
            raise ValueError("ESPHome key must be a string")
        self._mac = bytes(mac)
        self._format = PayloadFormat(payload_format)
        self._bindkey = None if bindkey is None else bytes(bindkey)
        self._esphome_key = (
            None if esphome_key is None else esphome.hash_key(esphome_key)
        )
        # Created on the first BTHome frame: JSON-only peers never pay for it.
        self._bthome: bthome.BTHomeDecoder | None = None
        self._codes = esphome.RollingCodes()
        self._recent = espnow_ctrl.RecentFrames()
        # The last JSON frame's urgency shape and its answer: a sensor's frames
        # differ in their numbers, which the answer does not depend on.
        self._json_shape = b""
        self._json_urgent = True
        if state is not None:
            self.restore_state(state)

    @property
    def mac(self) -> bytes:
        """The peer's MAC address."""
        return self._mac

    @property
    def payload_format(self) -> PayloadFormat:
        """The configured payload format."""
        return self._format

    @property
    def authenticates(self) -> bool:
        """Whether only authenticated frames are this peer's (it has a BTHome key).

        Then a frame whose decode is not ``authenticated`` (plaintext, JSON, a wrong
        MIC, a replayed counter) was not sent by the peer, whatever its MAC says.
        """
        return self._bindkey is not None and self._format in _KEYED_FORMATS

    def export_state(self) -> dict[str, Any]:
        """Return the state that must survive a restart, JSON-able.

        ``{"esphome_rolling_codes": {hostname: [high word, low word]}}`` (the last
        accepted ESPHome rolling code per hostname), or ``{}`` when there is none.
        It changes whenever a frame with a rolling code is accepted.
        """
        return esphome.state_of(self._codes)

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Replace the state with an :meth:`export_state` result.

        Malformed parts are skipped (logged), never raised: stored data may be
        damaged. ``restore_state({})`` forgets every rolling code (for a node whose
        flash was erased: its codes start again from 1 and would all be replays).
        """
        codes = (
            state.get("esphome_rolling_codes", {})
            if isinstance(state, Mapping)
            else None
        )
        taken = self._codes.restore(codes)
        if isinstance(codes, Mapping) and taken != len(codes):
            _LOGGER.warning(
                "Skipped %d malformed ESPHome rolling codes of %s",
                len(codes) - taken,
                self._mac.hex(":"),
            )

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
                if sniffed is None or (
                    sniffed.kind is PayloadKind.RAW
                    and payload
                    and payload[0] in _ESPNOW_FIRST_BYTES
                ):
                    # (A caller's sniff without the MAC cannot see esp-now frames.)
                    sniffed = sniff(payload, self._mac)
                kind, data, obj, header = sniffed
                if obj is not None:
                    return json_payload.decode_json_object(obj)
                if kind is PayloadKind.BTHOME:
                    return self._bthome_decoder().decode(data)
                if kind is PayloadKind.ESPHOME:
                    return self._esphome(payload, header)
                if kind is PayloadKind.ESPNOW_CTRL:
                    return self._espnow(payload)
                return RAW_PAYLOAD
            case PayloadFormat.BTHOME:
                return self._bthome_decoder().decode(strip_bthome_uuid(payload))
            case PayloadFormat.JSON:
                return json_payload.decode_json(payload)
            case PayloadFormat.ESPHOME:
                return self._esphome(payload, None)
            case PayloadFormat.ESPNOW_CTRL:
                return self._espnow(payload)
            case _:
                return RAW_PAYLOAD

    def _esphome(self, payload: bytes, header: esphome.Header | None) -> DecodedPayload:
        return esphome.decode(
            payload, key=self._esphome_key, codes=self._codes, header=header
        )

    def _espnow(self, payload: bytes) -> DecodedPayload:
        return espnow_ctrl.decode(payload, mac=self._mac, recent=self._recent)

    def scan(self, payload: bytes) -> Scan:
        """Classify a payload without decoding it (see :class:`Scan`).

        Urgent payloads may carry events or binary states (or, for ESPHome, values
        that a later frame does not supersede) and must be decoded at once; the
        others only carry measurements, so a caller that writes states at a limited
        rate may decode just the latest of them. ``packet_id`` is the BTHome packet
        id or the esp-now ``(type << 16) | magic`` when it can be read without
        decoding; it is then the one :meth:`decode` reports. Never raises, changes
        no state.
        """
        if not payload:
            return Scan(False, None, PayloadKind.RAW)
        payload_format = self._format
        if self._bindkey is not None and payload_format in _KEYED_FORMATS:
            # Only a decrypted frame tells anything: every frame is for decode().
            return Scan(True, None, PayloadKind.BTHOME)
        if payload_format is not PayloadFormat.AUTO:  # (most peers: one test)
            return self._scan_as(payload, payload_format)
        first = payload[0]
        if first in _JSON_FIRST_BYTES:
            # A space is also an esp-now ack's first byte (no values, a packet id);
            # JSON comes first in the detection, so only it can tell (rare: parse).
            if (
                first in _ESPNOW_FIRST_BYTES
                and espnow_ctrl.looks_like_frame(payload, self._mac)
                and sniff(payload, self._mac).kind is PayloadKind.ESPNOW_CTRL
            ):
                return self._scan_espnow(payload)
            return Scan(self._json_may_be_urgent(payload), None, PayloadKind.JSON)
        if bthome.is_v2_device_info(first):
            # bthome.scan() walks the objects: a payload that is no clean BTHome is
            # urgent, so decode() (with the full detection) decides what it is.
            return Scan(*bthome.scan(payload), PayloadKind.BTHOME)
        if payload.startswith(bthome.SERVICE_DATA_UUID_BYTES):
            data = payload[len(bthome.SERVICE_DATA_UUID_BYTES) :]
            return Scan(*bthome.scan(data), PayloadKind.BTHOME)
        if first in _ESPHOME_FIRST_BYTES:
            header = esphome.parse_header(payload)
            if header is not None:
                return Scan(*esphome.scan(payload, header), PayloadKind.ESPHOME)
        elif first in _ESPNOW_FIRST_BYTES:
            return self._scan_espnow(payload)
        return Scan(False, None, PayloadKind.RAW)

    def _scan_as(self, payload: bytes, payload_format: PayloadFormat) -> Scan:
        match payload_format:
            case PayloadFormat.JSON:
                return Scan(self._json_may_be_urgent(payload), None, PayloadKind.JSON)
            case PayloadFormat.BTHOME:
                return Scan(
                    *bthome.scan(strip_bthome_uuid(payload)), PayloadKind.BTHOME
                )
            case PayloadFormat.ESPHOME:
                return Scan(*esphome.scan(payload), PayloadKind.ESPHOME)
            case PayloadFormat.ESPNOW_CTRL:
                return Scan(*espnow_ctrl.scan(payload, None), PayloadKind.ESPNOW_CTRL)
        return Scan(False, None, PayloadKind.RAW)

    def _json_may_be_urgent(self, payload: bytes) -> bool:
        """``json_payload.may_be_urgent``, searched again only when the shape changed."""
        shape = json_payload.urgency_shape(payload)
        if shape != self._json_shape:
            self._json_shape = shape
            self._json_urgent = json_payload.may_be_urgent(payload)
        return self._json_urgent

    def _scan_espnow(self, payload: bytes) -> Scan:
        urgent, packet_id = espnow_ctrl.scan(payload, self._mac)
        if packet_id is None:
            return Scan(False, None, PayloadKind.RAW)
        return Scan(urgent, packet_id, PayloadKind.ESPNOW_CTRL)

    def _bthome_decoder(self) -> bthome.BTHomeDecoder:
        if self._bthome is None:
            self._bthome = bthome.BTHomeDecoder(self._mac, self._bindkey)
        return self._bthome


# ---- a new sender's format, from the evidence of several frames ------------------------
