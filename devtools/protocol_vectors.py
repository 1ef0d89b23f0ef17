"""Shared test vectors of the gateway link protocol, generated from the Python library.

The C gateway core (firmware/) and the Python library must agree byte for byte. This
module writes ``firmware/tests/vectors.txt`` from ``espnowgw``'s codec and messages;
the C tests decode and re-encode every vector, and ``tests/firmware/test_vectors.py``
checks that the committed file equals a fresh generation, so a change on either side
that breaks the other fails CI::

    python -m devtools.protocol_vectors          # rewrite the file
    python -m devtools.protocol_vectors --check  # exit 1 if it is out of date

The format (one vector a line) is described in the file's own header.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
import dataclasses
from pathlib import Path
import random
import struct
import sys
from typing import Final

from espnowgw.codec import MAX_BODY, BodyParser, FrameDecoder, encode_frame
from espnowgw.mac import BROADCAST, mac_from_str
from espnowgw.messages import (
    MAX_PAYLOAD,
    MESSAGE_TYPES,
    AddPeer,
    Capability,
    CommandResult,
    FrameType,
    GetInfo,
    GetPeers,
    Hello,
    Log,
    LogLevel,
    Message,
    Packet,
    PeerEntry,
    PeerList,
    Ping,
    Pong,
    RemovePeer,
    Send,
    SendResult,
    SetChannel,
    SetPmk,
    Stats,
    Status,
    gateway_decoder,
    host_decoder,
)

PATH: Final = Path(__file__).resolve().parents[1] / "firmware" / "tests" / "vectors.txt"
SEED: Final = 20261202
STREAMS: Final = 24

HEADER: Final = """\
# Test vectors of the gateway link protocol 1.1 (docs/protocol.md).
# Generated from the Python library (espnowgw) by `python -m devtools.protocol_vectors`;
# do not edit. Read by firmware/tests (C) and tests/firmware (Python).
#
# One vector a line; fields are key=value, integers in decimal, MAC addresses, bytes
# and text (UTF-8) in hex; PEER_LIST's records as mac/channel/flags, joined by commas:
#
# message <Name> <field>=<value>... frame=<hex>
#     A message (Name and fields as in espnowgw.messages, in order) and its frame.
# extended <Name> <field>=<value>... frame=<hex>
#     A frame whose body carries bytes after the layout of protocol 1.1 (a later minor
#     version): a receiver of 1.1 reads these fields and ignores the rest.
# malformed type=<n> body=<hex>
#     A body that the receiver must reject (too short, a tail or records beyond the
#     body, a PACKET payload above 1470 bytes).
# stream in=<hex> flush=<0|1> out=<hex> frames=<n> header_errors=<n> oversize=<n>
#        crc_errors=<n> bytes_skipped=<n> stale_partials=<n>
#     A byte stream with damage: out is the concatenation of the frames (types 1-254)
#     a decoder delivers, however the stream is split; the counters are the decoder's
#     after the whole stream (and, if flush=1, after giving up the partial frame at
#     its end).
"""

_MAC: Final = mac_from_str("24:6F:28:A1:B2:C3")
_PEER: Final = mac_from_str("84:F7:03:12:34:56")


def _value(value: object) -> str:
    if isinstance(value, bool):
        raise TypeError("no booleans in protocol messages")
    if isinstance(value, tuple):  # PEER_LIST's records
        return ",".join(
            f"{p.mac.hex()}/{p.channel}/{p.flags}"
            for p in value
            if isinstance(p, PeerEntry)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return value.encode().hex()
    raise TypeError(f"cannot write {value!r}")


def describe(msg: Message) -> str:
    """Return ``Name field=value ...`` for a message, as the C formatter writes it."""
    fields = " ".join(
        f"{f.name}={_value(getattr(msg, f.name))}" for f in dataclasses.fields(msg)
    )
    return f"{type(msg).__name__} {fields}".rstrip()


def _pattern(size: int, start: int = 0) -> bytes:
    return bytes((start + i * 7) & 0xFF for i in range(size))


def messages() -> list[Message]:
    """Every message type, the examples of docs/protocol.md and the edge cases."""
    caps = (
        Capability.SEND
        | Capability.PEERS
        | Capability.SET_CHANNEL
        | Capability.ENCRYPTION
        | Capability.STATS
    )
    caps_1_1 = caps | Capability.PEER_LIST | Capability.SET_PMK
    every_cap = 0x1FF  # every capability of protocol 1.1
    out: list[Message] = [
        Hello(1, 0, _MAC, 1, 250, caps, "espnow-gw 1.0.0"),
        Hello(1, 1, _MAC, 1, 250, caps_1_1, "espnow-gw 1.1.0"),
        Hello(1, 0, _MAC, 14, MAX_PAYLOAD, 0x7F, ""),
        Hello(1, 1, _MAC, 14, MAX_PAYLOAD, every_cap, ""),
        Hello(1, 3, _MAC, 6, 1470, every_cap | 0x80000000, "é" * 127 + "x"),
        Hello(2, 0, b"\x00" * 6, 0, 0, 0, "espnow-gw 2.0.0 (ünïcödé)"),
        Packet(_PEER, BROADCAST, -61, -95, 1, 0, 41, 12_345_678, b"\x01\x17\x2a"),
        Packet(_PEER, _MAC, 0, 0, 14, 11, 0, 0, b""),
        Packet(_PEER, _MAC, -128, 127, 6, 31, 0xFFFFFFFF, 2**64 - 1, _pattern(250)),
        Packet(_PEER, BROADCAST, 127, -128, 13, 3, 7, 2**40, _pattern(MAX_PAYLOAD, 3)),
        Stats(3600, 12000, 3, 250, 2, 0, 215000, 198000, 5, 32),
        Stats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        Stats(*(0xFFFFFFFF,) * 8, 0xFFFF, 0xFFFF),
        *(SendResult(7, _PEER, status) for status in Status),
        SendResult(65535, BROADCAST, 200),
        CommandResult(8, FrameType.SET_CHANNEL, Status.OK),
        CommandResult(9, FrameType.ADD_PEER, Status.PEER_TABLE_FULL),
        CommandResult(10, FrameType.REMOVE_PEER, Status.UNKNOWN_PEER),
        CommandResult(12, FrameType.SET_PMK, Status.OK),
        CommandResult(13, FrameType.SET_PMK, Status.NOT_SUPPORTED),
        CommandResult(14, FrameType.GET_PEERS, Status.NOT_SUPPORTED),
        CommandResult(0, 0x99, 255),
        Pong(1),
        Pong(0),
        Pong(65535),
        *(Log(level, "tx queue full") for level in LogLevel),
        Log(LogLevel.INFO, ""),
        Log(0, "x" * 255),
        Log(LogLevel.DEBUG, "température 21,5 °C ✓"),
        Ping(1),
        Ping(0),
        Ping(65535),
        GetInfo(),
        SetChannel(8, 6),
        SetChannel(1, 1),
        SetChannel(2, 14),
        SetChannel(3, 0),
        SetChannel(4, 255),
        Send(7, _PEER, b"on"),
        Send(11, BROADCAST, b""),
        Send(12, _PEER, _pattern(250, 1)),
        Send(13, BROADCAST, _pattern(MAX_PAYLOAD, 2)),
        Send(14, _PEER, _pattern(MAX_PAYLOAD + 1, 5)),
        AddPeer(9, _PEER, 0, AddPeer.FLAG_ENCRYPT, bytes(range(16))),
        AddPeer(15, _PEER, 14, 0, bytes(16)),
        AddPeer(16, BROADCAST, 0, 0xFF, b"\xff" * 16),
        RemovePeer(10, _PEER),
        RemovePeer(17, BROADCAST),
        *_peer_lists(),
        GetPeers(11),
        GetPeers(0),
        GetPeers(65535),
        SetPmk(12, b"pmk1234567890123"),
        SetPmk(18, bytes(16)),
        SetPmk(19, bytes(range(0xF0, 0x100))),
    ]
    missing = set(MESSAGE_TYPES) - {msg.TYPE for msg in out}
    assert not missing, f"no vector for {missing}"
    return out


def _peer_lists() -> list[Message]:
    """PEER_LISTs: docs/protocol.md's example, none, a full ESP-NOW table, the most."""
    encrypted = PeerEntry.FLAG_ENCRYPT
    full = tuple(
        PeerEntry(bytes((2, 0, 0, 0, 1, i)), i % 15, encrypted if i < 7 else 0)
        for i in range(19)
    )
    most = (MAX_BODY - PeerList.FIXED.size) // PeerEntry.LAYOUT.size  # 191 records
    return [
        PeerList(
            11, 20, 7, (PeerEntry(BROADCAST, 0, 0), PeerEntry(_PEER, 0, encrypted))
        ),
        PeerList(1, 20, 7, ()),
        PeerList(2, 20, 7, (PeerEntry(BROADCAST, 0, 0), *full)),
        PeerList(65535, 255, 0, (PeerEntry(_PEER, 14, 0xFF),)),
        PeerList(
            3, 0, 0, tuple(PeerEntry(_pattern(6, i), i, i & 1) for i in range(most))
        ),
    ]


