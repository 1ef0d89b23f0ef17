"""Frame codec and messages: round trips and robustness against any input."""

from __future__ import annotations

import random
import struct

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from espnowgw.codec import MAX_BODY, MAX_FRAME, OVERHEAD, SOF, FrameDecoder, encode_frame, header_check
from espnowgw.mac import BROADCAST, mac_from_str, mac_to_str
from espnowgw.messages import AddPeer, CommandResult, FrameType, GetInfo, GetPeers, Hello, Log, Message, Packet, PeerEntry, PeerList, Ping, Pong, RemovePeer, Send, SendResult, SetChannel, SetPmk, Stats, gateway_decoder, host_decoder

MAC = bytes.fromhex("aabbccddeeff")
GATEWAY_MESSAGES: list[Message] = [
    Hello(1, 0, MAC, 6, 1470, 0x7F, "1.2.3-ü"),
    Packet(MAC, BROADCAST, -61, -95, 6, 0, 42, 123_456_789_012, b"\x40\x00\x11"),
    Packet(MAC, MAC, -128, 0, 14, 11, 0xFFFFFFFF, 0, b""),
    Packet(
        MAC, BROADCAST, 127, -1, 1, 0, 0, 2**64 - 1, bytes(range(256)) * 5 + bytes(190)
    ),
    Stats(3600, 100, 2, 5, 1, 0, 150_000, 120_000, 7, 32),
    SendResult(7, MAC, 2),
    CommandResult(8, FrameType.SET_CHANNEL, 0),
    Pong(65535),
    Log(3, "hello gateway"),
    Log(1, ""),
    PeerList(9, 20, 7, ()),
    PeerList(
        10, 20, 7, (PeerEntry(BROADCAST, 0, 0), PeerEntry(MAC, 6, PeerEntry.FLAG_ENCRYPT))
    ),
]
HOST_MESSAGES: list[Message] = [
    Ping(1),
    GetInfo(),
    SetChannel(2, 11),
    Send(3, MAC, b"payload"),
    Send(4, BROADCAST, bytes(1470)),
    AddPeer(5, MAC, 0, AddPeer.FLAG_ENCRYPT, bytes(range(16))),
    RemovePeer(6, MAC),
    GetPeers(7),
    SetPmk(8, b"pmk1234567890123"),
]


@pytest.mark.parametrize("message", GATEWAY_MESSAGES, ids=lambda m: type(m).__name__)
def test_gateway_messages_round_trip(message: Message) -> None:
    assert host_decoder().feed(message.encode()) == [message]


@pytest.mark.parametrize("message", HOST_MESSAGES, ids=lambda m: type(m).__name__)
def test_host_messages_round_trip(message: Message) -> None:
    assert gateway_decoder().feed(message.encode()) == [message]


def test_every_frame_type_has_a_round_trip() -> None:
    covered = {m.TYPE for m in GATEWAY_MESSAGES + HOST_MESSAGES}
    assert covered == set(FrameType)


def test_frame_layout() -> None:
    frame = Ping(0x0102).encode()
    assert frame[:2] == SOF
    assert frame[2] == FrameType.PING
    assert int.from_bytes(frame[3:5], "little") == 2
    assert frame[5] == header_check(FrameType.PING, 2)
    assert frame[6:8] == b"\x02\x01"
    assert len(frame) == OVERHEAD + 2


def test_overhead_is_a_few_percent_at_250_byte_payloads() -> None:
    packet = Packet(MAC, BROADCAST, -60, -95, 1, 0, 1, 1, bytes(250))
    frame = packet.encode()
    assert len(frame) == 290
    assert OVERHEAD / len(packet.body()) < 0.04


def test_encode_rejects_reserved_types_and_oversize_bodies() -> None:
    with pytest.raises(ValueError, match="reserved"):
        encode_frame(0x00, b"")
    with pytest.raises(ValueError, match="reserved"):
        encode_frame(0xFF, b"")
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(0x02, bytes(MAX_BODY + 1))


def test_oversize_length_is_rejected_before_waiting_or_allocating() -> None:
    decoder = host_decoder()
    length = 60_000
    bogus = SOF + struct.pack("<BHB", 0x02, length, header_check(0x02, length))
    good = Pong(9).encode()
    # The decoder must not wait for 60,000 bytes: the good frame right behind is decoded.
    assert decoder.feed(bogus + good) == [Pong(9)]
    assert decoder.stats.oversize == 1
    assert decoder.buffered == 0


def test_bad_header_check_does_not_stall() -> None:
    decoder = host_decoder()
    bad = bytearray(Pong(1).encode())
    bad[3] = 0x40  # length corrupted to 64: the header check catches it at once
    assert decoder.feed(bytes(bad) + Pong(2).encode()) == [Pong(2)]
    assert decoder.stats.header_errors == 1


