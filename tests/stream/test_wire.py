"""The stream's wire form against Home Assistant's own JSON serialisation.

Every message the hub sends is joined from pre-encoded bytes; these tests check
that the bytes are exactly what ``json_bytes(event_message(...))`` makes of the same
message built as a dict, and that every size the stream counts is the size it sends.
"""

from __future__ import annotations

from base64 import b64encode
import json
from typing import Any

from homeassistant.components.websocket_api import event_message
from homeassistant.helpers.json import json_bytes
import pytest

from custom_components.espnow_gateway.espnowgw.mac import BROADCAST
from custom_components.espnow_gateway.espnowgw.messages import Packet
from custom_components.espnow_gateway.espnowgw.model import PayloadKind
from custom_components.espnow_gateway.stream_options import (
    StreamOptions,
    compile_filter,
)
from custom_components.espnow_gateway.stream_wire import (
    MAC_TEXTS,
    Encoding,
    StreamPacket,
    batch_head,
    batch_message,
    figures,
    fragment_of,
    gateway_json,
    mac_text,
    status_message,
)

A = bytes.fromhex("024eb4e65200")
B = bytes.fromhex("0a00000000ff")
PACKETS = [
    Packet(A, BROADCAST, -61, -95, 1, 0, 4711, 123_456_789, bytes.fromhex("400011")),
    Packet(B, A, -128, 0, 14, 11, 0, 2**64 - 1, bytes(range(256))[:250]),
    Packet(A, B, 0, -90, 6, 0, 65535, 0, b""),
]
# Entry ids are ULIDs; anything else must come out escaped exactly as orjson does.
GATEWAYS = ["01JD8X5V3T4QZ5K1M2N3P4Q5R6", 'gw "quoted" \\ é \u2028']


def as_dict(item: StreamPacket, encoding: Encoding) -> dict[str, Any]:
    """The packet as a dict, the way a straightforward implementation builds it."""
    packet = item.packet
    payload = packet.payload
    return {
        "gateway": item.gateway,
        "src": packet.src.hex(":").upper(),
        "dst": packet.dst.hex(":").upper(),
        "rssi": packet.rssi,
        "channel": packet.channel,
        "ts": packet.timestamp_us,
        "seq": packet.seq,
        "kind": item.kind,
        "payload": payload.hex()
        if encoding is Encoding.HEX
        else b64encode(payload).decode(),
    }


def items(gateway: str) -> list[StreamPacket]:
    kinds = list(PayloadKind)
    return [
        StreamPacket(gateway, gateway_json(gateway), packet, kinds[i % len(kinds)])
        for i, packet in enumerate(PACKETS)
    ]


@pytest.mark.parametrize("gateway", GATEWAYS)
@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("throttled", [False, True])
def test_batch_bytes_are_json_bytes_of_the_dict(
    gateway: str, encoding: Encoding, throttled: bool
) -> None:
    fragment = fragment_of(encoding)
    packets = items(gateway)
    head = batch_head(7, 17)
    tail = figures(7, 3, 12, 65_800, throttled)
    message = batch_message(head, [fragment(p) for p in packets], tail)
    expected = event_message(
        7,
        {
            "batch": 17,
            "packets": [as_dict(p, encoding) for p in packets],
            "subscription": 7,
            "dropped": 3,
            "dropped_total": 12,
            "buffered_bytes": 65_800,
            "throttled": throttled,
        },
    )
    assert message == json_bytes(expected)
    assert json.loads(message) == expected
    # What the stream counts: the head, each packet's JSON and separator, the tail.
    sizes = sum(len(fragment(p)) + 1 for p in packets)
    assert len(message) == len(head) + sizes + len(tail)


@pytest.mark.parametrize(
    ("status", "reason"),
    [("throttled", None), ("resumed", None), ("closed", "stalled")],
)
def test_status_bytes_are_json_bytes_of_the_dict(
    status: str, reason: str | None
) -> None:
    throttled = status == "throttled"
    message = status_message(5, status, reason, figures(5, 0, 2, 0, throttled))
    event: dict[str, Any] = {"status": status}
    if reason is not None:
        event["reason"] = reason
    event |= {
        "subscription": 5,
        "dropped": 0,
        "dropped_total": 2,
        "buffered_bytes": 0,
        "throttled": throttled,
    }
    assert message == json_bytes(event_message(5, event))


def test_each_encoding_is_made_once_and_only_when_asked() -> None:
    (item, *_rest) = items(GATEWAYS[0])
    assert item._base64 is None
    assert item._hex is None
    first = item.base64()
    assert item.base64() is first  # kept on the shared packet
    assert item._hex is None  # nobody asked for hex
    hexa = item.hex()
    assert item.hex() is hexa
    # Both share everything up to the payload.
    assert first.split(b'"payload":')[0] == hexa.split(b'"payload":')[0]
    # Hex payloads are twice their bytes, base64 4/3: sizes are exact, per encoding.
    assert len(hexa) - len(first) == 6 - 4


def test_mac_texts_are_kept_within_their_bound() -> None:
    """Each MAC's text is made once and kept, for at most ``MAC_TEXTS`` MACs."""
    mac_text.cache_clear()
    assert mac_text(A) == b"02:4E:B4:E6:52:00"
    assert mac_text(A) is mac_text(A)
    for n in range(MAC_TEXTS + 100):  # a neighbourhood of senders: the oldest go
        mac_text(n.to_bytes(6))
    info = mac_text.cache_info()
    assert info.currsize == info.maxsize == MAC_TEXTS
    assert info.misses == MAC_TEXTS + 101  # every new MAC, and A once
    assert mac_text(A) == b"02:4E:B4:E6:52:00"  # made again after it went


def test_unknown_kind_is_escaped() -> None:
    item = StreamPacket("gw", gateway_json("gw"), PACKETS[0], 'odd"kind')
    assert json.loads(item.base64())["kind"] == 'odd"kind'


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (StreamOptions(), [True, True, True, True]),
        (StreamOptions(sources=frozenset({A})), [True, False, True, False]),
        (StreamOptions(min_rssi=-70), [True, False, True, False]),
        (StreamOptions(kinds=frozenset({"json"})), [False, True, False, True]),
        (
            StreamOptions(sources=frozenset({A}), min_rssi=-70),
            [True, False, True, False],
        ),
        (
            StreamOptions(
                sources=frozenset({A, B}), min_rssi=-100, kinds=frozenset({"json"})
            ),
            [False, False, False, True],
        ),
    ],
)
def test_compiled_filters(options: StreamOptions, expected: list[bool]) -> None:
    packets = [
        StreamPacket("gw", b'"gw"', PACKETS[0], "bthome"),  # A, -61
        StreamPacket("gw", b'"gw"', PACKETS[1], "json"),  # B, -128
        StreamPacket("gw", b'"gw"', PACKETS[2], "raw"),  # A, 0
        StreamPacket("gw", b'"gw"', Packet(B, A, -80, 0, 1, 0, 1, 1, b"x"), "json"),
    ]
    predicate = compile_filter(options)
    if options == StreamOptions():
        assert predicate is None
        return
    assert predicate is not None
    assert [predicate(item) for item in packets] == expected
