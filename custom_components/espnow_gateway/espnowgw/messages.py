"""Messages of the gateway link protocol, version 1.1 (see docs/protocol.md).

Each message is a dataclass whose fields are, in order, the fixed little-endian fields
of its body and, for messages that carry one, a variable-length tail (payload bytes or
UTF-8 text) whose length is the last fixed field on the wire. Newer protocol minor
versions may append fields after the tail; parsers ignore bytes they do not know.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum, IntFlag
import struct
from typing import ClassVar, Final, Self

from .codec import BodyParser, FrameDecoder, encode_frame

PROTOCOL_MAJOR: Final = 1
PROTOCOL_MINOR: Final = 1  # 1.1: GET_PEERS/PEER_LIST, SET_PMK
MAX_PAYLOAD: Final = 1470  # ESP-NOW v2; v1 peers send at most 250
DEFAULT_BAUDRATE: Final = 921_600


class FrameType(IntEnum):
    """Frame types. 0x01-0x7F travel gateway -> host, 0x81-0xFE host -> gateway."""

    HELLO = 0x01
    PACKET = 0x02
    STATS = 0x03
    SEND_RESULT = 0x04
    COMMAND_RESULT = 0x05
    PONG = 0x06
    LOG = 0x07
    PEER_LIST = 0x08  # 1.1

    PING = 0x81
    GET_INFO = 0x82
    SET_CHANNEL = 0x83
    SEND = 0x84
    ADD_PEER = 0x85
    REMOVE_PEER = 0x86
    GET_PEERS = 0x87  # 1.1
    SET_PMK = 0x88  # 1.1


class Capability(IntFlag):
    """Features a gateway announces in its hello."""

    SEND = 0x01
    PEERS = 0x02
    SET_CHANNEL = 0x04
    ENCRYPTION = 0x08
    ESPNOW_V2 = 0x10
    NOISE_FLOOR = 0x20
    STATS = 0x40
    PEER_LIST = 0x80  # 1.1: GET_PEERS, answered by PEER_LIST
    SET_PMK = 0x100  # 1.1: SET_PMK


class Status(IntEnum):
    """Result codes of SEND_RESULT and COMMAND_RESULT."""

    OK = 0
    ERROR = 1
    NO_ACK = 2
    UNKNOWN_PEER = 3
    INVALID_ARGUMENT = 4
    BUSY = 5
    NOT_SUPPORTED = 6
    PEER_TABLE_FULL = 7


class LogLevel(IntEnum):
    """Levels of gateway log lines (ESP-IDF's esp_log_level_t)."""

    ERROR = 1
    WARNING = 2
    INFO = 3
    DEBUG = 4
    VERBOSE = 5


@dataclass(slots=True)
class Message:
    """Base class of all messages."""

    TYPE: ClassVar[FrameType]
    FIXED: ClassVar[struct.Struct] = struct.Struct("<")
    # None: no tail; "bytes" or "text": the last FIXED field is the tail's length.
    TAIL: ClassVar[str | None] = None
    _names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def parse(cls, buf: bytes, start: int, end: int) -> Self:
        """Parse a body from ``buf[start:end]``; raise ValueError if malformed."""
        fixed = cls.FIXED
        if end - start < fixed.size:
            raise ValueError(f"{cls.__name__}: body too short")
        values = fixed.unpack_from(buf, start)
        make: Callable[..., Self] = cls
        if cls.TAIL is None:
            return make(*values)
        tail_start = start + fixed.size
        tail_end = tail_start + values[-1]
        if tail_end > end:
            raise ValueError(f"{cls.__name__}: tail longer than body")
        tail = buf[tail_start:tail_end]
        if cls.TAIL == "text":
            return make(*values[:-1], tail.decode("utf-8", "replace"))
        return make(*values[:-1], tail)

    def body(self) -> bytes:
        """Encode the body of this message."""
        names = self._names or _field_names(type(self))
        values = [getattr(self, name) for name in names]
        if self.TAIL is None:
            return self.FIXED.pack(*values)
        tail = values.pop()
        raw = tail.encode() if isinstance(tail, str) else bytes(tail)
        limit = 0xFF if self.FIXED.format.endswith("B") else 0xFFFF
        if len(raw) > limit:
            raise ValueError(
                f"{type(self).__name__}: tail of {len(raw)} bytes > {limit}"
            )
        return self.FIXED.pack(*values, len(raw)) + raw

    def encode(self) -> bytes:
        """Encode this message as a complete frame."""
        return encode_frame(self.TYPE, self.body())


def _field_names(cls: type[Message]) -> tuple[str, ...]:
    names = tuple(f.name for f in fields(cls))
    cls._names = names
    return names


# --- gateway -> host -----------------------------------------------------------------


@dataclass(slots=True)
class Hello(Message):
    """Sent by the gateway at boot and in answer to GET_INFO."""

    TYPE = FrameType.HELLO
    FIXED = struct.Struct("<BB6sBHIB")
    TAIL = "text"

    protocol_major: int
    protocol_minor: int
    mac: bytes
    channel: int
    max_payload: int
    capabilities: int
    firmware: str


@dataclass(slots=True)
class Packet(Message):
    """An ESP-NOW frame received by the gateway's radio."""

    TYPE = FrameType.PACKET
    FIXED = struct.Struct("<6s6sbbBBIQH")
    TAIL = "bytes"

    src: bytes
    dst: bytes
    rssi: int
    noise_floor: int  # dBm; 0 when the gateway does not report it
    channel: int
    rate: int  # wifi_pkt_rx_ctrl_t.rate
    seq: int  # per gateway, +1 for every PACKET frame sent to the host
    timestamp_us: int  # gateway clock, microseconds since boot
    payload: bytes


@dataclass(slots=True)
class Stats(Message):
    """Periodic gateway statistics; counters are cumulative since boot."""

    TYPE = FrameType.STATS
    FIXED = struct.Struct("<IIIIIIIIHH")

    uptime_s: int
    rx_packets: int
    rx_dropped: int
    tx_packets: int
    tx_failed: int
    host_frames_bad: int
    free_heap: int
    min_free_heap: int
    queue_peak: int
    queue_capacity: int


@dataclass(slots=True)
class SendResult(Message):
    """Outcome of a SEND, after the ESP-NOW send callback."""

    TYPE = FrameType.SEND_RESULT
    FIXED = struct.Struct("<H6sB")

    request_id: int
    dst: bytes
    status: int


@dataclass(slots=True)
class CommandResult(Message):
    """Outcome of SET_CHANNEL, ADD_PEER or REMOVE_PEER."""

    TYPE = FrameType.COMMAND_RESULT
    FIXED = struct.Struct("<HBB")

    request_id: int
    command: int
    status: int


@dataclass(slots=True)
class Pong(Message):
    """Answer to PING."""

    TYPE = FrameType.PONG
    FIXED = struct.Struct("<H")

    request_id: int


@dataclass(slots=True)
class Log(Message):
    """A log line from the gateway firmware."""

    TYPE = FrameType.LOG
    FIXED = struct.Struct("<BB")
    TAIL = "text"

    level: int
    text: str


@dataclass(frozen=True, slots=True)
class PeerEntry:
    """One peer of a gateway's radio peer table (a record of PEER_LIST)."""

    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<6sBB")
    FLAG_ENCRYPT: ClassVar[int] = 0x01

    mac: bytes
    channel: int  # 0: the gateway's current channel
    flags: int

    @property
    def encrypted(self) -> bool:
        """Whether frames to and from this peer are encrypted with its LMK."""
        return bool(self.flags & self.FLAG_ENCRYPT)


@dataclass(slots=True)
class PeerList(Message):
    """The gateway's radio peer table, in answer to GET_PEERS (1.1).

    The fixed part ends in the number of records; ``count`` records of 8 bytes
    (``PeerEntry.LAYOUT``) follow.
    """

    TYPE = FrameType.PEER_LIST
    FIXED = struct.Struct("<HBBB")

    request_id: int
    max_peers: int  # capacity of the table, every peer (ESP_NOW_MAX_TOTAL_PEER_NUM)
    max_encrypted: int  # of which encrypted at most (ESP_NOW_MAX_ENCRYPT_PEER_NUM)
    peers: tuple[PeerEntry, ...]

    @classmethod
    def parse(cls, buf: bytes, start: int, end: int) -> Self:
        """Parse the fixed part and the records; raise ValueError if malformed."""
        fixed, layout = cls.FIXED, PeerEntry.LAYOUT
        if end - start < fixed.size:
            raise ValueError("PeerList: body too short")
        request_id, max_peers, max_encrypted, count = fixed.unpack_from(buf, start)
        first = start + fixed.size
        if first + count * layout.size > end:
            raise ValueError("PeerList: records longer than body")
        peers = tuple(
            PeerEntry(*layout.unpack_from(buf, first + index * layout.size))
            for index in range(count)
        )
        return cls(request_id, max_peers, max_encrypted, peers)

    def body(self) -> bytes:
        """Encode the fixed part and the records."""
        if len(self.peers) > 0xFF:
            raise ValueError(f"PeerList: {len(self.peers)} records > 255")
        head = self.FIXED.pack(
            self.request_id, self.max_peers, self.max_encrypted, len(self.peers)
        )
        layout = PeerEntry.LAYOUT
        return head + b"".join(
            layout.pack(p.mac, p.channel, p.flags) for p in self.peers
        )


# --- host -> gateway -----------------------------------------------------------------


@dataclass(slots=True)
class Ping(Message):
    """Heartbeat; the gateway answers with PONG carrying the same request id."""

    TYPE = FrameType.PING
    FIXED = struct.Struct("<H")

    request_id: int


@dataclass(slots=True)
class GetInfo(Message):
    """Ask for a HELLO."""

    TYPE = FrameType.GET_INFO


@dataclass(slots=True)
class SetChannel(Message):
    """Move the radio to another Wi-Fi channel (1-14)."""

    TYPE = FrameType.SET_CHANNEL
    FIXED = struct.Struct("<HB")

    request_id: int
    channel: int


@dataclass(slots=True)
class Send(Message):
    """Send a payload to a peer (or FF:FF:FF:FF:FF:FF for broadcast)."""

    TYPE = FrameType.SEND
    FIXED = struct.Struct("<H6sH")
    TAIL = "bytes"

    request_id: int
    dst: bytes
    payload: bytes


@dataclass(slots=True)
class AddPeer(Message):
    """Register a peer with the radio (needed for unicast sends and encryption)."""

    TYPE = FrameType.ADD_PEER
    FIXED = struct.Struct("<H6sBB16s")
    FLAG_ENCRYPT: ClassVar[int] = 0x01

    request_id: int
    mac: bytes
    channel: int  # 0: the gateway's current channel
    flags: int
    lmk: bytes  # local master key, 16 bytes; zeros when not encrypted


@dataclass(slots=True)
class RemovePeer(Message):
    """Unregister a peer."""

    TYPE = FrameType.REMOVE_PEER
    FIXED = struct.Struct("<H6s")

    request_id: int
    mac: bytes


@dataclass(slots=True)
class GetPeers(Message):
    """Ask for the gateway's radio peer table (1.1; answered by PEER_LIST)."""

    TYPE = FrameType.GET_PEERS
    FIXED = struct.Struct("<H")

    request_id: int


@dataclass(slots=True)
class SetPmk(Message):
    """Set the primary master key of ESP-NOW encryption (1.1)."""

    TYPE = FrameType.SET_PMK
    FIXED = struct.Struct("<H16s")

    request_id: int
    pmk: bytes  # 16 bytes


MESSAGE_TYPES: Final[dict[int, type[Message]]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Packet,
        Stats,
        SendResult,
        CommandResult,
        Pong,
        Log,
        PeerList,
        Ping,
        GetInfo,
        SetChannel,
        Send,
        AddPeer,
        RemovePeer,
        GetPeers,
        SetPmk,
    )
}

