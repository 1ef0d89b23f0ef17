r"""Seeded senders of hostile, broken and odd ESP-NOW payloads, for the fuzz harness.

A :class:`Sender` is what one simulated ESP-NOW node sends: a profile, the per-peer
settings it is heard with (payload format, BTHome key) and its frames. Everything
comes from ``random.Random(seed)``, so a sender is reproduced by its seed alone
(``python -m devtools.fuzz --sender SEED`` prints its frames).

Profiles: BTHome plain (every object type, texts and raw objects of any length,
objects in and out of order, the ``D2 FC`` prefix, an included MAC), encrypted
with the peer's key (counters rising, repeated, replayed), forged for a peer with a
key (plaintext, JSON, wrong MICs, noise), mutated BTHome; JSON shallow (numbers of
any size, floats to 1e308 and beyond, booleans where numbers were, long texts,
``\\u`` escapes and case-folding characters in keys), deep, mutated and of 1,470
bytes; ESPHome packet_transport nodes (odd ids, any float, a key or none, a rolling
code or none) and Espressif esp-now component frames, plain and mutated; random bytes
of any length.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import math
import random
from typing import Final

from espnowgw.decoders import bthome, json_payload
from espnowgw.decoders.evidence import FormatEvidence
from espnowgw.encoders import EsphomeNode, espnow_ctrl_payload, espnow_frame
from espnowgw.model import BUTTON_EVENT_NAMES, PayloadKind

from .bthome_frames import SERVICE_DATA_UUID_BYTES, seal

MAX_FRAME: Final = 1470  # ESP-NOW v2


@dataclass(frozen=True, slots=True)
class Sender:
    """One simulated node: how it is configured and what it sends."""

    seed: int
    profile: str
    mac: bytes
    payload_format: str  # PayloadFormat value: auto, bthome, json
    bindkey: bytes | None
    frames: tuple[bytes, ...]


# ---- BTHome ----------------------------------------------------------------------------

_OBJECT_IDS: Final = sorted(bthome.OBJECT_SIZES)
_EVENT_OBJECTS: Final = frozenset({0x3A, 0x3C})  # button, dimmer
_TEXT_LENGTHS: Final = (0, 1, 5, 64, 126, 127, 128, 129, 200, 254, 255)


def _text(rng: random.Random, length: int) -> bytes:
    """Return text object content: UTF-8 (often multi-byte), sometimes not UTF-8 at all."""
    if rng.random() < 0.2:
        return rng.randbytes(length)
    alphabet = "abcXYZ09 _-é€😀\u212a\u0130"
    text = "".join(rng.choice(alphabet) for _ in range(length)).encode()
    return text[:length].decode(errors="ignore").encode()


def _object(rng: random.Random, object_id: int) -> bytes:
    size = bthome.OBJECT_SIZES[object_id]
    if size == bthome.VARIABLE_LENGTH:
        length = (
            rng.choice(_TEXT_LENGTHS) if rng.random() < 0.6 else rng.randint(0, 255)
        )
        data = _text(rng, length) if object_id == 0x53 else rng.randbytes(length)
        return bytes([object_id, len(data)]) + data
    if size == bthome.COMMAND_LENGTH:
        args = rng.randint(0, 3)
        reserved = rng.choice((0, 0, 0, 0xE0))
        return bytes([object_id, args | reserved, rng.randrange(256)]) + rng.randbytes(
            args
        )
    if object_id in _EVENT_OBJECTS and rng.random() < 0.6:  # mostly real events
        return bytes([object_id, rng.randint(0, 9)]) + bytes(
            [rng.randint(0, 6)] * (size - 1)
        )
    extreme = rng.random()
    if extreme < 0.15:
        return bytes([object_id]) + b"\xff" * size
    if extreme < 0.25:
        return bytes([object_id]) + b"\x80" * size
    return bytes([object_id]) + rng.randbytes(size)


def bthome_objects(rng: random.Random, *, ordered: bool = True) -> bytes:
    """Return a list of BTHome objects (ids in order, unless not ``ordered``)."""
    ids = rng.choices(_OBJECT_IDS, k=rng.choice((1, 1, 2, 3, 5, 8, 16)))
    if rng.random() < 0.3:
        ids.insert(0, 0x00)  # a packet id first, as most senders do
    if ordered:
        ids.sort()
    return b"".join(_object(rng, object_id) for object_id in ids)[: MAX_FRAME - 16]


def _info(rng: random.Random) -> int:
    return rng.choice((0x40, 0x40, 0x44, 0x42, 0x46))


def bthome_plain(rng: random.Random) -> bytes:
    """Return an unencrypted BTHome frame, as a sender might get it right or almost."""
    info = _info(rng)
    body = bytes([info]) + (
        rng.randbytes(6) if info & bthome.FLAG_MAC_INCLUDED else b""
    )
    body += bthome_objects(rng, ordered=rng.random() < 0.85)
    return SERVICE_DATA_UUID_BYTES + body if rng.random() < 0.2 else body


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Flip, insert, delete, duplicate or truncate bytes: what a bad radio or a bug does."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        choice = rng.randrange(6)
        position = rng.randrange(len(out) + 1)
        if choice == 0 and out:
            out[min(position, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            out[position:position] = rng.randbytes(rng.randint(1, 4))
        elif choice == 2 and out:
            del out[position : position + rng.randint(1, 8)]
        elif choice == 3 and out:
            out[position:position] = out[position : position + rng.randint(1, 16)]
        elif choice == 4:
            del out[position:]
        elif out:
            out[min(position, len(out) - 1)] = rng.choice(b'{}[]",:\\\x00\xff0e-')
    return bytes(out[:MAX_FRAME])


# ---- JSON -------------------------------------------------------------------------------

_KEYS: Final = sorted(
    {
        *json_payload.SENSOR_SPECS,
        *json_payload.BINARY_SPECS,
        *json_payload.EVENT_KEYS,
        *json_payload.PACKET_ID_KEYS,
        "button_2",
        "button3",
        "status",
        "x",
        "ts",
        "time",
        "doorOpen",
        "batteryLow",
        "PM2.5",
        "Temp-2",
    }
)
_EVENT_VALUES: Final = (
    *BUTTON_EVENT_NAMES,
    "single",
    "double",
    "Long Press",
    "hold-press",
    "x",
)
_CASE_FOLDING: Final = ("\u212a", "\u0130")  # lower case: k, i + combining dot


def _key(rng: random.Random) -> str:
    """Return a member name as JSON text, sometimes escaped or case-folding."""
    key = (
        rng.choice(_KEYS)
        if rng.random() < 0.8
        else "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyzABC_-. 0123456789é")
            for _ in range(rng.randint(0, 40))
        )
    )
    if rng.random() < 0.3:
        key = key.upper() if rng.random() < 0.5 else key.capitalize()
    if rng.random() < 0.15:
        key = key.replace("k", _CASE_FOLDING[0]).replace("i", _CASE_FOLDING[1])
    text = _json_string(key)
    if rng.random() < 0.15:  # \u escapes hide the letters from a byte search
        text = "".join(
            f"\\u{ord(c):04x}" if c.isalnum() and rng.random() < 0.5 else c
            for c in text
        )
    return text


def _json_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return (
        '"'
        + "".join(c if ord(c) >= 0x20 else f"\\u{ord(c):04x}" for c in escaped)
        + '"'
    )


def _number(rng: random.Random) -> str:
    choice = rng.randrange(10)
    if choice == 0:
        return str(rng.choice((1, -1)) * 10 ** rng.randint(15, 420))  # beyond any float
    if choice == 1:
        return rng.choice(("9007199254740992", "9007199254740993", "-9007199254740993"))
    if choice == 2:
        return rng.choice(
            ("1e308", "1.7976931348623157e308", "1e999", "-1e999", "5e-324")
        )
    if choice == 3:
        return rng.choice(("-0", "-0.0", "0.0", "1E2", "2.5e-3"))
    if choice in (4, 5):
        return repr(round(rng.uniform(-1000, 1000), rng.randint(0, 6)))
    return str(rng.randint(-100, 300))


def json_value(rng: random.Random, depth: int = 0) -> str:
    """Return a JSON value as text: numbers of any size, texts of any length, nesting."""
    choice = rng.randrange(12)
    if choice < 4:
        return _number(rng)
    if choice == 4:
        return rng.choice(("true", "false"))
    if choice == 5:
        return "null"
    if choice == 6:
        return _json_string(rng.choice(_EVENT_VALUES))
    if choice == 7:
        length = rng.choice((0, 3, 254, 255, 256, 300, 1000))
        return _json_string("".join(rng.choice("ab €😀") for _ in range(length)))
    if choice == 8:
        return _json_string(
            rng.choice(("21.5", "nan", "inf", "1e999", "2026-06-01T11:00:00+00:00", ""))
        )
    if choice == 9 and depth < 3:
        return json_object(rng, depth + 1, rng.randint(0, 6))
    if choice == 10 and depth < 3:
        return (
            "["
            + ",".join(json_value(rng, depth + 1) for _ in range(rng.randint(0, 4)))
            + "]"
        )
    return _number(rng)


def json_object(rng: random.Random, depth: int = 0, members: int = 4) -> str:
    """Return a JSON object as text (members in any number, duplicates possible)."""
    parts = [f"{_key(rng)}:{json_value(rng, depth)}" for _ in range(members)]
    separator = rng.choice((",", ", ", ",\n"))
    return "{" + separator.join(parts) + "}"


def json_frame(rng: random.Random) -> bytes:
    """Return a shallow JSON payload, sometimes padded as C senders do."""
    text = json_object(rng, 0, rng.randint(1, 10))
    if rng.random() < 0.3:  # a button, as remotes send
        key = _json_string(
            rng.choice(("button", "event", "action", "button_2", "Button3"))
        )
        text = f"{{{key}:{_json_string(rng.choice(_EVENT_VALUES))},{text[1:]}"
    if rng.random() < 0.1:
        text = " \t\r\n"[rng.randrange(4)] + text
    data = text.encode()
    if rng.random() < 0.1:
        data += b"\x00" * rng.randint(1, 3)
    return data[:MAX_FRAME]


def json_deep(rng: random.Random) -> bytes:
    """Return nesting: objects in objects, arrays in arrays, to the frame's end."""
    depth = rng.randint(2, 700)
    if rng.random() < 0.5:
        inner = f'{{"temp":{_number(rng)}}}'
        text = '{"a":' * depth + inner + "}" * depth
    else:
        text = '{"a":' + "[" * depth + "1" + "]" * depth + "}"
    return text.encode()[:MAX_FRAME]


