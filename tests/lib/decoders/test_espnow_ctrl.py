"""Espressif esp-now component frames: ``espnowgw.decoders.espnow_ctrl``.

The vectors (``vectors/espnow_ctrl.json``) follow the component's published layout;
two headers are GCC's packing of the component's struct declaration (see the
file's provenance). They were not captured from a device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, strategies as st
import pytest

from espnowgw.decoders import espnow_ctrl
from espnowgw.decoders.formats import PeerDecoder, detect_kind
from espnowgw.encoders import espnow_ctrl_payload, espnow_frame
from espnowgw.model import (
    BUTTON_EVENT_NAMES,
    ButtonEvent,
    DecodedPayload,
    PayloadFormat,
    PayloadKind,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).with_name("vectors") / "espnow_ctrl.json").read_text()
)
MAC = bytes.fromhex(VECTORS["provenance"]["radio_source_mac"])
COMMAND_EVENTS = ("off", "on", "toggle")


def _frame(case: dict[str, Any]) -> bytes:
    return bytes.fromhex(case["frame"])


@pytest.mark.parametrize("name", ["initiator_head", "all_bits"])
def test_headers_packed_by_gcc(name: str) -> None:
    gcc = VECTORS["provenance"]["gcc"]
    header = espnow_ctrl.parse_header(bytes.fromhex(gcc[name]) + bytes(gcc[f"{name}_fields"]["size"]))
    assert header is not None
    fields = gcc[f"{name}_fields"]
    for field, value in fields.items():
        attribute = {"type": "frame_type", "dest": "dest_addr", "src": "src_addr"}.get(field, field)
        got = getattr(header, attribute)
        if isinstance(got, bytes):
            got = got.hex(" ")
        assert got == value, field


def test_the_encoder_packs_like_gcc() -> None:
    gcc = VECTORS["provenance"]["gcc"]
    frame = espnow_frame(5, bytes(12), src=bytes.fromhex("101112131415"), magic=0x1234)
    assert frame[:20].hex(" ") == gcc["initiator_head"]


def test_every_vector_in_order() -> None:
    """One peer's decoder over the whole list: repeats are recognised across frames."""
    decoder = PeerDecoder(MAC)
    for case in VECTORS["cases"]:
        frame = _frame(case)
        expect = case["expect"]
        urgent, packet_id, kind = decoder.scan(frame)
        decoded = decoder.decode(frame)
        assert kind is decoded.kind
        name = case["name"]
        if expect.get("auto") == "raw":
            assert detect_kind(frame, MAC) is PayloadKind.RAW, name
            assert decoded.kind is PayloadKind.RAW, name
            forced = PeerDecoder(MAC, payload_format=PayloadFormat.ESPNOW_CTRL)
            decoded = forced.decode(frame)
        else:
            assert detect_kind(frame, MAC) is PayloadKind.ESPNOW_CTRL, name
            assert packet_id == decoded.packet_id, name
            assert urgent is (frame[0] & 0x0F == 5), name
        assert decoded.kind is PayloadKind.ESPNOW_CTRL, name
        if "packet_id" in expect:
            assert decoded.packet_id == expect["packet_id"], name
        assert decoded.repeat is expect.get("repeat", False), name
        assert decoded.encrypted is expect.get("encrypted", False), name
        assert decoded.decryption_failed is expect.get("decryption_failed", False), name
        assert decoded.error == expect.get("error"), name
        assert [(e.key, e.event_type) for e in decoded.events] == [
            tuple(e) for e in expect.get("events", [])
        ], name
        assert [(m.key, m.value, m.binary) for m in decoded.measurements] == [
            tuple(m) for m in expect.get("measurements", [])
        ], name


def test_events_use_the_library_s_names() -> None:
    decoder = PeerDecoder(MAC)
    for case in VECTORS["cases"]:
        for event in decoder.decode(_frame(case)).events:
            if event.key.startswith("button"):
                assert event.event_type in BUTTON_EVENT_NAMES
            else:
                assert event.key.startswith("command")
                assert event.event_type in COMMAND_EVENTS


def test_detection_needs_the_sender_s_mac() -> None:
    frame = _frame(VECTORS["cases"][0])
    assert detect_kind(frame) is PayloadKind.RAW
    assert detect_kind(frame, MAC) is PayloadKind.ESPNOW_CTRL
    assert detect_kind(frame, bytes(6)) is PayloadKind.RAW


