"""The stream's wire form: each packet's JSON made once, messages joined from bytes.

A packet reaches every subscriber as the same ``StreamPacket``; its JSON text is
made the first time a subscriber of an encoding needs it, and kept on the packet for
the others. A batch is then the message bytes joined from those fragments, exactly
what Home Assistant's ``json_bytes`` makes of the message dict (tested), so every
size the stream counts is the size it sends. See docs/websocket.md.

No Home Assistant imports (``orjson`` is what Home Assistant's JSON helpers use).
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter
from typing import Final

import orjson

from .espnowgw.mac import mac_to_str
from .espnowgw.messages import Packet
from .espnowgw.model import PayloadKind

MAX_MESSAGE_BYTES: Final = 256 * 1024  # no message of the stream is larger


class Encoding(StrEnum):
    """How payload bytes are written."""

    BASE64 = "base64"
    HEX = "hex"


_KINDS: Final = {kind.value: orjson.dumps(kind.value) for kind in PayloadKind}
# A packet's JSON, its payload's text last: one formatting, no intermediate bytes.
_PACKET: Final = (
    b'{"gateway":%b,"src":"%b","dst":"%b","rssi":%d,"channel":%d,"ts":%d,'
    b'"seq":%d,"kind":%b,"payload":"%b"}'
)
# The numbers every event of a subscription carries, after its own fields.
_FIGURES: Final = (
    b',"subscription":%d,"dropped":%d,"dropped_total":%d,"buffered_bytes":%d,'
    b'"throttled":%b}}'
)
_BOOL: Final = (b"false", b"true")
MAC_TEXTS: Final = 4096  # MACs whose text is kept; beyond: the least recently used goes


@lru_cache(maxsize=MAC_TEXTS)
def mac_text(mac: bytes) -> bytes:
    """Return a MAC's text as the stream writes it (``AA:BB:…``), kept for the next."""
    return mac_to_str(mac).encode()


class StreamPacket:
    """One received packet as all subscribers share it, encoded at most once each way.

    A packet's size in a batch is its JSON text and the one separator that follows
    it in the ``packets`` list (a comma, or the closing bracket after the last one).
    """

    __slots__ = ("_base64", "_gateway", "_hex", "gateway", "kind", "packet")

    def __init__(self, gateway: str, gateway_json: bytes, packet: Packet, kind: str):
        """Wrap ``packet`` of ``gateway`` (``gateway_json``: its JSON string)."""
        self.gateway = gateway
        self.packet = packet
        self.kind = kind
        self._gateway = gateway_json
        self._base64: bytes | None = None
        self._hex: bytes | None = None

    def _json(self, payload_text: bytes) -> bytes:
        packet = self.packet
        kind = self.kind
        return _PACKET % (
            self._gateway,
            mac_text(packet.src),
            mac_text(packet.dst),
            packet.rssi,
            packet.channel,
            packet.timestamp_us,
            packet.seq,
            _KINDS.get(kind) or orjson.dumps(kind),
            payload_text,
        )

    def base64(self) -> bytes:
        """Return the packet's JSON with a base64 payload (made on first use)."""
        fragment = self._base64
        if fragment is None:
            fragment = self._base64 = self._json(
                b2a_base64(self.packet.payload, newline=False)
            )
        return fragment

    def hex(self) -> bytes:
        """Return the packet's JSON with a hexadecimal payload (made on first use)."""
        fragment = self._hex
        if fragment is None:
            fragment = self._hex = self._json(self.packet.payload.hex().encode())
        return fragment


class Chunk:
    """Packets of one gateway handed over together, as every subscriber sees them.

    A subscriber that keeps all of them keeps the chunk's JSON, joined once per
    encoding for every such subscriber: its batch is then joined from a few chunks,
    not from hundreds of packets. (The packets keep their own JSON too: a subscriber
    that must drop or split goes packet by packet.)
    """

    __slots__ = ("_joined", "items")

    def __init__(self, items: list[StreamPacket]) -> None:
        """Wrap ``items`` (never changed afterwards)."""
        self.items = items
        self._joined: dict[Encoding, bytes] = {}

    def joined(self, encoding: Encoding) -> bytes:
        """Return the packets' JSON in ``encoding``, comma-separated (made once)."""
        data = self._joined.get(encoding)
        if data is None:
            data = self._joined[encoding] = b",".join(
                map(fragment_of(encoding), self.items)
            )
        return data


def fragment_of(encoding: Encoding) -> Callable[[StreamPacket], bytes]:
    """Return the function that gives a packet's JSON in ``encoding``."""
    return StreamPacket.hex if encoding == Encoding.HEX else StreamPacket.base64


def made_of(encoding: Encoding) -> Callable[[StreamPacket], bytes]:
    """Return a C-level getter of a packet's JSON in ``encoding``, once it is made.

    For packets whose fragment was made already (every packet a subscriber keeps:
    its size was counted): a batch reads hundreds of them at once.
    """
    getter: Callable[[StreamPacket], bytes] = attrgetter(
        "_hex" if encoding == Encoding.HEX else "_base64"
    )
    return getter


def gateway_json(gateway: str) -> bytes:
    """Return a gateway's id as a JSON string, as it appears in every packet."""
    return orjson.dumps(gateway)


def batch_head(msg_id: int, batch: int) -> bytes:
    """Return the start of a batch message, up to its first packet."""
    return b'{"id":%d,"type":"event","event":{"batch":%d,"packets":[' % (msg_id, batch)


def figures(
    msg_id: int, dropped: int, dropped_total: int, buffered: int, throttled: bool
) -> bytes:
    """Return the end of every event: a comma, the figures, the closing braces."""
    return _FIGURES % (msg_id, dropped, dropped_total, buffered, _BOOL[throttled])


def batch_message(head: bytes, parts: list[bytes], tail: bytes) -> bytes:
    """Join a batch: ``len(head)`` + the packets' sizes + ``len(tail)`` bytes.

    ``parts`` are packets' JSON, each alone or several already comma-separated.
    """
    return b"%b%b]%b" % (head, b",".join(parts), tail)


def status_message(msg_id: int, status: str, reason: str | None, tail: bytes) -> bytes:
    """Return a status event (``throttled``, ``resumed``, ``closed``)."""
    extra = b',"reason":%b' % orjson.dumps(reason) if reason is not None else b""
    return b'{"id":%d,"type":"event","event":{"status":%b%b%b' % (
        msg_id,
        orjson.dumps(status),
        extra,
        tail,
    )
