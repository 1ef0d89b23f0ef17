"""Espressif ``esp-now`` component frames (v2.x) and its ``espnow_ctrl`` data.

Espressif's ``espressif/esp-now`` component (used by Espressif's coin-cell
buttons and its ESP-NOW switch examples) puts a 20-byte header before every
payload. The layout, read in the component's ``src/espnow/src/espnow.c``
(``espnow_data_t``, "byte-identical to esp-now <= v2.5.3") and
``src/espnow/include/espnow.h`` (``espnow_frame_head_t``, packed), v2.5.3:

======  ====  ==============================================================
offset  size  field
======  ====  ==============================================================
0       1     bits 0-3 type, bits 4-5 version (2), bits 6-7 reserved (0)
1       1     payload size (its low 8 bits when the payload exceeds 255 bytes)
2       2     magic: a random id of the send, the same in every repeat
4       4     bit field, little-endian: bits 0-3 channel (0 current, 15 all),
              4 filter adjacent channel, 5 filter weak signal, 6 security,
              7-10 reserved, 11 broadcast, 12 group, 13 ack, 14-18 retransmit
              count, 19-23 forward TTL, 24-31 forward RSSI (signed)
8       6     destination address
14      6     source address
20      ...   payload
======  ====  ==============================================================

Types (``espnow_data_type_t``): 0 ack, 1 forward, 2 group, 3 provisioning,
4 control bind, 5 control data, 6 OTA status, 7 OTA data, 8 debug log, 9 debug
command, 10 data, 11 security status, 12 security, 13 security data, 14 time sync,
15 reserved. Every type's header is decoded; values come from types 4 and 5 only.

**Repeats.** A send is repeated ``retransmit_count`` times (10 by default, on
every channel when the channel is 15); receivers drop repeats by type and magic
(the component keeps the last 32). :class:`RecentFrames` does the same per peer,
and a repeat decodes to ``repeat=True`` with no values, so one press is one
event; ``packet_id`` is ``(type << 16) | magic`` for the coordinator too. A new
send whose random 16-bit magic equals one of the last 32 of that peer is taken
for a repeat, as the component itself does (odds 32 in 65536).

**``espnow_ctrl`` data** (``src/control/include/espnow_ctrl.h``,
``espnow_ctrl_data_t``): ``initiator_attribute`` (u32), ``responder_attribute``
(u32), value (u32: bool, int, float, or a string flag + length byte, then the
string). Firmware built with ``CONFIG_ESPNOW_CONTROL_AUTO_CHANNEL_SENDING`` puts a
6-byte copy of the frame head and 2 bytes of alignment first (20 bytes in all).
Understood (type 5, control data):

* initiator ``KEY_1`` ... ``KEY_10`` (``0x0201``-``0x020A``): a ``press`` event
  with key ``button`` (``button_N`` for ``KEY_N``, N > 1); when the responder
  attribute is ``POWER`` (``0x0001``) and the value 0, 1 or 2 (what the coin-cell
  switch sends: off, on, toggle), also an ``off``/``on``/``toggle`` event with
  key ``command`` (``command_N``).
* battery, as initiator or responder attribute: ``BATTERY_LEVEL`` (``0x0302``,
  value 0-100) the sensor ``battery`` (%); ``STATUS_LOW_BATTERY`` (``0x0301``)
  the binary sensor ``battery_low``; ``CHARGING_STATE`` (``0x0303``) the binary
  sensor ``charging``; descriptions from the JSON decoder's table.

Type 4 (control bind: value 1 bind, 0 unbind; the coin-cell button's long press
or double click) and the other attributes (power, light) give no values. Frames
with the security bit are encrypted with keys from the component's security
handshake and give ``encrypted`` + ``decryption_failed``. A frame whose source
address is not the radio sender's (a frame forwarded by another node) gives
``error`` and no values; automatic detection requires the two to match.

What could not be cross-checked: the vectors in ``tests/lib/decoders`` are built
from this layout (the bit field checked against a packed C struct of the same
declaration compiled with GCC), not captured from a device running the
component; that the source address equals the radio source MAC assumes the
component sends on the station interface (its default).

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum
import struct
from typing import Final

from .. import model
from . import json_payload

HEADER_LENGTH: Final = 20
VERSION: Final = 2
MAX_PAYLOAD: Final = 1470
CHANNEL_ALL: Final = 15
RECENT_FRAMES: Final = 32
"""(type, magic) pairs one peer's decoder remembers, as the component does."""

