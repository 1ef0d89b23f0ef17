"""ESPHome ``packet_transport`` frames (``packet_transport: - platform: espnow``).

ESPHome (2025.11+) sends sensor and binary-sensor states over ESP-NOW with its
``packet_transport`` component. The wire format, as read in ESPHome 2026.10.0's
``esphome/components/packet_transport/packet_transport.cpp`` (``flush_``,
``init_data_``, ``add_data_``, ``process_``), ``xxtea/xxtea.cpp`` and
``packet_transport/__init__.py`` (``hash_encryption_key``); everything is
little-endian:

* **Clear header.** Magic ``0x4553`` (data; bytes ``53 45``) or ``0x5048`` (ping
  request; ``48 50``), a length byte, the sender's hostname (its ``esphome: name:``)
  and, for data frames, zero bytes up to a multiple of 4. A ping request is
  ``magic | length | hostname | 4-byte key`` with no padding: a consumer node asks
  encrypted providers to echo the key (ping-pong); it carries no values.
* **Body** (data frames), a multiple of 4 bytes, encrypted when the node has an
  ``encryption: key:``. It starts with ``DATA_KEY`` (1) or ``ROLLING_CODE_KEY`` (5)
  followed by an 8-byte rolling code (low 32-bit word, then high word). Records
  follow: ``PING_KEY`` (4) + u32 (an echoed ping key: skipped), ``SENSOR_KEY`` (2)
  + f32 + id, ``BINARY_SENSOR_KEY`` (3) + u8 + id, where an id is a length byte and
  that many bytes (the ESPHome ``id:`` or ``broadcast_id``, not a friendly name),
  and ``ZERO_FILL_KEY`` (0) padding bytes. No unit, device class or name travels.
* **Encryption.** The key is SHA-256 of the key string as typed in the YAML
  (:func:`hash_key`), used as eight 32-bit words; the body is encrypted with an
  XXTEA variant whose key schedule indexes all eight words (``k[(p ^ e) & 7]``),
  so stock XXTEA (four key words, ``k[(p & 3) ^ e]``) does not decrypt it
  (:func:`xxtea_decrypt`). XXTEA has no authentication: a frame is accepted only
  if the decrypted body is a complete, well-formed record list.
* **Rolling code** (``rolling_code_enable``, encrypted nodes only). The low word
  counts frames, the high word is kept in the node's flash and bumped on every
  boot. A frame whose code is not greater than the last accepted one from that
  hostname is a replay: ``replayed`` and ``decryption_failed``, no values.
  :class:`RollingCodes` keeps the last code per hostname; the per-peer decoder
  exports it (``PeerDecoder.export_state``) so the integration persists it and
  replays are refused across restarts too. A code is taken only from a frame that
  decodes completely, so neither a corrupt nor a wrongly keyed frame can push the
  last code forward and lock a node out.
* **Several frames.** A node whose records do not fit one frame
  (``get_max_packet_size()``: the ``espnow`` component's ``max_payload_size``,
  250 bytes by default) flushes and starts a new frame, each with its own header
  (and its own rolling code): every frame decodes on its own.

**Does the ESP-NOW transport resend unchanged values?** Yes. ``ESPNowTransport``
(``espnow/packet_transport/espnow_transport.h``) does not override ``update()``,
and the base ``PacketTransport::update()`` calls ``send_data_(true)`` (every
sensor and binary sensor, changed or not) on every polling interval of a node
that provides values; the interval is ``update_interval``, 15 s by default
(``cv.polling_component_schema("15s")`` in ``packet_transport/__init__.py``).
Between two polls, state changes are sent from ``loop()`` (``send_data_(false)``).
So a silent ESPHome node is a missing node, and the usual availability timeout
applies (read from ESPHome 2026.6.5 and 2026.10.0, identical in this respect;
not observed on hardware).

Decoding (:func:`decode`): sensors become :class:`~.model.Measurement` with the
ESPHome id as key (1-255 characters of ``[A-Za-z0-9_]``); an f32 is reported as
the shortest decimal that maps back to the same f32 (``21.3``, not
``21.299999237060547``); NaN (ESPHome's "unknown") gives ``None``; infinities are
dropped. Binary sensors give ``binary=True`` with ``value = byte != 0``. Device
class, unit and state class are :func:`guess_entity`'s guess from the id (the
integration lets the user override them). The first record of an id wins. A
data frame's ``name`` is its hostname. A body that does not decode completely
gives no values at all: ``decryption_failed`` for a peer with a key (a wrong key
and a damaged frame look alike), and, without a key, ``encrypted`` +
``decryption_failed`` when the body does not start like a clear body (an
encrypted frame, key missing) or ``error`` when it does but breaks later.
``packet_id`` is always ``None``: replays are refused by the rolling code, exact
repeats by the coordinator's payload comparison.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
import hashlib
import math
import re
import struct
from typing import Any, Final

from .. import model
from . import json_payload

MAGIC_DATA: Final = b"\x53\x45"  # 0x4553, little-endian
MAGIC_PING: Final = b"\x48\x50"  # 0x5048, little-endian
MAX_PAYLOAD: Final = 1470
"""The largest ESP-NOW (v2) payload; longer frames are refused."""
MAX_HOSTNAME_LENGTH: Final = 63
"""ESPHome allows 31 (24 + a ``-aabbcc`` MAC suffix); a hostname is at most 63."""
MAX_ID_LENGTH: Final = 255
MAX_NAMES: Final = 8
"""Hostnames whose rolling code one peer's decoder remembers (least recent dropped)."""
PING_LENGTH: Final = 4