def test_unknown_types_are_skipped_and_counted() -> None:
    decoder = host_decoder()
    future = encode_frame(0x70, b"a message from a newer gateway")
    assert decoder.feed(future + Pong(3).encode()) == [Pong(3)]
    assert decoder.stats.unknown_types == 1
    assert decoder.stats.frames == 2


def test_longer_bodies_from_newer_minor_versions_are_accepted() -> None:
    body = Pong(4).body() + b"\x01\x02 appended field"
    assert host_decoder().feed(encode_frame(FrameType.PONG, body)) == [Pong(4)]
    hello = Hello(1, 3, MAC, 1, 250, 0, "fw")
    extended = encode_frame(FrameType.HELLO, hello.body() + b"\x09\x09")
    assert host_decoder().feed(extended) == [hello]


@pytest.mark.parametrize(
    ("frame_type", "body"),
    [
        (FrameType.PONG, b"\x01"),  # shorter than the fixed part
        (
            FrameType.HELLO,
            Hello(1, 0, MAC, 1, 250, 0, "firmware").body()[:-2],
        ),  # text cut
        (FrameType.PACKET, Packet(MAC, MAC, 0, 0, 1, 0, 0, 0, b"abc").body()[:-1]),
        (
            FrameType.PACKET,
            Packet(MAC, MAC, 0, 0, 1, 0, 0, 0, b"").body()[:-2]
            + (1471).to_bytes(2, "little")
            + bytes(1471),
        ),  # payload above ESP-NOW v2
        (FrameType.PEER_LIST, PeerList(1, 20, 7, (PeerEntry(MAC, 0, 0),)).body()[:-1]),
        (FrameType.PEER_LIST, b"\x01\x00\x14"),  # shorter than the fixed part
    ],
)
def test_malformed_bodies_are_dropped_and_counted(frame_type: int, body: bytes) -> None:
    decoder = host_decoder()
    assert decoder.feed(encode_frame(frame_type, body) + Pong(5).encode()) == [Pong(5)]
    assert decoder.stats.malformed == 1


def test_invalid_utf8_text_is_replaced_not_fatal() -> None:
    body = bytes([3, 2]) + b"\xff\xfe"
    (log,) = host_decoder().feed(encode_frame(FrameType.LOG, body))
    assert isinstance(log, Log)
    assert log.text == "\ufffd\ufffd"


def test_mac_helpers() -> None:
    assert mac_to_str(MAC) == "AA:BB:CC:DD:EE:FF"
    assert mac_from_str("aa:bb:cc:dd:ee:ff") == MAC
    assert mac_from_str("AA-BB-CC-DD-EE-FF") == MAC
    with pytest.raises(ValueError, match="not a MAC"):
        mac_from_str("AA:BB")


def _stream(seed: int, count: int) -> tuple[bytes, list[Message]]:
    rng = random.Random(seed)
    messages: list[Message] = []
    for seq in range(count):
        payload = rng.randbytes(rng.choice((0, 1, 13, 250, 1470)))
        messages.append(
            Packet(MAC, BROADCAST, -50, -90, 1, 0, seq, seq * 1000, payload)
        )
    return b"".join(m.encode() for m in messages), messages


@given(cuts=st.lists(st.integers(min_value=0, max_value=40_000), max_size=60))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_split_points_do_not_change_the_result(cuts: list[int]) -> None:
    data, messages = _stream(1, 60)
    decoder = host_decoder()
    out: list[Message] = []
    start = 0
    for cut in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    assert out == messages
    assert decoder.buffered == 0


def test_one_byte_at_a_time_equals_64k_at_once() -> None:
    data, messages = _stream(2, 40)
    noisy = b"\x00garbage\xe5" + data[:3000] + b"\xe5\xa7\x02junk" + data[3000:]
    bytewise = host_decoder()
    out_bytewise = [
        m for i in range(len(noisy)) for m in bytewise.feed(noisy[i : i + 1])
    ]
    whole = host_decoder()
    out_whole: list[Message] = []
    for i in range(0, len(noisy), 65536):
        out_whole += whole.feed(noisy[i : i + 65536])
    assert out_bytewise == out_whole
    assert bytewise.stats == whole.stats
    assert len(out_whole) >= len(messages) - 1


@given(garbage=st.binary(max_size=4096))
@settings(max_examples=300)
def test_garbage_never_raises_and_never_yields_a_bad_frame(garbage: bytes) -> None:
    decoder = host_decoder()
    for message in decoder.feed(garbage):
        # Anything decoded from garbage must be a real frame present in the input.
        assert message.encode() in garbage
    assert decoder.buffered < MAX_FRAME