def test_repeats_are_remembered_per_peer_and_bounded() -> None:
    decoder = PeerDecoder(MAC)
    frames = [
        espnow_frame(5, espnow_ctrl_payload(0x0201, 1, 2), src=MAC, magic=m)
        for m in range(espnow_ctrl.RECENT_FRAMES + 1)
    ]
    for frame in frames:
        assert decoder.decode(frame).events
    assert decoder.decode(frames[-1]).repeat
    # The oldest was forgotten: a new send with that magic is a new press.
    assert decoder.decode(frames[0]).events
    # Another peer has its own memory.
    assert PeerDecoder(MAC).decode(frames[-1]).events


def test_a_repeat_of_another_type_is_another_send() -> None:
    decoder = PeerDecoder(MAC)
    bind = espnow_frame(4, espnow_ctrl_payload(0x0201, 0, 1), src=MAC, magic=7)
    press = espnow_frame(5, espnow_ctrl_payload(0x0201, 1, 2), src=MAC, magic=7)
    assert decoder.decode(bind) == DecodedPayload(
        kind=PayloadKind.ESPNOW_CTRL, packet_id=(4 << 16) | 7
    )
    assert decoder.decode(press).events == (
        ButtonEvent("button", "press"),
        ButtonEvent("command", "toggle"),
    )


@pytest.mark.parametrize(
    ("payload", "header"),
    [
        (bytes(19), None),
        (b"\x25\x00" + bytes(18), None),  # size byte says 0 payload bytes: fine
        (b"\x25\x01" + bytes(18), None),  # size byte says 1, there are 0
        (b"\x15\x00" + bytes(18), None),  # version 1
        (b"\x65\x00" + bytes(18), None),  # reserved bit
        (b"\x2f\x00" + bytes(18) , "RESERVED"),
        (b"\x25\xb2" + bytes(18 + 1458), None),  # 1478 bytes: too long
    ],
)
def test_parse_header_checks(payload: bytes, header: str | None) -> None:
    parsed = espnow_ctrl.parse_header(payload)
    if payload[:2] == b"\x25\x00":
        assert parsed is not None and parsed.frame_type is espnow_ctrl.FrameType.CONTROL_DATA
    elif header is None:
        assert parsed is None
    else:
        assert parsed is not None and parsed.frame_type.name == header


def test_forced_format_on_something_else() -> None:
    decoder = PeerDecoder(MAC, payload_format=PayloadFormat.ESPNOW_CTRL)
    assert decoder.decode(b"{}") == DecodedPayload(
        kind=PayloadKind.ESPNOW_CTRL, error="not an esp-now component frame"
    )
    assert decoder.scan(b"{}") == (False, None, PayloadKind.ESPNOW_CTRL)


@given(st.binary(max_size=1500), st.sampled_from([PayloadFormat.AUTO, PayloadFormat.ESPNOW_CTRL]))
def test_decode_never_raises(payload: bytes, payload_format: PayloadFormat) -> None:
    decoder = PeerDecoder(MAC, payload_format=payload_format)
    urgent, packet_id, _kind = decoder.scan(payload)
    decoded = decoder.decode(payload)
    assert decoded.error != "decoder error"
    if not urgent:
        assert not decoded.events
        assert not any(m.binary for m in decoded.measurements)
    if packet_id is not None:
        assert packet_id == decoded.packet_id


@given(
    st.integers(0, 15),
    st.integers(0, 0xFFFF),
    st.binary(max_size=60),
    st.integers(0, 0xFFFFFFFF),
    st.booleans(),
    st.booleans(),
)
def test_frames_from_the_peer_stay_within_limits(
    frame_type: int,
    magic: int,
    data: bytes,
    bits: int,
    structured: bool,
    twice: bool,
) -> None:
    if structured:
        data = espnow_ctrl_payload(0x0200 + (bits & 0x3FF) % 0x110, bits >> 16 & 0x3FF, bits & 0xFF)
    frame = espnow_frame(frame_type, data, src=MAC, magic=magic)
    frame = frame[:4] + (bits & 0xFFFFFFFF).to_bytes(4, "little") + frame[8:]
    decoder = PeerDecoder(MAC)
    for _ in range(1 + twice):
        urgent, packet_id, kind = decoder.scan(frame)
        decoded = decoder.decode(frame)
        assert decoded.kind is kind is PayloadKind.ESPNOW_CTRL
        assert packet_id == decoded.packet_id == (frame_type << 16) | magic
        if not urgent:
            assert not decoded.events and not decoded.measurements
        assert len(decoded.events) <= 2
        assert len(decoded.measurements) <= 1
        for measurement in decoded.measurements:
            if not measurement.binary:
                assert isinstance(measurement.value, int) and 0 <= measurement.value <= 100
    assert decoded.repeat is twice