ZERO_FILL_KEY: Final = 0
DATA_KEY: Final = 1
SENSOR_KEY: Final = 2
BINARY_SENSOR_KEY: Final = 3
PING_KEY: Final = 4
ROLLING_CODE_KEY: Final = 5

DELTA: Final = 0x9E3779B9
_MASK: Final = 0xFFFFFFFF

# ESPHome's ALLOWED_NAME_CHARS (cv.valid_name) and C++ identifier characters.
_HOSTNAME_CHARS: Final = b"abcdefghijklmnopqrstuvwxyz0123456789-_"
_ID_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_NONZERO: Final = re.compile(rb"[^\x00]")
_F32: Final = struct.Struct("<f")
_U32_PAIR: Final = struct.Struct("<II")

type Key = tuple[int, int, int, int, int, int, int, int]


def hash_key(key: str) -> Key:
    """Return the eight key words ESPHome derives from the YAML key string."""
    words = struct.unpack("<8I", hashlib.sha256(key.encode()).digest())
    return (
        words[0],
        words[1],
        words[2],
        words[3],
        words[4],
        words[5],
        words[6],
        words[7],
    )


def xxtea_decrypt(data: bytes, key: Key) -> bytes:
    """Decrypt ``data`` (a multiple of 4 bytes) with ESPHome's 8-word XXTEA variant."""
    n = len(data) // 4
    if n == 0:
        return b""
    v = list(struct.unpack(f"<{n}I", data))
    k = key
    rounds = 6 + 52 // n
    total = (rounds * DELTA) & _MASK
    y = v[0]
    last = n - 1
    for _ in range(rounds):
        e = total >> 2
        for p in range(last, 0, -1):
            z = v[p - 1]
            mx = (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ (
                (total ^ y) + (k[(p ^ e) & 7] ^ z)
            )
            y = v[p] = (v[p] - mx) & _MASK
        z = v[last]
        mx = (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ (
            (total ^ y) + (k[e & 7] ^ z)
        )
        y = v[0] = (v[0] - mx) & _MASK
        total = (total - DELTA) & _MASK
    return struct.pack(f"<{n}I", *v)


@dataclass(frozen=True, slots=True)
class Header:
    """A frame's clear header: ``ping`` request or data, hostname, where the body starts."""

    ping: bool
    name: str
    body_offset: int


def parse_header(payload: bytes) -> Header | None:
    """Return the clear header of an ESPHome frame, or ``None`` if it is not one.

    Checks: 4 to :data:`MAX_PAYLOAD` bytes; a magic; a hostname of 1 to
    :data:`MAX_HOSTNAME_LENGTH` characters of ``[a-z0-9_-]``; then, for a ping
    request, exactly a 4-byte key; for data, zero padding to a multiple of 4 and a
    non-empty body of a multiple of 4 bytes.
    """
    size = len(payload)
    if size < 4 or size > MAX_PAYLOAD:
        return None
    magic = payload[:2]
    if magic not in (MAGIC_DATA, MAGIC_PING):
        return None
    length = payload[2]
    end = 3 + length
    if not 0 < length <= MAX_HOSTNAME_LENGTH or end > size:
        return None
    raw = payload[3:end]
    if raw.translate(None, _HOSTNAME_CHARS):
        return None
    if magic == MAGIC_PING:
        if size != end + PING_LENGTH:
            return None
        return Header(ping=True, name=raw.decode("ascii"), body_offset=end)
    aligned = (end + 3) & ~3
    if aligned >= size or (size - aligned) % 4:
        return None
    if payload.count(0, end, aligned) != aligned - end:
        return None
    return Header(ping=False, name=raw.decode("ascii"), body_offset=aligned)


@dataclass(frozen=True, slots=True)
class Body:
    """A body's records: the rolling code (``None`` without one) and the readings."""

    rolling_code: int | None
    sensors: tuple[tuple[str, float | None], ...]
    binary_sensors: tuple[tuple[str, bool], ...]


def _shortest(value: float, raw: bytes) -> float:
    """Return the shortest decimal that maps back to the f32 ``raw`` (``value``, finite)."""
    for digits in (6, 7, 8):
        candidate = float(f"{value:.{digits}g}")
        if _F32.pack(candidate) == raw:
            return candidate
    return value  # 9 significant digits always round-trip: the exact value


def _read_id(body: bytes, pos: int) -> tuple[str, int] | None:
    """Read a length-prefixed id at ``pos``: ``(id, next position)``."""
    if pos >= len(body):
        return None
    length = body[pos]
    end = pos + 1 + length
    if length == 0 or end > len(body):
        return None
    raw = body[pos + 1 : end]
    if raw.translate(None, _ID_CHARS):
        return None
    return raw.decode("ascii"), end


def parse_body(body: bytes) -> Body | str:
    """Walk a clear body: a :class:`Body`, or why it is not one (a short reason)."""
    size = len(body)
    if not size:
        return "empty body"
    lead = body[0]
    if lead == DATA_KEY:
        pos = 1
        code: int | None = None
    elif lead == ROLLING_CODE_KEY:
        if size < 9:
            return "rolling code truncated"
        low, high = _U32_PAIR.unpack_from(body, 1)
        code = (high << 32) | low
        pos = 9
    else:
        return f"body starts with 0x{lead:02x}, not a data or rolling-code key"
    sensors: list[tuple[str, float | None]] = []
    binaries: list[tuple[str, bool]] = []
    seen: set[str] = set()
    while pos < size:
        key = body[pos]
        if key == ZERO_FILL_KEY:
            match = _NONZERO.search(body, pos)
            if match is None:
                break
            pos = match.start()
        elif key == PING_KEY:
            if pos + 5 > size:
                return "ping key truncated"
            pos += 5
        elif key == SENSOR_KEY:
            read = _read_id(body, pos + 5) if pos + 5 <= size else None
            if read is None:
                return "sensor record malformed"
            ident, end = read
            if ident not in seen:
                seen.add(ident)
                value: float = _F32.unpack_from(body, pos + 1)[0]
                if math.isnan(value):
                    sensors.append((ident, None))  # ESPHome's "unknown"
                elif not math.isinf(value):
                    sensors.append((ident, _shortest(value, body[pos + 1 : pos + 5])))
            pos = end
        elif key == BINARY_SENSOR_KEY:
            read = _read_id(body, pos + 2) if pos + 2 <= size else None
            if read is None:
                return "binary sensor record malformed"
            ident, end = read
            if ident not in seen:
                seen.add(ident)
                binaries.append((ident, body[pos + 1] != 0))
            pos = end
        else:
            return f"unknown record key 0x{key:02x}"
    return Body(
        rolling_code=code, sensors=tuple(sensors), binary_sensors=tuple(binaries)
    )


class RollingCodes:
    """The last accepted rolling code per hostname, at most :data:`MAX_NAMES`."""

    __slots__ = ("_codes",)

    def __init__(self) -> None:
        """Start with no codes."""
        self._codes: OrderedDict[str, int] = OrderedDict()

    def is_fresh(self, name: str, code: int) -> bool:
        """Whether ``code`` is newer than the last code accepted from ``name``."""
        last = self._codes.get(name)
        return last is None or code > last

    def accept(self, name: str, code: int) -> None:
        """Remember ``code`` as the last from ``name`` (the least recent name goes when full)."""
        self._codes[name] = code
        self._codes.move_to_end(name)
        while len(self._codes) > MAX_NAMES:
            self._codes.popitem(last=False)

    def export(self) -> dict[str, list[int]]:
        """``{hostname: [high word, low word]}``: JSON-able, in acceptance order."""
        return {name: [code >> 32, code & _MASK] for name, code in self._codes.items()}

    def restore(self, data: object) -> int:
        """Replace the codes with an :meth:`export`; malformed entries are skipped.

        Return how many entries were taken.
        """
        self._codes.clear()
        if not isinstance(data, Mapping):
            return 0
        taken = 0
        for name, words in data.items():
            if (
                isinstance(name, str)
                and isinstance(words, list | tuple)
                and len(words) == 2
                and all(
                    isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= _MASK
                    for w in words
                )
            ):
                self.accept(name, (words[0] << 32) | words[1])
                taken += 1
        return taken


@dataclass(frozen=True, slots=True)
class EntityGuess:
    """A default description of an ESPHome id: name, device class, unit, state class."""

    name: str
    device_class: str | None
    unit: str | None
    state_class: str | None


def _candidates(slug: str) -> list[str]:
    """Return the id, its suffixes, its prefixes, then its words (right to left)."""
    words = [word for word in slug.split("_") if word]
    found = ["_".join(words[i:]) for i in range(len(words))]
    found += ["_".join(words[:i]) for i in range(len(words) - 1, 0, -1)]
    found += list(reversed(words))
    return found


@lru_cache(maxsize=1024)
def guess_entity(esphome_id: str, *, binary: bool) -> EntityGuess:
    """Guess how to show an ESPHome id, from the JSON decoder's table of names.

    The id (``living_room_temperature``, ``bme280_humidity``, ``battery_2``,
    ``door``) is normalised to snake case and looked up in
    :data:`json_payload.SENSOR_SPECS` (f32 records) or
    :data:`json_payload.BINARY_SPECS` (u8 records): first whole, then without
    leading words, then without trailing words, then word by word from the right;
    the first match wins. Unknown sensors: no device class or unit,
    ``measurement``; unknown binary sensors: no device class. The name is the id
    with underscores as spaces, first letter capitalised.
    """
    slug = json_payload.normalize_key(esphome_id)
    name = (slug.replace("_", " ").capitalize() or esphome_id)[:64]
    for candidate in _candidates(slug):
        if binary:
            spec = json_payload.lookup_spec(json_payload.BINARY_SPECS, candidate)
            if spec is not None:
                return EntityGuess(name, spec[0], None, None)
        else:
            found = json_payload.lookup_spec(json_payload.SENSOR_SPECS, candidate)
            if found is not None:
                return EntityGuess(name, *found)
    if binary:
        return EntityGuess(name, None, None, None)
    return EntityGuess(name, None, None, "measurement")


def _measurements(body: Body) -> tuple[model.Measurement, ...]:
    found: list[model.Measurement] = []
    for ident, value in body.sensors:
        guess = guess_entity(ident, binary=False)
        found.append(
            model.Measurement(
                key=ident,
                value=value,
                device_class=guess.device_class,
                unit=guess.unit,
                state_class=guess.state_class,
            )
        )
    for ident, on in body.binary_sensors:
        guess = guess_entity(ident, binary=True)
        found.append(
            model.Measurement(
                key=ident,
                value=on,
                device_class=guess.device_class,
                unit=None,
                state_class=None,
                binary=True,
            )
        )
    return tuple(found)


def decode(
    payload: bytes,
    *,
    key: Key | None,
    codes: RollingCodes,
    header: Header | None = None,
) -> model.DecodedPayload:
    """Decode one frame (see the module docstring). Never raises on any bytes.

    ``key``: the peer's hashed key (:func:`hash_key`) or ``None``; ``codes``: the
    peer's rolling codes, updated when a frame with a fresh code decodes
    completely; ``header``: :func:`parse_header`'s result if already known.
    """
    kind = model.PayloadKind.ESPHOME
    if header is None:
        header = parse_header(payload)
        if header is None:
            return model.DecodedPayload(
                kind=kind, error="not an ESPHome packet_transport frame"
            )
    name = header.name
    if header.ping:
        return model.DecodedPayload(kind=kind, name=name)
    clear = payload[header.body_offset :]
    if key is not None:
        body = parse_body(xxtea_decrypt(clear, key))
        if isinstance(body, str):
            return model.DecodedPayload(
                kind=kind, name=name, encrypted=True, decryption_failed=True
            )
    else:
        body = parse_body(clear)
        if isinstance(body, str):
            if clear[0] not in (DATA_KEY, ROLLING_CODE_KEY):
                return model.DecodedPayload(
                    kind=kind, name=name, encrypted=True, decryption_failed=True
                )
            return model.DecodedPayload(kind=kind, name=name, error=body)
    encrypted = key is not None
    if body.rolling_code is not None:
        if not codes.is_fresh(name, body.rolling_code):
            return model.DecodedPayload(
                kind=kind,
                name=name,
                encrypted=encrypted,
                decryption_failed=True,
                replayed=True,
            )
        codes.accept(name, body.rolling_code)
    return model.DecodedPayload(
        kind=kind, measurements=_measurements(body), name=name, encrypted=encrypted
    )


def scan(payload: bytes, header: Header | None = None) -> tuple[bool, int | None]:
    """``(urgent, packet_id)`` without decoding (see ``PeerDecoder.scan``).

    A data frame is always urgent: it may hold binary sensors (encrypted ones can
    not be looked into without decrypting), and a node's records may be spread
    over several frames, so a later frame does not supersede an earlier one. A
    ping request (no values) and a payload that is no ESPHome frame are not.
    """
    if header is None:
        header = parse_header(payload)
    return (header is not None and not header.ping), None


def state_of(codes: RollingCodes) -> dict[str, Any]:
    """Return the state to persist: ``{"esphome_rolling_codes": {...}}`` or ``{}``."""
    exported = codes.export()
    return {"esphome_rolling_codes": exported} if exported else {}