def json_large(rng: random.Random) -> bytes:
    """Return an object of as many members as 1,470 bytes hold."""
    parts: list[str] = []
    size = 2
    while True:
        part = f"{_key(rng)}:{json_value(rng, 2)}"
        if size + len(part.encode()) + 1 > MAX_FRAME:
            break
        parts.append(part)
        size += len(part.encode()) + 1
    return ("{" + ",".join(parts) + "}").encode()


# ---- senders ----------------------------------------------------------------------------

type FrameMaker = Callable[[random.Random, "_State"], bytes]


@dataclass(slots=True)
class _State:
    mac: bytes
    key: bytes
    counter: int
    last: bytes = b""
    node: EsphomeNode | None = None


def _encrypted(rng: random.Random, state: _State) -> bytes:
    """Return a genuine encrypted frame; its counter rises, repeats or goes back."""
    step = rng.choice((1, 1, 1, 2, 0, -5, 1 << 20))
    if step == 0 and state.last:
        return state.last  # a repeat, byte for byte
    state.counter = (state.counter + step) & 0xFFFFFFFF
    info = rng.choice((0x41, 0x41, 0x45))
    frame = seal(
        bthome_objects(rng)[:200],
        state.counter,
        mac=state.mac,
        key=state.key,
        info=info,
    )
    state.last = frame
    return SERVICE_DATA_UUID_BYTES + frame if rng.random() < 0.1 else frame


