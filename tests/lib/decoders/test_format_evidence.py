"""A new sender's format, committed on the evidence of its frames: ``FormatEvidence``."""

from __future__ import annotations

import json
import random

import pytest

from devtools.bthome_frames import seal
from devtools.fuzz_payloads import random_sender_kind
from espnowgw.decoders.evidence import (
    FRAMES_TO_COMMIT,
    MAX_COUNTER_STEP,
    FormatEvidence,
    bindkey_matches,
)
from espnowgw.encoders import EsphomeNode, espnow_ctrl_payload, espnow_frame
from espnowgw.model import PayloadKind

MAC = bytes.fromhex("0a0000000042")
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
TEMPERATURE = bytes.fromhex("02 29 09")


def fed(*payloads: bytes) -> FormatEvidence:
    evidence = FormatEvidence()
    for payload in payloads:
        evidence.feed(payload)
    return evidence


def plain(packet_id: int) -> bytes:
    return bytes([0x40, 0x00, packet_id & 0xFF]) + TEMPERATURE


def sealed(counter: int) -> bytes:
    return seal(TEMPERATURE, counter, mac=MAC, key=KEY)


def test_json_commits_at_its_first_reading() -> None:
    evidence = FormatEvidence()
    assert evidence.committed is None
    assert not evidence.undecided
    sniffed = evidence.feed(b'{"temperature": 21.5}')
    assert sniffed.kind is PayloadKind.JSON
    assert sniffed.obj == {"temperature": 21.5}  # parsed once, for the decode
    assert evidence.committed is PayloadKind.JSON
    assert not evidence.encrypted


def test_an_empty_json_object_is_no_evidence() -> None:
    assert fed(b"{}", b" {}", b"{}\x00").committed is None


def test_bthome_commits_after_consistent_frames() -> None:
    evidence = FormatEvidence()
    for index in range(FRAMES_TO_COMMIT - 1):
        evidence.feed(plain(index))
        assert evidence.undecided
        assert evidence.committed is None
    evidence.feed(plain(FRAMES_TO_COMMIT))
    assert evidence.committed is PayloadKind.BTHOME
    assert not evidence.encrypted
    assert not evidence.undecided
    # Committed is final.
    evidence.feed(b"\x00garbage")
    assert evidence.committed is PayloadKind.BTHOME


def test_bthome_with_the_uuid_prefix() -> None:
    assert fed(*(b"\xd2\xfc" + plain(i) for i in range(3))).committed is PayloadKind.BTHOME
    # The prefix is a claim, not evidence: what follows must walk.
    assert fed(*(b"\xd2\xfc\x40garbage%d" % i for i in range(10))).committed is None
    # Mixing prefixed and bare frames is no consistent sender.
    assert fed(plain(1), b"\xd2\xfc" + plain(2), plain(3)).committed is None


def test_repeats_neither_add_nor_break() -> None:
    assert fed(plain(1), plain(1), plain(1), plain(1)).undecided
    assert fed(plain(1), plain(1), plain(2), plain(2), plain(3)).committed is (
        PayloadKind.BTHOME
    )


@pytest.mark.parametrize(
    "breaker",
    [
        b"\x01\x02\x03",  # raw
        bytes.fromhex("44 00 07") + TEMPERATURE,  # another device-info byte
        bytes.fromhex("40 02 29 09 01 57"),  # objects out of order
        b'{"x": 1}',  # JSON commits JSON: a change of kind, not BTHome
    ],
)
def test_an_inconsistent_frame_breaks_the_run(breaker: bytes) -> None:
    evidence = fed(plain(1), plain(2), breaker, plain(3))
    assert evidence.committed is not PayloadKind.BTHOME


def test_encrypted_bthome_needs_a_rising_counter() -> None:
    evidence = fed(sealed(100), sealed(101), sealed(150))
    assert evidence.committed is PayloadKind.BTHOME
    assert evidence.encrypted
    assert fed(sealed(100), sealed(101), sealed(101)).committed is None  # not rising
    assert fed(sealed(100), sealed(99), sealed(101)).committed is None  # back
    assert (
        fed(sealed(1), sealed(2 + MAX_COUNTER_STEP), sealed(3 + MAX_COUNTER_STEP))
    ).committed is None  # a leap: random counters leap
    assert fed(sealed(1), sealed(1 + MAX_COUNTER_STEP), sealed(2 + MAX_COUNTER_STEP)).committed is (
        PayloadKind.BTHOME
    )


def test_a_restarted_sender_starts_a_new_run() -> None:
    evidence = fed(sealed(500), sealed(501), sealed(0), sealed(1))
    assert evidence.undecided
    evidence.feed(sealed(2))
    assert evidence.committed is PayloadKind.BTHOME


def test_random_senders_are_practically_never_given_a_kind() -> None:
    """Fewer than 1 in 100,000 random senders (30 frames each) gets a kind.

    Judged by one frame, one random frame in about 64 would be BTHome (an
    encrypted device-info byte and enough length, or a short payload that walks
    as objects): most of these senders would be within their first minutes.
    ``scripts/fuzz --long`` runs ten times as many senders.
    """
    rng = random.Random(20260609)
    senders = 100_000
    committed = [kind for _ in range(senders) if (kind := random_sender_kind(rng, 30))]
    assert committed == []


def test_random_senders_with_a_bthome_header_byte() -> None:
    """Raw structs whose first byte happens to be a BTHome device-info byte."""
    rng = random.Random(7)
    committed = 0
    for _ in range(5_000):
        header = bytes([rng.choice([0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47])])
        length = rng.randint(10, 64)
        evidence = FormatEvidence()
        for _ in range(30):
            evidence.feed(header + rng.randbytes(length))
        committed += evidence.committed is not None
    assert committed == 0


def test_bindkey_matches_the_frames_it_decrypts() -> None:
    frames = [json.dumps({"x": 1}).encode(), plain(1), sealed(7), sealed(8)]
    assert bindkey_matches(MAC, KEY, frames)
    assert bindkey_matches(MAC, KEY, [b"\xd2\xfc" + sealed(9)])
    assert not bindkey_matches(MAC, bytes(16), frames)
    assert not bindkey_matches(bytes(6), KEY, frames)  # the MAC is in the nonce
    assert not bindkey_matches(MAC, KEY, [plain(1), sealed(7)[:-1] + b"\x00"])
    assert not bindkey_matches(MAC, KEY, [])
    assert not bindkey_matches(MAC, KEY[:8], frames)


def test_esphome_and_esp_now_frames_commit_at_once() -> None:
    """Their detection already needs a magic and a header, or the sender's MAC."""
    node = EsphomeNode("kitchen")
    evidence = FormatEvidence(MAC)
    evidence.feed(node.frames([("temperature", 21.5)])[0])
    assert evidence.committed is PayloadKind.ESPHOME
    frame = espnow_frame(5, espnow_ctrl_payload(0x0201, 1, 2), src=MAC, magic=7)
    evidence = FormatEvidence(MAC)
    evidence.feed(frame)
    assert evidence.committed is PayloadKind.ESPNOW_CTRL
    # Without the sender's MAC (or with another) an esp-now frame is raw.
    assert fed(frame).committed is None
    evidence = FormatEvidence(bytes(6))
    evidence.feed(frame)
    assert evidence.committed is None
