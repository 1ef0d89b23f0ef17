"""The example sensor's payloads (firmware/examples/sensor) decode as BTHome v2.

The sender's encoder is compiled on this machine and its output decoded with the
integration's own BTHome decoder: what the example sends is what Home Assistant reads.
"""

from __future__ import annotations

from pathlib import Path
import subprocess

import pytest

from espnowgw.decoders.bthome import BTHomeDecoder
from espnowgw.model import ButtonEvent, PayloadKind

MAC = bytes.fromhex("0a0000000101")


def encode(binary: Path, *args: object) -> bytes:
    done = subprocess.run(
        [str(binary), *map(str, args)], capture_output=True, check=True, timeout=10
    )
    return bytes.fromhex(done.stdout.decode().strip())


@pytest.mark.parametrize(
    ("args", "values", "pressed"),
    [
        (
            (1, 21.5, 45.2, 87, 0),
            {"temperature": 21.5, "humidity": 45.2, "battery": 87},
            False,
        ),
        (
            (2, -12.34, 99.99, 3, 1),
            {"temperature": -12.34, "humidity": 99.99, "battery": 3},
            True,
        ),
        ((255, 0, 0, 100, 0), {"temperature": 0, "humidity": 0, "battery": 100}, False),
        ((7, "-", "-", 55, 1), {"battery": 55}, True),
        (
            (8, 400, 150, 120, 0),
            {"temperature": 327.67, "humidity": 100, "battery": 100},
            False,
        ),
    ],
)
def test_payload_decodes(
    bthome_encode: Path,
    args: tuple[object, ...],
    values: dict[str, float],
    pressed: bool,
) -> None:
    payload = encode(bthome_encode, *args)
    decoded = BTHomeDecoder(MAC).decode(payload)
    assert decoded.kind is PayloadKind.BTHOME
    assert decoded.error is None
    assert decoded.packet_id == args[0]
    got = {m.key: m.value for m in decoded.measurements}
    assert got == pytest.approx(values)
    presses = [ButtonEvent("button", "press")] if pressed else []
    assert [e for e in decoded.events if e.key == "button"] == presses