@given(
    data=st.data(),
    count=st.integers(min_value=2, max_value=25),
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_resynchronises_after_corruption(data: st.DataObject, count: int) -> None:
    """Damage some frames (bit flips, truncation, inserted garbage): the others survive."""
    seed = data.draw(st.integers(min_value=0, max_value=2**32), label="seed")
    _, messages = _stream(seed, count)
    frames = [m.encode() for m in messages]
    damaged_indexes = data.draw(
        st.sets(st.integers(min_value=0, max_value=count - 2), max_size=count // 2),
        label="damaged",
    )
    out_frames: list[bytes] = []
    for index, frame in enumerate(frames):
        if index in damaged_indexes:
            how = data.draw(
                st.sampled_from(["flip", "truncate", "insert"]), label="how"
            )
            position = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
            if how == "flip":
                bit = data.draw(st.integers(min_value=0, max_value=7))
                frame = (
                    frame[:position]
                    + bytes([frame[position] ^ (1 << bit)])
                    + frame[position + 1 :]
                )
            elif how == "truncate":
                frame = frame[:position]
            else:
                junk = data.draw(st.binary(min_size=1, max_size=64))
                frame = frame[:position] + junk + frame[position:]
        out_frames.append(frame)
    stream = b"".join(out_frames)
    chunk = data.draw(st.integers(min_value=1, max_value=5000), label="chunk")
    decoder = host_decoder()
    decoded: list[Message] = []
    for i in range(0, len(stream), chunk):
        decoded += decoder.feed(stream[i : i + chunk])
    decoded += decoder.flush()  # the line goes quiet: give up on a partial frame
    # Only real frames come out, in order, each at most once ...
    seqs = [m.seq for m in decoded if isinstance(m, Packet)]
    assert seqs == sorted(set(seqs))
    for message in decoded:
        assert message == messages[message.seq]  # type: ignore[attr-defined]
    # ... and every frame that was not damaged is among them.
    intact = {i for i in range(count) if i not in damaged_indexes}
    assert intact <= set(seqs)


def test_flush_releases_frames_stuck_behind_a_truncated_frame() -> None:
    decoder = host_decoder()
    truncated = Packet(MAC, BROADCAST, 0, 0, 1, 0, 0, 0, bytes(200)).encode()[:20]
    assert decoder.feed(truncated + Pong(1).encode()) == []  # waiting for 200 bytes
    assert decoder.flush() == [Pong(1)]
    assert decoder.stats.stale_partials == 1
    assert decoder.buffered == 0
    assert decoder.flush() == []
    assert decoder.stats.stale_partials == 1


def test_decoder_buffer_stays_bounded() -> None:
    decoder: FrameDecoder[Message] = host_decoder()
    big = Packet(MAC, BROADCAST, 0, 0, 1, 0, 0, 0, bytes(1470)).encode()
    for i in range(len(big) - 1):
        decoder.feed(big[i : i + 1])
        assert decoder.buffered <= MAX_FRAME
    assert len(decoder.feed(big[-1:])) == 1
    decoder.feed(SOF + b"\x02")
    decoder.reset()
    assert decoder.buffered == 0


def test_stats_as_dict() -> None:
    decoder = host_decoder()
    decoder.feed(b"xx" + Pong(1).encode())
    assert decoder.stats.as_dict()["frames"] == 1
    assert decoder.stats.as_dict()["bytes_skipped"] == 2


def test_tails_longer_than_their_length_field_are_refused() -> None:
    with pytest.raises(ValueError, match="tail"):
        Log(3, "x" * 256).encode()
    assert len(Log(3, "x" * 255).encode()) == OVERHEAD + 2 + 255


def test_peer_list_records() -> None:
    entry = PeerEntry(MAC, 0, PeerEntry.FLAG_ENCRYPT)
    assert entry.encrypted
    assert not PeerEntry(MAC, 0, 0x02).encrypted  # reserved flag bits are not encryption
    assert len(PeerList(1, 20, 7, (entry,) * 3).body()) == 5 + 3 * 8
    with pytest.raises(ValueError, match="records"):
        PeerList(1, 20, 7, (entry,) * 256).body()
    # A newer minor version may append fields after the records.
    extended = encode_frame(
        FrameType.PEER_LIST, PeerList(1, 20, 7, (entry,)).body() + b"\x05"
    )
    assert host_decoder().feed(extended) == [PeerList(1, 20, 7, (entry,))]


def test_type_0x80_is_not_a_host_command() -> None:
    decoder = gateway_decoder()
    assert decoder.feed(encode_frame(0x80, b"") + Ping(1).encode()) == [Ping(1)]
    assert decoder.stats.unknown_types == 1