ATTRIBUTE_POWER: Final = 0x0001
ATTRIBUTE_KEY_1: Final = 0x0201
ATTRIBUTE_KEY_10: Final = 0x020A
ATTRIBUTE_LOW_BATTERY: Final = 0x0301
ATTRIBUTE_BATTERY_LEVEL: Final = 0x0302
ATTRIBUTE_CHARGING_STATE: Final = 0x0303
_POWER_EVENTS: Final = ("off", "on", "toggle")
_CTRL_LENGTH: Final = 12
_AUTO_CHANNEL_PREFIX: Final = 8
_CTRL: Final = struct.Struct("<III")
_FIRST_BYTE_MASK: Final = 0xF0  # version and reserved bits
_FIRST_BYTE: Final = VERSION << 4


class FrameType(IntEnum):
    """``espnow_data_type_t``."""

    ACK = 0
    FORWARD = 1
    GROUP = 2
    PROVISIONING = 3
    CONTROL_BIND = 4
    CONTROL_DATA = 5
    OTA_STATUS = 6
    OTA_DATA = 7
    DEBUG_LOG = 8
    DEBUG_COMMAND = 9
    DATA = 10
    SECURITY_STATUS = 11
    SECURITY = 12
    SECURITY_DATA = 13
    TIMESYNC = 14
    RESERVED = 15


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The 20-byte header, field by field."""

    frame_type: FrameType
    size: int
    magic: int
    channel: int
    filter_adjacent_channel: bool
    filter_weak_signal: bool
    security: bool
    broadcast: bool
    group: bool
    ack: bool
    retransmit_count: int
    forward_ttl: int
    forward_rssi: int
    dest_addr: bytes
    src_addr: bytes

    @property
    def packet_id(self) -> int:
        """``(type << 16) | magic``: what identifies a send and its repeats."""
        return (self.frame_type << 16) | self.magic


def looks_like_frame(payload: bytes, mac: bytes | None) -> bool:
    """Cheap checks: length, version, size byte, and the source address if given."""
    size = len(payload)
    return (
        HEADER_LENGTH <= size <= MAX_PAYLOAD
        and payload[0] & _FIRST_BYTE_MASK == _FIRST_BYTE
        and payload[1] == (size - HEADER_LENGTH) & 0xFF
        and (mac is None or payload[14:20] == mac)
    )


def parse_header(payload: bytes) -> FrameHeader | None:
    """Return the header of an esp-now component frame, or ``None``.

    Checks: 20 to 1470 bytes, version 2 with the reserved bits clear, and a size
    byte that matches the payload's length.
    """
    if not looks_like_frame(payload, None):
        return None
    magic, bits = struct.unpack_from("<HI", payload, 2)
    rssi = bits >> 24
    return FrameHeader(
        frame_type=FrameType(payload[0] & 0x0F),
        size=payload[1],
        magic=magic,
        channel=bits & 0xF,
        filter_adjacent_channel=bool(bits >> 4 & 1),
        filter_weak_signal=bool(bits >> 5 & 1),
        security=bool(bits >> 6 & 1),
        broadcast=bool(bits >> 11 & 1),
        group=bool(bits >> 12 & 1),
        ack=bool(bits >> 13 & 1),
        retransmit_count=bits >> 14 & 0x1F,
        forward_ttl=bits >> 19 & 0x1F,
        forward_rssi=rssi - 256 if rssi & 0x80 else rssi,
        dest_addr=payload[8:14],
        src_addr=payload[14:20],
    )


def packet_id_of(payload: bytes) -> int:
    """``(type << 16) | magic`` of a frame that passed :func:`looks_like_frame`."""
    return ((payload[0] & 0x0F) << 16) | payload[2] | payload[3] << 8


class RecentFrames:
    """The last :data:`RECENT_FRAMES` packet ids of one peer (oldest dropped)."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        """Start empty."""
        self._ids: OrderedDict[int, None] = OrderedDict()

    def seen(self, packet_id: int) -> bool:
        """Whether ``packet_id`` is recent; if not, remember it."""
        if packet_id in self._ids:
            return True
        self._ids[packet_id] = None
        if len(self._ids) > RECENT_FRAMES:
            self._ids.popitem(last=False)
        return False


@dataclass(frozen=True, slots=True)
class CtrlData:
    """``espnow_ctrl_data_t``: the attributes, the raw value, a string if any."""

    initiator_attribute: int
    responder_attribute: int
    value: int
    text: bytes | None


def parse_ctrl(data: bytes) -> CtrlData | None:
    """Parse an ``espnow_ctrl_data_t`` (with or without the auto-channel prefix)."""
    for offset in (0, _AUTO_CHANNEL_PREFIX):
        extra = len(data) - offset - _CTRL_LENGTH
        if extra < 0:
            return None
        initiator, responder, value = _CTRL.unpack_from(data, offset)
        if initiator > 0xFFFF or responder > 0xFFFF:
            continue
        if extra == 0:
            return CtrlData(initiator, responder, value, None)
        if value & 0xFFFFFF == 0 and value >> 24 == extra:
            text = data[offset + _CTRL_LENGTH :]
            return CtrlData(initiator, responder, value, text)
    return None


def _battery(attribute: int, value: int) -> model.Measurement | None:
    if attribute == ATTRIBUTE_BATTERY_LEVEL:
        if value > 100:
            return None
        device_class, unit, state_class = json_payload.SENSOR_SPECS["battery"]
        return model.Measurement("battery", value, device_class, unit, state_class)
    name = {ATTRIBUTE_LOW_BATTERY: "battery_low", ATTRIBUTE_CHARGING_STATE: "charging"}
    if (key := name.get(attribute)) is None:
        return None
    return model.Measurement(
        key,
        value != 0,
        json_payload.BINARY_SPECS[key][0],
        None,
        None,
        binary=True,
    )


def _values(
    ctrl: CtrlData,
) -> tuple[tuple[model.Measurement, ...], tuple[model.ButtonEvent, ...]]:
    events: list[model.ButtonEvent] = []
    measurements: list[model.Measurement] = []
    initiator = ctrl.initiator_attribute
    if ATTRIBUTE_KEY_1 <= initiator <= ATTRIBUTE_KEY_10:
        number = initiator - ATTRIBUTE_KEY_1 + 1
        suffix = "" if number == 1 else f"_{number}"
        events.append(model.ButtonEvent(f"button{suffix}", "press"))
        if ctrl.responder_attribute == ATTRIBUTE_POWER and ctrl.value < len(
            _POWER_EVENTS
        ):
            events.append(
                model.ButtonEvent(f"command{suffix}", _POWER_EVENTS[ctrl.value])
            )
    if ctrl.text is None:
        for attribute in (initiator, ctrl.responder_attribute):
            if (found := _battery(attribute, ctrl.value)) is not None:
                measurements.append(found)
                break
    return tuple(measurements), tuple(events)


def decode(payload: bytes, *, mac: bytes, recent: RecentFrames) -> model.DecodedPayload:
    """Decode one frame from the peer ``mac`` (see the module docstring).

    ``recent`` is the peer's repeat memory, updated here. Never raises.
    """
    kind = model.PayloadKind.ESPNOW_CTRL
    header = parse_header(payload)
    if header is None:
        return model.DecodedPayload(kind=kind, error="not an esp-now component frame")
    packet_id = header.packet_id
    if header.src_addr != mac:
        return model.DecodedPayload(
            kind=kind,
            packet_id=packet_id,
            error="source address is not the sender's (a forwarded frame)",
        )
    if recent.seen(packet_id):
        return model.DecodedPayload(kind=kind, packet_id=packet_id, repeat=True)
    if header.security:
        return model.DecodedPayload(
            kind=kind, packet_id=packet_id, encrypted=True, decryption_failed=True
        )
    if header.frame_type is not FrameType.CONTROL_DATA:
        if header.frame_type is FrameType.CONTROL_BIND and (
            parse_ctrl(payload[HEADER_LENGTH:]) is None
        ):
            return model.DecodedPayload(
                kind=kind, packet_id=packet_id, error="malformed espnow_ctrl bind data"
            )
        return model.DecodedPayload(kind=kind, packet_id=packet_id)
    ctrl = parse_ctrl(payload[HEADER_LENGTH:])
    if ctrl is None:
        return model.DecodedPayload(
            kind=kind, packet_id=packet_id, error="malformed espnow_ctrl data"
        )
    measurements, events = _values(ctrl)
    return model.DecodedPayload(
        kind=kind, measurements=measurements, events=events, packet_id=packet_id
    )


def scan(payload: bytes, mac: bytes | None) -> tuple[bool, int | None]:
    """``(urgent, packet_id)`` without decoding: control data is urgent.

    Control data frames can hold events and binary states (and the header's
    security bit is not trusted here); the other types give no values.
    """
    if not looks_like_frame(payload, mac):
        return False, None
    return payload[0] & 0x0F == FrameType.CONTROL_DATA, packet_id_of(payload)