def _forged(rng: random.Random, state: _State) -> bytes:
    """Return what a forger sends with a keyed peer's MAC (or, now and then, the peer)."""
    choice = rng.randrange(6)
    if choice == 0:
        return _encrypted(rng, state)
    if choice == 1:
        return bthome_plain(rng)
    if choice == 2:
        return json_frame(rng)
    if choice == 3:
        genuine = _encrypted(rng, state)
        return genuine[:-1] + bytes([genuine[-1] ^ 0x01])  # a wrong MIC
    if choice == 4:
        return bytes([0x41]) + rng.randbytes(rng.randint(2, 40))
    return rng.randbytes(rng.randint(0, 64))


def _esphome(rng: random.Random, state: _State) -> bytes:
    """Return an ESPHome packet_transport frame: odd ids, any float, maybe a key."""
    if state.node is None:
        name = "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_-")
            for _ in range(rng.randint(1, 40))
        )
        key = rng.choice((None, None, "k", "another key"))
        state.node = EsphomeNode(name, key=key, rolling_code=rng.random() < 0.5)
    ident = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_-.:/ é"
    sensors = [
        (
            "".join(rng.choice(ident) for _ in range(rng.randint(1, 40))),
            rng.choice(
                (
                    math.nan,
                    math.inf,
                    -math.inf,
                    3.4e38,
                    -0.0,
                    1e-45,
                    rng.uniform(-1e4, 1e4),
                )
            ),
        )
        for _ in range(rng.randint(0, 12))
    ]
    binaries = [
        (
            "".join(rng.choice(ident) for _ in range(rng.randint(1, 30))),
            rng.random() < 0.5,
        )
        for _ in range(rng.randint(0, 6))
    ]
    if not sensors and not binaries:
        sensors = [("temperature", 21.5)]
    return rng.choice(state.node.frames(sensors, binaries))


