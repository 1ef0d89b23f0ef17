"""The urgency scan and the full decode agree, by construction and on fuzzed payloads.

Whenever the decode yields an event or a binary state the scan says urgent (false
"urgent" only costs an early decode; false "not urgent" delays or loses an event),
and a non-urgent payload's packet id is the decoder's (BTHome: exactly; JSON: the
scan does not parse, so it gives none and the caller takes no decision on it).
"""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given, strategies as st
import pytest

from devtools.fuzz_checks import limit_violations, scan_disagreement
from devtools.fuzz_payloads import PROFILES, make_sender
from espnowgw.decoders import json_payload
from espnowgw.decoders.formats import PeerDecoder
from espnowgw.model import PayloadFormat

MAC = bytes.fromhex("0a0000000077")


def _agree(decoder: PeerDecoder, frames: tuple[bytes, ...]) -> None:
    for frame in frames:
        decoded = decoder.decode(frame)
        assert scan_disagreement(decoder, frame, decoded) is None, frame.hex()
        assert limit_violations(decoded) == [], frame.hex()


@given(st.integers(min_value=0, max_value=2**40), st.sampled_from(PROFILES))
def test_scan_agrees_with_the_decode_on_fuzzed_senders(seed: int, profile: str) -> None:
    sender = make_sender(seed, profile=profile)
    decoder = PeerDecoder(
        sender.mac,
        payload_format=PayloadFormat(sender.payload_format),
        bindkey=sender.bindkey,
    )
    _agree(decoder, sender.frames)


def test_only_two_characters_lower_case_to_ascii() -> None:
    """What the JSON scan must treat as hiding a name, derived from Unicode itself."""
    folding = [
        chr(code)
        for code in range(0x80, 0x110000)
        if unicodedata.category(chr(code)) != "Cs"
        and any(c.isascii() and c.isalnum() for c in chr(code).lower())
    ]
    assert folding == list(json_payload.CASE_FOLDING_TO_ASCII)


@pytest.mark.parametrize(
    "key",
    ["door", "Door", "DOOR", "doorOpen", "door_2", "\\u0064oor", "d\\u006F\\u006fr",
     "\\u0062utton", "smo\u212ae", "P\u0130R", "battery-low", "batteryLow"],
)
@pytest.mark.parametrize("value", ['"press"', "true", "1"])
def test_every_spelling_of_an_urgent_name_is_urgent(key: str, value: str) -> None:
    payload = f'{{"{key}": {value}, "temperature": 21}}'.encode()
    decoder = PeerDecoder(MAC)
    decoded = decoder.decode(payload)
    assert scan_disagreement(decoder, payload, decoded) is None


def test_a_deferred_press_is_not_lost() -> None:
    """Issue 9: an escaped "button" was deferred, then replaced by the next frame."""
    press = b'{"\\u0062utton": "press", "temperature": 21}'
    assert json.loads(press) == {"button": "press", "temperature": 21}
    assert PeerDecoder(MAC).scan(press).urgent
    assert PeerDecoder(MAC).decode(press).events


def test_no_urgent_name_holds_a_digit() -> None:
    """Why frames that differ only in their digits can share one urgency answer."""
    digits = set(b"0123456789")
    assert json_payload.URGENT_TOKENS
    assert not any(digits & set(token) for token in json_payload.URGENT_TOKENS)


_JSONISH = st.text(alphabet='{}":, 0123456789.-truefalsdoTRUEbutn\\_x', max_size=40)


@given(_JSONISH)
def test_the_urgency_shape_keeps_the_answer(text: str) -> None:
    payload = text.encode()
    shape = json_payload.urgency_shape(payload)
    assert len(shape) == len(payload)
    assert json_payload.may_be_urgent(shape) == json_payload.may_be_urgent(payload)


@given(st.lists(_JSONISH, max_size=12))
@pytest.mark.parametrize("payload_format", [PayloadFormat.AUTO, PayloadFormat.JSON])
def test_a_peer_asks_again_only_when_the_shape_changes(
    payload_format: PayloadFormat, texts: list[str]
) -> None:
    decoder = PeerDecoder(MAC, payload_format=payload_format)
    frames = [b'{"temperature": 21.5}', b'{"temperature": 19.0}', b'{"door": 1.00}']
    for frame in [*frames, *(f'{{"{t}": 1}}'.encode() for t in texts), *frames]:
        assert decoder.scan(frame).urgent == json_payload.may_be_urgent(frame), frame
