"""Format detection and the per-peer decoder: ``espnowgw.decoders.formats``."""

from __future__ import annotations

import json

from hypothesis import given, strategies as st
import pytest

from espnowgw import decoders
from espnowgw.decoders.bthome import COMMAND_LENGTH, OBJECT_SIZES, VARIABLE_LENGTH
from espnowgw.model import ButtonEvent, DecodedPayload, Measurement, PayloadFormat, PayloadKind
from espnowgw.decoders.formats import PeerDecoder, detect_kind, strip_bthome_uuid

from .test_bthome import KEY, MAC, REFERENCE, seal

JSON = b'{"temp": 21.5, "seq": 3}'
JSON_RESULT = DecodedPayload(
    kind=PayloadKind.JSON,
    measurements=(Measurement("temp", 21.5, "temperature", "°C", "measurement"),),
    packet_id=3,
)


# --- detect_kind ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"", PayloadKind.RAW),
        (JSON, PayloadKind.JSON),
        (b' \t\r\n{"a": 1}', PayloadKind.JSON),
        (b'{"a": 1}\x00', PayloadKind.JSON),
        (b"{}", PayloadKind.JSON),
        (b'{"a": 1', PayloadKind.RAW),  # claims JSON, is not: raw in AUTO
        (b"[1, 2]", PayloadKind.RAW),
        (b"  [1]", PayloadKind.RAW),
        (b"\xd2\xfc" + REFERENCE, PayloadKind.BTHOME),
        (b"\xd2\xfc", PayloadKind.BTHOME),  # the UUID is a claim; errors come later
        (b"\xd2\xfcgarbage", PayloadKind.BTHOME),
        (REFERENCE, PayloadKind.BTHOME),
        (bytes.fromhex("44 21 01"), PayloadKind.BTHOME),  # trigger based
        (
            bytes.fromhex("42 FF EE DD CC BB AA 01 57"),
            PayloadKind.BTHOME,
        ),  # MAC included
        (bytes.fromhex("42 FF EE DD CC BB AA"), PayloadKind.RAW),  # MAC, no objects
        (bytes.fromhex("40 53 02 68 69"), PayloadKind.BTHOME),  # text object
        (bytes.fromhex("40 53 00"), PayloadKind.BTHOME),  # empty text object
        (bytes.fromhex("40 3B 01 02 AA"), PayloadKind.BTHOME),  # command with 1 arg
        (bytes.fromhex("40 3B E1 02 AA"), PayloadKind.BTHOME),  # reserved length bits
        (bytes.fromhex("40 3B 02 02 AA"), PayloadKind.RAW),  # command args truncated
        (bytes.fromhex("40"), PayloadKind.RAW),  # no objects
        (bytes.fromhex("40 02 29 09 01 57"), PayloadKind.RAW),  # ids decreasing
        (bytes.fromhex("40 01 57 01 58"), PayloadKind.BTHOME),  # ids repeating
        (bytes.fromhex("40 01 57 FF"), PayloadKind.RAW),  # unknown id
        (bytes.fromhex("40 01 57 02 29"), PayloadKind.RAW),  # truncated
        (bytes.fromhex("40 01 57 00"), PayloadKind.RAW),  # trailing byte
        (bytes.fromhex("40 01 57 53"), PayloadKind.RAW),  # missing length byte
        (bytes.fromhex("40 53 05 68 69"), PayloadKind.RAW),  # text shorter than length
        (bytes.fromhex("48 01 57"), PayloadKind.RAW),  # reserved bit 3
        (bytes.fromhex("50 01 57"), PayloadKind.RAW),  # reserved bit 4
        (bytes.fromhex("20 01 57"), PayloadKind.RAW),  # version 1
        (bytes.fromhex("60 01 57"), PayloadKind.RAW),  # version 3
        (b"Hello, world", PayloadKind.RAW),
        (b"A" * 5, PayloadKind.RAW),
        (bytes.fromhex("41") + bytes(10), PayloadKind.BTHOME),  # encrypted, minimum
        (bytes.fromhex("41") + bytes(9), PayloadKind.RAW),  # encrypted, too short
        (bytes.fromhex("43") + bytes(16), PayloadKind.BTHOME),  # encrypted + MAC
        (bytes.fromhex("43") + bytes(15), PayloadKind.RAW),
    ],
)
def test_detect_kind(payload: bytes, kind: PayloadKind) -> None:
    assert detect_kind(payload) is kind


def test_detect_kind_of_an_encrypted_frame() -> None:
    assert detect_kind(seal(REFERENCE[1:], 1)) is PayloadKind.BTHOME


