"""Automatic detection does not take random payloads for ESPHome or esp-now frames.

Seeded: the same payloads on every run. Each new format needs its magic (ESPHome)
or its header's checks and the sender's MAC (esp-now); the figures below are the
measured counts, asserted exactly so a change to the checks is seen.
"""

from __future__ import annotations

from collections import Counter
import random

from espnowgw.decoders import bthome
from espnowgw.decoders.formats import PeerDecoder, detect_kind
from espnowgw.model import PayloadKind

MAC = bytes.fromhex("7cdfa1102030")
COUNT = 20_000
NEW = (PayloadKind.ESPHOME, PayloadKind.ESPNOW_CTRL)


def _payloads(seed: int, prefix: bytes = b"") -> list[bytes]:
    rng = random.Random(seed)
    return [
        prefix + rng.randbytes(rng.randint(0, 1470 - len(prefix))) for _ in range(COUNT)
    ]


def _kinds(payloads: list[bytes]) -> Counter[PayloadKind]:
    return Counter(detect_kind(p, MAC) for p in payloads)


def test_random_payloads_are_never_esphome_or_esp_now() -> None:
    kinds = _kinds(_payloads(1))
    assert kinds[PayloadKind.ESPHOME] == 0
    assert kinds[PayloadKind.ESPNOW_CTRL] == 0


def test_random_bodies_after_the_esphome_magic() -> None:
    """With the magic given, the header's structure still refuses almost all."""
    # Measured: 5 in 20,000 data-magic payloads (short hostnames), 0 ping-magic ones;
    # with the magic's own odds (1 in 65,536) about 4e-9 of random payloads.
    assert _kinds(_payloads(2, b"\x53\x45"))[PayloadKind.ESPHOME] == 5
    assert _kinds(_payloads(2, b"\x48\x50"))[PayloadKind.ESPHOME] == 0


def test_random_bodies_after_an_esp_now_first_byte() -> None:
    """Version, size byte and source address: none of these pass."""
    for first in (0x20, 0x25, 0x24):
        kinds = _kinds(_payloads(3, bytes([first])))
        assert kinds[PayloadKind.ESPNOW_CTRL] == 0, kinds


def test_random_headers_with_the_size_right_need_the_source_address() -> None:
    rng = random.Random(4)
    hits = 0
    for _ in range(COUNT):
        body = rng.randbytes(rng.randint(0, 300))
        frame = bytes([0x20 | rng.randint(0, 15), len(body) & 0xFF]) + rng.randbytes(18) + body
        hits += detect_kind(frame, MAC) is PayloadKind.ESPNOW_CTRL
        assert detect_kind(frame) is not PayloadKind.ESPNOW_CTRL
    assert hits == 0


def test_the_new_formats_only_take_payloads_the_old_detection_called_raw() -> None:
    """Their first bytes are not BTHome's or JSON's (0x20 goes to JSON first)."""
    payloads = _payloads(5, b"\x53\x45") + _payloads(6)
    for payload in payloads:
        kind = detect_kind(payload, MAC)
        if kind in NEW:
            assert payload[0] not in b"{\t\r\n"
            assert not bthome.is_v2_device_info(payload[0])
            assert not payload.startswith(bthome.SERVICE_DATA_UUID_BYTES)


def test_scan_is_not_urgent_for_random_payloads_of_the_new_first_bytes() -> None:
    """Random payloads with ESPHome or esp-now first bytes cost no early decode."""
    decoder = PeerDecoder(MAC)
    urgent = sum(decoder.scan(p)[0] for p in _payloads(7, b"\x53\x45")[:2000])
    urgent += sum(decoder.scan(p)[0] for p in _payloads(8, b"\x25")[:2000])
    assert urgent <= 4