def _decoder_for(frame_type: int) -> FrameDecoder[Message]:
    return host_decoder() if frame_type < 0x80 else gateway_decoder()


def _check_message(msg: Message, frame: bytes) -> None:
    decoder = _decoder_for(msg.TYPE)
    assert decoder.feed(frame) == [msg], msg
    assert decoder.stats.frames == 1
    assert decoder.buffered == 0


def extended() -> list[tuple[Message, bytes]]:
    """Messages whose frames carry extra bytes after the 1.1 layout."""
    out: list[tuple[Message, bytes]] = []
    for msg in (
        Ping(5),
        GetInfo(),
        Hello(1, 2, _MAC, 3, 250, 0x1CF, "espnow-gw 1.2.0"),
        Packet(_PEER, BROADCAST, -70, 0, 3, 0, 9, 1000, b"\x40\x02\xc4\x09"),
        Stats(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        Send(6, _PEER, b"x"),
        AddPeer(7, _PEER, 1, 0, bytes(16)),
        GetPeers(8),
        SetPmk(9, b"pmk1234567890123"),
        PeerList(10, 20, 7, (PeerEntry(BROADCAST, 0, 0),)),
        PeerList(11, 20, 7, ()),
    ):
        frame = encode_frame(msg.TYPE, msg.body() + b"\x01\x02\x03")
        _check_message(msg, frame)
        out.append((msg, frame))
    return out


def malformed() -> list[tuple[int, bytes]]:
    """Bodies a receiver must reject, each one checked against the Python parsers."""
    bodies: list[tuple[int, bytes]] = []
    for msg in messages():
        body = msg.body()
        if msg.FIXED.size > 0 and (msg.TYPE, body[: msg.FIXED.size - 1]) not in bodies:
            bodies.append((msg.TYPE, body[: msg.FIXED.size - 1]))  # too short
            bodies.append((msg.TYPE, b""))
    bodies += [
        (FrameType.HELLO, Hello(1, 0, _MAC, 1, 250, 0, "abcde").body()[:-1]),
        (FrameType.LOG, bytes((LogLevel.INFO, 3)) + b"ab"),
        (FrameType.PEER_LIST, struct.pack("<HBBB", 1, 20, 7, 1) + bytes(7)),
        (FrameType.PEER_LIST, struct.pack("<HBBB", 1, 20, 7, 2) + bytes(8)),
        (FrameType.PEER_LIST, struct.pack("<HBBB", 1, 20, 7, 255) + bytes(1528)),
        (FrameType.SEND, struct.pack("<H6sH", 1, _PEER, 3) + b"ab"),
        (FrameType.PACKET, Packet(_PEER, _MAC, 0, 0, 1, 0, 0, 0, b"abc").body()[:-1]),
        (
            FrameType.PACKET,
            struct.pack("<6s6sbbBBIQH", _PEER, _MAC, 0, 0, 1, 0, 0, 0, MAX_PAYLOAD + 1)
            + bytes(MAX_PAYLOAD + 1),
        ),
    ]
    unique = list(dict.fromkeys(bodies))
    for frame_type, body in unique:
        decoder = _decoder_for(frame_type)
        assert decoder.feed(encode_frame(frame_type, body)) == [], (frame_type, body)
        assert decoder.stats.malformed == 1, (frame_type, body)
    return unique


def _raw_parser(frame_type: int) -> BodyParser[tuple[int, bytes]]:
    return lambda buf, start, end: (frame_type, bytes(buf[start:end]))


def _raw_decoder() -> FrameDecoder[tuple[int, bytes]]:
    """Return a frame-level decoder: every type 1-254 delivered as (type, body)."""
    return FrameDecoder({t: _raw_parser(t) for t in range(1, 255)})


def _random_frame(rng: random.Random) -> bytes:
    frame_type = rng.choice((0x02, 0x06, 0x81, 0x84, rng.randrange(1, 255)))
    size = rng.choice((0, 2, 3, 9, rng.randrange(0, 64), rng.randrange(200, 400)))
    body = rng.randbytes(size)
    if size > 4 and rng.random() < 0.3:  # a SOF and a plausible header inside the body
        at = rng.randrange(0, size - 4)
        body = body[:at] + b"\xe5\xa7" + body[at + 2 :]
    return encode_frame(frame_type, body)


def _piece(rng: random.Random) -> bytes:
    frame = _random_frame(rng)
    kind = rng.choices(
        ("good", "flip", "cut", "garbage", "oversize", "bad_hcs", "sof_only"),
        weights=(8, 3, 2, 2, 1, 1, 1),
    )[0]
    if kind == "good":
        return frame
    if kind == "flip":
        damaged = bytearray(frame)
        damaged[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
        return bytes(damaged)
    if kind == "cut":
        return frame[: rng.randrange(1, len(frame))]
    if kind == "garbage":
        noise = bytearray(rng.randbytes(rng.randrange(1, 40)))
        for _ in range(rng.randrange(0, 3)):
            noise[rng.randrange(len(noise))] = 0xE5
        return bytes(noise) + b"I (123) boot: text\r\n"
    if kind == "oversize":
        length = rng.randrange(MAX_BODY + 1, 0x10000)
        frame_type = rng.randrange(1, 255)
        check = ~(frame_type + (length & 0xFF) + (length >> 8)) & 0xFF
        return b"\xe5\xa7" + struct.pack("<BHB", frame_type, length, check)
    if kind == "bad_hcs":
        return frame[:5] + bytes((frame[5] ^ 0x5A,)) + frame[6:]
    return b"\xe5" if rng.random() < 0.5 else b"\xe5\xa7"


def _stream_line(data: bytes, *, flush: bool) -> str:
    decoder = _raw_decoder()
    delivered = decoder.feed(data)
    if flush:
        delivered += decoder.flush()
    # The result must not depend on how the stream is split.
    for size in (1, 7, 64):
        again = _raw_decoder()
        split = [
            item
            for at in range(0, len(data), size)
            for item in again.feed(data[at : at + size])
        ]
        if flush:
            split += again.flush()
        assert split == delivered
        assert again.stats == decoder.stats
    s = decoder.stats
    out = b"".join(encode_frame(frame_type, body) for frame_type, body in delivered)
    return (
        f"stream in={data.hex()} flush={int(flush)} out={out.hex()} frames={s.frames}"
        f" header_errors={s.header_errors} oversize={s.oversize}"
        f" crc_errors={s.crc_errors} bytes_skipped={s.bytes_skipped}"
        f" stale_partials={s.stale_partials}"
    )


def streams() -> Iterator[str]:
    """Damaged streams, each ending with a good frame; and streams given up by flush."""
    rng = random.Random(SEED)
    for _ in range(STREAMS):
        pieces = [_piece(rng) for _ in range(rng.randrange(3, 16))]
        yield _stream_line(
            b"".join(pieces) + Ping(rng.randrange(65536)).encode(), flush=False
        )
    ping = Ping(0x1234).encode()
    pong = Pong(0x4321).encode()
    # A frame whose end was lost holds back the good frames inside its announced
    # length: only giving it up (flush) delivers them.
    lost_end = SetChannel(1, 6).encode()[:-3]
    held = encode_frame(0x84, bytes(100))[:20]
    yield _stream_line(ping + held + pong, flush=False)
    yield _stream_line(ping + held + pong, flush=True)
    yield _stream_line(lost_end + ping + pong, flush=True)
    yield _stream_line(ping + b"\xe5", flush=True)
    yield _stream_line(ping + b"\xe5\xa7\x81", flush=True)
    yield _stream_line(b"", flush=True)


def generate() -> str:
    """Return the contents of the vector file."""
    lines = [HEADER.rstrip("\n")]
    for msg in messages():
        frame = msg.encode()
        _check_message(msg, frame)
        lines.append(f"message {describe(msg)} frame={frame.hex()}")
    lines.extend(
        f"extended {describe(msg)} frame={frame.hex()}" for msg, frame in extended()
    )
    lines.extend(
        f"malformed type={frame_type} body={body.hex()}"
        for frame_type, body in malformed()
    )
    lines.extend(streams())
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the vector file, or with --check compare it."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.protocol_vectors", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--output", type=Path, default=PATH)
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = (
            args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        )
        if current != text:
            print(
                f"{args.output} is out of date: run python -m devtools.protocol_vectors"
            )
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