def _object(object_id: int, data: bytes) -> bytes:
    size = OBJECT_SIZES[object_id]
    if size == VARIABLE_LENGTH:
        return bytes([object_id, len(data)]) + data
    if size == COMMAND_LENGTH:
        return bytes([object_id, len(data)]) + b"\x01" + data[:31]
    return bytes([object_id]) + (data + bytes(size))[:size]


@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(OBJECT_SIZES)), st.binary(max_size=8)),
        min_size=1,
        max_size=8,
    )
)
def test_any_well_formed_object_list_is_detected(
    objects: list[tuple[int, bytes]],
) -> None:
    payload = bytes([0x40]) + b"".join(_object(i, d) for i, d in sorted(objects))
    assert detect_kind(payload) is PayloadKind.BTHOME
    # and a single byte more or less breaks it
    assert detect_kind(payload + b"\x00") is PayloadKind.RAW
    assert detect_kind(payload[:-1]) is PayloadKind.RAW


@given(st.binary(max_size=300))
def test_detect_kind_of_any_bytes(payload: bytes) -> None:
    assert detect_kind(payload) in PayloadKind


def test_strip_bthome_uuid() -> None:
    assert strip_bthome_uuid(b"\xd2\xfc\x40") == b"\x40"
    assert strip_bthome_uuid(b"\x40") == b"\x40"


# --- PeerDecoder ---------------------------------------------------------------------


def test_auto_dispatch() -> None:
    decoder = PeerDecoder(MAC)
    assert decoder.payload_format is PayloadFormat.AUTO
    assert decoder.mac == MAC
    assert decoder.decode(JSON) == JSON_RESULT
    bthome = decoder.decode(REFERENCE)
    assert bthome.kind is PayloadKind.BTHOME
    assert bthome.packet_id == 17
    assert decoder.decode(b"\xd2\xfc" + REFERENCE) == bthome
    assert decoder.decode(b"\x01\x02\x03") == DecodedPayload(kind=PayloadKind.RAW)
    assert decoder.decode(b"") == DecodedPayload(kind=PayloadKind.RAW)


def test_auto_reports_errors_after_the_bthome_uuid() -> None:
    result = PeerDecoder(MAC).decode(b"\xd2\xfc\x20\x01")
    assert result == DecodedPayload(
        kind=PayloadKind.BTHOME, error="unsupported BTHome version 1"
    )


def test_forced_bthome() -> None:
    decoder = PeerDecoder(MAC, payload_format=PayloadFormat.BTHOME)
    assert decoder.decode(REFERENCE).packet_id == 17
    assert decoder.decode(b"\xd2\xfc" + REFERENCE).packet_id == 17
    # out-of-order ids: not detected in AUTO, decoded when forced
    out_of_order = bytes.fromhex("40 02 29 09 01 57")
    assert PeerDecoder(MAC).decode(out_of_order).kind is PayloadKind.RAW
    assert len(decoder.decode(out_of_order).measurements) == 2
    assert decoder.decode(JSON).error == "unsupported BTHome version 3"


def test_forced_json() -> None:
    decoder = PeerDecoder(MAC, payload_format=PayloadFormat.JSON)
    assert decoder.decode(JSON) == JSON_RESULT
    assert decoder.decode(b'{"a": 1').error is not None
    assert decoder.decode(REFERENCE).kind is PayloadKind.JSON


def test_forced_raw() -> None:
    decoder = PeerDecoder(MAC, payload_format=PayloadFormat.RAW)
    for payload in (JSON, REFERENCE, b""):
        assert decoder.decode(payload) == DecodedPayload(kind=PayloadKind.RAW)


def test_format_given_as_string() -> None:
    decoder = PeerDecoder(MAC, payload_format="json")  # type: ignore[arg-type]
    assert decoder.payload_format is PayloadFormat.JSON


def test_encrypted_through_the_registry() -> None:
    decoder = PeerDecoder(MAC, bindkey=KEY)
    frame = seal(REFERENCE[1:], 42)
    result = decoder.decode(frame)
    assert result.encrypted
    assert not result.decryption_failed
    assert result.events == (ButtonEvent("button", "press"),)
    assert PeerDecoder(MAC).decode(frame).decryption_failed