_PACKET_FIXED: Final = Packet.FIXED
_PACKET_FIXED_SIZE: Final = Packet.FIXED.size


def _parse_packet(buf: bytes, start: int, end: int) -> Packet:
    """Parse a PACKET body: the hot path, so one unpack and one slice."""
    src, dst, rssi, noise, channel, rate, seq, ts, length = _PACKET_FIXED.unpack_from(
        buf, start
    )
    tail = start + _PACKET_FIXED_SIZE
    if tail + length > end or length > MAX_PAYLOAD:
        raise ValueError("PACKET: bad payload length")
    return Packet(
        src, dst, rssi, noise, channel, rate, seq, ts, buf[tail : tail + length]
    )


def parsers(types: range) -> dict[int, BodyParser[Message]]:
    """Return the body parsers for the message types within ``types``."""
    table: dict[int, BodyParser[Message]] = {
        frame_type: cls.parse
        for frame_type, cls in MESSAGE_TYPES.items()
        if frame_type in types
    }
    if FrameType.PACKET in types:
        table[FrameType.PACKET] = _parse_packet
    return table


GATEWAY_TO_HOST: Final = range(0x01, 0x80)
HOST_TO_GATEWAY: Final = range(0x81, 0xFF)


def host_decoder() -> FrameDecoder[Message]:
    """Return a decoder for what a host receives from a gateway."""
    return FrameDecoder(parsers(GATEWAY_TO_HOST))


def gateway_decoder() -> FrameDecoder[Message]:
    """Return a decoder for what a gateway receives from a host."""
    return FrameDecoder(parsers(HOST_TO_GATEWAY))
