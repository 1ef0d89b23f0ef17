"""Frame builders for tests and tools (the simulator): never used by the decoders.

:class:`EsphomeNode` builds ESPHome ``packet_transport`` frames the way an ESPHome
node does (header, records, zero padding, optional rolling code and encryption,
a new frame when the next record would not fit); :func:`espnow_frame` and
:func:`espnow_ctrl_payload` build Espressif ``esp-now`` component frames. The
formats are described in :mod:`.decoders.esphome` and :mod:`.decoders.espnow_ctrl`;
the decoders are checked against frames made by ESPHome's own C++ code
(``tests/lib/decoders/vectors``), not against this module alone.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Iterable
import math
import struct

from .decoders import esphome, espnow_ctrl

_MASK = 0xFFFFFFFF


def xxtea_encrypt(data: bytes, key: esphome.Key) -> bytes:
    """Encrypt ``data`` (a multiple of 4 bytes) with ESPHome's 8-word XXTEA variant."""
    n = len(data) // 4
    if n == 0:
        return b""
    v = list(struct.unpack(f"<{n}I", data))
    rounds = 6 + 52 // n
    total = 0
    z = v[n - 1]
    for _ in range(rounds):
        total = (total + esphome.DELTA) & _MASK
        e = total >> 2
        for p in range(n):
            y = v[(p + 1) % n]
            mx = (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ (
                (total ^ y) + (key[(p ^ e) & 7] ^ z)
            )
            z = v[p] = (v[p] + mx) & _MASK
    return struct.pack(f"<{n}I", *v)


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


class EsphomeNode:
    """An ESPHome node's ``packet_transport`` sender.

    ``key`` is the YAML key string (``None``: clear frames); ``rolling_code`` turns
    on the rolling code (``boot`` is its high word, as loaded from flash and bumped
    at boot); ``max_size`` is the transport's largest frame.
    """

    def __init__(
        self,
        name: str,
        *,
        key: str | None = None,
        rolling_code: bool = False,
        boot: int = 1,
        max_size: int = 250,
    ) -> None:
        """Create the node (the header is built once, as ESPHome does in setup)."""
        raw = name.encode()
        self.header = _pad4(esphome.MAGIC_DATA + bytes([len(raw)]) + raw)
        self._name = raw
        self._key = None if key is None else esphome.hash_key(key)
        self._rolling = rolling_code
        self.code = [0, boot & _MASK]  # low, high
        self._max = max_size

    def reboot(self) -> None:
        """Start again as after a reset: the high word is bumped, the low word is 0."""
        self.code = [0, (self.code[1] + 1) & _MASK]

    def _start(self) -> bytearray:
        if not self._rolling:
            return bytearray([esphome.DATA_KEY])
        data = bytearray([esphome.ROLLING_CODE_KEY]) + struct.pack("<II", *self.code)
        self.code[0] = (self.code[0] + 1) & _MASK
        if self.code[0] == 0:
            self.code[1] = (self.code[1] + 1) & _MASK
        return data

    def _flush(self, data: bytearray) -> bytes:
        body = _pad4(bytes(data))
        if self._key is not None:
            body = xxtea_encrypt(body, self._key)
        return self.header + body

    def frames(
        self,
        sensors: Iterable[tuple[str, float]] = (),
        binary_sensors: Iterable[tuple[str, bool]] = (),
    ) -> list[bytes]:
        """Return the frames of one send: sensor records, then binary-sensor records."""
        records = [
            bytes([esphome.SENSOR_KEY])
            + struct.pack("<f", math.nan if value is None else value)
            + bytes([len(ident)])
            + ident.encode()
            for ident, value in sensors
        ]
        records += [
            bytes([esphome.BINARY_SENSOR_KEY, int(bool(on)), len(ident)])
            + ident.encode()
            for ident, on in binary_sensors
        ]
        frames: list[bytes] = []
        data = self._start()
        for record in records:
            if len(self.header) + -(-(len(data) + len(record)) // 4) * 4 > self._max:
                frames.append(self._flush(data))
                data = self._start()
            data += record
        frames.append(self._flush(data))
        return frames

    def ping(self, ping_key: int) -> bytes:
        """Return a ping request (what a consumer node broadcasts): no values."""
        return (
            esphome.MAGIC_PING
            + bytes([len(self._name)])
            + self._name
            + struct.pack("<I", ping_key)
        )


def espnow_frame(
    frame_type: int,
    payload: bytes,
    *,
    src: bytes,
    dest: bytes = b"\xff" * 6,
    magic: int,
    channel: int = espnow_ctrl.CHANNEL_ALL,
    broadcast: bool = True,
    retransmit_count: int = 10,
    forward_ttl: int = 10,
    forward_rssi: int = -25,
    security: bool = False,
    ack: bool = False,
    group: bool = False,
    filter_adjacent_channel: bool = False,
    filter_weak_signal: bool = False,
) -> bytes:
    """Return an esp-now component frame: the 20-byte header and ``payload``.

    The defaults are ``espnow_ctrl``'s initiator frame head (``g_initiator_frame``).
    """
    bits = (
        (channel & 0xF)
        | filter_adjacent_channel << 4
        | filter_weak_signal << 5
        | security << 6
        | broadcast << 11
        | group << 12
        | ack << 13
        | (retransmit_count & 0x1F) << 14
        | (forward_ttl & 0x1F) << 19
        | (forward_rssi & 0xFF) << 24
    )
    return (
        bytes([(frame_type & 0xF) | espnow_ctrl.VERSION << 4, len(payload) & 0xFF])
        + struct.pack("<HI", magic & 0xFFFF, bits)
        + dest
        + src
        + payload
    )


def espnow_ctrl_payload(
    initiator_attribute: int,
    responder_attribute: int,
    value: int,
    *,
    frame_head: bytes | None = None,
) -> bytes:
    """Return an ``espnow_ctrl_data_t``: two 32-bit attributes and a 32-bit value.

    ``frame_head`` (6 bytes): the copy that firmware built with
    ``CONFIG_ESPNOW_CONTROL_AUTO_CHANNEL_SENDING`` puts first (then 2 bytes of
    alignment padding).
    """
    head = b"" if frame_head is None else frame_head + b"\x00\x00"
    return head + struct.pack(
        "<IIi" if value < 0 else "<III",
        initiator_attribute,
        responder_attribute,
        value,
    )