def test_bthome_state_is_kept_per_peer() -> None:
    """The encryption counter lives in the peer's decoder: a replay is refused."""
    decoder = PeerDecoder(MAC, bindkey=KEY)
    old = seal(REFERENCE[1:], 500)
    decoder.decode(old)
    decoder.decode(seal(REFERENCE[1:], 501))
    assert decoder.decode(old).decryption_failed
    # a fresh peer decoder has no history
    assert not PeerDecoder(MAC, bindkey=KEY).decode(old).decryption_failed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mac": b"\x01\x02"}, "MAC must be 6 bytes, got 2"),
        ({"mac": MAC, "bindkey": b"short"}, "BTHome bindkey must be 16 bytes, got 5"),
        ({"mac": MAC, "bindkey": bytes(32)}, "BTHome bindkey must be 16 bytes, got 32"),
        ({"mac": MAC, "payload_format": "xml"}, "'xml' is not a valid PayloadFormat"),
    ],
)
def test_invalid_configuration(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PeerDecoder(**kwargs)  # type: ignore[arg-type]


def test_unexpected_exception_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_self: PeerDecoder, _payload: bytes) -> DecodedPayload:
        raise RuntimeError("bug")

    monkeypatch.setattr(PeerDecoder, "_decode", boom)
    assert PeerDecoder(MAC).decode(b"x") == DecodedPayload(
        kind=PayloadKind.RAW, error="decoder error"
    )


_formats = st.sampled_from(list(PayloadFormat))
_keys = st.sampled_from([None, KEY])


@given(st.binary(max_size=300), _formats, _keys)
def test_decode_never_raises(
    payload: bytes, fmt: PayloadFormat, key: bytes | None
) -> None:
    result = PeerDecoder(MAC, payload_format=fmt, bindkey=key).decode(payload)
    assert isinstance(result, DecodedPayload)
    assert result.error != "decoder error"


@given(
    st.sampled_from([b"", b"\xd2\xfc"]),
    st.integers(0x40, 0x47),
    st.binary(max_size=60),
    _keys,
)
def test_decode_never_raises_on_bthome_shaped_bytes(
    prefix: bytes, info: int, rest: bytes, key: bytes | None
) -> None:
    decoder = PeerDecoder(MAC, bindkey=key)
    for _ in range(2):  # and again: the parser keeps state
        result = decoder.decode(prefix + bytes([info]) + rest)
        assert result.error != "decoder error"


def test_package_exports() -> None:
    assert decoders.PeerDecoder is PeerDecoder
    assert decoders.detect_kind is detect_kind
    assert decoders.decode_json(b"{}") == DecodedPayload(kind=PayloadKind.JSON)
    assert set(decoders.__all__) >= {
        "ButtonEvent",
        "DecodedPayload",
        "Measurement",
        "PayloadFormat",
        "PayloadKind",
    }


# ---- scan: classify without decoding -------------------------------------------------

MAC6 = bytes.fromhex("aabbccddeeff")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # BTHome measurements only: not urgent, packet id readable
        (bytes.fromhex("40 00 11 01 57 02 29 09 03 00 14"), (False, 0x11, PayloadKind.BTHOME)),
        (b"\xd2\xfc" + bytes.fromhex("40 00 07 02 29 09"), (False, 7, PayloadKind.BTHOME)),
        # a button event or a binary state: urgent (the decoder gives the packet id)
        (bytes.fromhex("40 00 11 01 57 3a 01"), (True, None, PayloadKind.BTHOME)),
        (bytes.fromhex("40 00 05 11 01"), (True, None, PayloadKind.BTHOME)),
        # what detection would not call BTHome: urgent, so that decode() decides
        # (found by the fuzz harness: objects out of order after an included MAC)
        (
            bytes.fromhex("42 65 d0 f9 d8 87 df 03 73 4c 3d f7 3b 00 cb 47 d0 38 49 70 1c"),
            (True, None, PayloadKind.BTHOME),
        ),
        (bytes.fromhex("40 02 29 09 01 57"), (True, None, PayloadKind.BTHOME)),  # unordered
        (bytes.fromhex("40"), (True, None, PayloadKind.BTHOME)),  # no object
        (bytes.fromhex("42 65 d0 f9 d8 87 df"), (True, None, PayloadKind.BTHOME)),
        # encrypted: urgent (only the decoder can tell)
        (bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14"), (True, None, PayloadKind.BTHOME)),
        # JSON
        (b'{"temperature": 21.5, "humidity": 40}', (False, None, PayloadKind.JSON)),
        (b'{"temperature": 21.5, "button": "press"}', (True, None, PayloadKind.JSON)),
        (b'{"Motion": 1}', (True, None, PayloadKind.JSON)),
        (b'{"doorOpen": 0}', (True, None, PayloadKind.JSON)),
        (b'{"flag": true}', (True, None, PayloadKind.JSON)),
        (
            b'{"battery": 90, "humidity": 40}',
            (False, None, PayloadKind.JSON),
        ),  # a sensor, not battery_low
        (b'{"batteryLow": 1}', (True, None, PayloadKind.JSON)),
        (b'{"Battery-Low": 1}', (True, None, PayloadKind.JSON)),
        # names the byte search cannot see (found by the fuzz harness)
        (b'{"\\u0064oor": 1}', (True, None, PayloadKind.JSON)),
        (b'{"\\u0062utton": "press"}', (True, None, PayloadKind.JSON)),
        ('{"smo\u212ae": 1}'.encode(), (True, None, PayloadKind.JSON)),  # Kelvin sign
        ('{"P\u0130R": 1}'.encode(), (True, None, PayloadKind.JSON)),
        # raw and empty
        (b"\x01\x02\x03", (False, None, PayloadKind.RAW)),
        (b"", (False, None, PayloadKind.RAW)),
    ],
)
def test_scan_classifies_without_decoding(
    payload: bytes, expected: tuple[bool, int | None, PayloadKind]
) -> None:
    assert PeerDecoder(MAC6).scan(payload) == expected