def _espnow(rng: random.Random, state: _State) -> bytes:
    """Return an Espressif esp-now component frame of the sender (its MAC inside)."""
    if rng.random() < 0.6:
        payload = espnow_ctrl_payload(
            rng.choice((0x0101, 0x0200, 0x0201, 0x0202, rng.randrange(1 << 16))),
            rng.randrange(1 << 16),
            rng.choice((0, 1, 2, 255, rng.randrange(1 << 32))),
        )
    else:
        payload = rng.randbytes(rng.randint(0, 64))
    return espnow_frame(
        rng.choice((5, 5, 4, 0, 1, 2, 3, 6, rng.randrange(16))),
        payload,
        src=state.mac,
        magic=rng.randrange(1 << 16),
        security=rng.random() < 0.1,
    )


_PROFILES: Final[dict[str, tuple[int, str, bool, FrameMaker]]] = {
    # name: (weight, payload format, keyed, frame maker)
    "bthome_plain": (14, "auto", False, lambda rng, s: bthome_plain(rng)),
    "bthome_configured": (4, "bthome", False, lambda rng, s: bthome_plain(rng)),
    "bthome_encrypted": (10, "auto", True, _encrypted),
    "bthome_forged": (6, "auto", True, _forged),
    "bthome_mutated": (
        10,
        "auto",
        False,
        lambda rng, s: mutate(rng, bthome_plain(rng)),
    ),
    "json_shallow": (14, "auto", False, lambda rng, _s: json_frame(rng)),
    "json_configured": (4, "json", False, lambda rng, _s: json_frame(rng)),
    "json_deep": (4, "auto", False, lambda rng, _s: json_deep(rng)),
    "json_mutated": (12, "auto", False, lambda rng, _s: mutate(rng, json_frame(rng))),
    "json_large": (6, "auto", False, lambda rng, _s: json_large(rng)),
    "esphome": (6, "auto", False, _esphome),
    "esphome_mutated": (4, "auto", False, lambda rng, s: mutate(rng, _esphome(rng, s))),
    "espnow_ctrl": (5, "auto", False, _espnow),
    "espnow_mutated": (3, "auto", False, lambda rng, s: mutate(rng, _espnow(rng, s))),
    "random_bytes": (
        12,
        "auto",
        False,
        lambda rng, _s: rng.randbytes(rng.randint(0, MAX_FRAME)),
    ),
}
PROFILES: Final[Sequence[str]] = tuple(_PROFILES)
_WEIGHTS: Final = [weight for weight, *_ in _PROFILES.values()]


def make_sender(
    seed: int, frames: int | None = None, profile: str | None = None
) -> Sender:
    """Return the sender of ``seed``: its profile, settings and frames (1 to 16)."""
    rng = random.Random(seed)
    name = profile or rng.choices(PROFILES, weights=_WEIGHTS)[0]
    _weight, payload_format, keyed, maker = _PROFILES[name]
    mac = bytes([0x0A]) + rng.randbytes(5)
    state = _State(mac, rng.randbytes(16), rng.randrange(1 << 32))
    count = frames if frames is not None else rng.randint(1, 16)
    return Sender(
        seed=seed,
        profile=name,
        mac=mac,
        payload_format=payload_format,
        bindkey=state.key if keyed else None,
        frames=tuple(maker(rng, state) for _ in range(count)),
    )


def random_sender_kind(rng: random.Random, frames: int) -> PayloadKind | None:
    """Return the kind a sender of random payloads is committed as (it must be None).

    The sender keeps one length (any, or a short one: short payloads walk as BTHome
    objects most often) or varies it frame by frame, up to 1,470 bytes.
    """
    profile = rng.randrange(3)
    length = rng.randint(1, MAX_FRAME) if profile == 0 else rng.randint(1, 24)
    evidence = FormatEvidence(rng.randbytes(6))  # the MAC: esp-now frames need it
    for _ in range(frames):
        size = rng.randint(1, MAX_FRAME) if profile == 2 else length
        evidence.feed(rng.randbytes(size))
    return evidence.committed