def test_scan_by_configured_format() -> None:
    raw, json, bthome = PayloadKind.RAW, PayloadKind.JSON, PayloadKind.BTHOME
    assert PeerDecoder(MAC6, payload_format=PayloadFormat.RAW).scan(
        b'{"button": 1}'
    ) == (False, None, raw)
    assert PeerDecoder(MAC6, payload_format=PayloadFormat.JSON).scan(b"xx press") == (
        False,
        None,
        json,
    )
    assert PeerDecoder(MAC6, payload_format=PayloadFormat.JSON).scan(b"[true]") == (
        True,
        None,
        json,
    )
    bthome_peer = PeerDecoder(MAC6, payload_format=PayloadFormat.BTHOME)
    assert bthome_peer.scan(bytes.fromhex("40 02 29 09")) == (False, None, bthome)
    assert bthome_peer.scan(bytes.fromhex("50 02 29 09")) == (
        True,
        None,
        bthome,
    )  # wrong version
    assert bthome_peer.scan(bytes.fromhex("40 02 29")) == (
        True,
        None,
        bthome,
    )  # truncated object
    assert bthome_peer.scan(bytes.fromhex("40 f0 01")) == (True, None, bthome)  # unknown object


@given(st.binary(max_size=300))
def test_scan_never_raises_and_agrees_with_the_decoder(payload: bytes) -> None:
    """A payload the scan calls not urgent never decodes to events or binary states."""
    decoder = PeerDecoder(MAC6)
    urgent, _packet_id, _kind = decoder.scan(payload)
    if not urgent:
        decoded = decoder.decode(payload)
        assert not decoded.events
        assert not any(m.binary for m in decoded.measurements)


def _json_payloads() -> st.SearchStrategy[bytes]:
    from espnowgw.decoders import json_payload

    words = sorted(
        {
            *json_payload.SENSOR_SPECS,
            *json_payload.BINARY_SPECS,
            "button",
            "event",
            "Motion",
            "doorOpen",
            "x",
        }
    )
    keys = st.one_of(st.sampled_from(words), st.text(min_size=1, max_size=8))
    values = st.one_of(
        st.integers(-1000, 1000),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.sampled_from(["press", "double", "on", "text"]),
    )
    return st.dictionaries(keys, values, max_size=6).map(
        lambda d: json.dumps(d).encode()
    )


def _bthome_payloads() -> st.SearchStrategy[bytes]:
    from espnowgw.decoders.bthome import OBJECT_SIZES

    fixed = sorted(i for i, size in OBJECT_SIZES.items() if size >= 0)

    def build(ids: list[int]) -> st.SearchStrategy[bytes]:
        ordered = sorted(ids)
        datas = [
            st.binary(min_size=OBJECT_SIZES[i], max_size=OBJECT_SIZES[i])
            for i in ordered
        ]
        return st.tuples(*datas).map(
            lambda parts: (
                b"\x40"
                + b"".join(bytes([i]) + d for i, d in zip(ordered, parts, strict=True))
            )
        )

    return st.lists(st.sampled_from(fixed), max_size=6).flatmap(build)


@given(st.one_of(_json_payloads(), _bthome_payloads()))
def test_scan_agrees_with_the_decoder_on_structured_payloads(payload: bytes) -> None:
    decoder = PeerDecoder(MAC6)
    urgent, packet_id, _kind = decoder.scan(payload)
    decoded = decoder.decode(payload)
    if not urgent:
        assert not decoded.events
        assert not any(m.binary for m in decoded.measurements)
        if decoded.kind is PayloadKind.BTHOME:
            assert packet_id == decoded.packet_id
