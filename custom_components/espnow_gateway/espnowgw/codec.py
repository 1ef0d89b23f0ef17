"""Frame layer of the gateway link protocol (see docs/protocol.md).

A frame on the wire::

    SOF(2) = E5 A7 | type(1) | length(2, LE) | hcs(1) | body(length) | crc32(4, LE)

``hcs`` is ``~(type + length_lo + length_hi) & 0xFF`` so that a corrupted length is
rejected at once instead of making the decoder wait for bytes that never come;
``crc32`` is the IEEE 802.3 CRC (zlib's) of everything from ``type`` to the end of
the body. The frame layer knows nothing about message types; the decoder hands each
good frame to a parser chosen by its type (see ``messages``).

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
import struct
from typing import Final
from zlib import crc32

SOF: Final = b"\xe5\xa7"
HEADER: Final = struct.Struct("<2sBHB")
HEADER_SIZE: Final = HEADER.size  # 6
CRC_SIZE: Final = 4
OVERHEAD: Final = HEADER_SIZE + CRC_SIZE  # 10 bytes per frame
MAX_BODY: Final = 1536
MAX_FRAME: Final = OVERHEAD + MAX_BODY
# The CRC-32 of a message followed by its own CRC (little-endian) is this constant,
# so a frame is checked with a single crc32() call and no unpacking.
_CRC_RESIDUE: Final = 0x2144DF1C
_SOF0: Final = SOF[0]

type BodyParser[T] = Callable[[bytes, int, int], T]
"""Parse the body ``buf[start:end]`` into a message; raise ``ValueError`` if malformed."""


def header_check(frame_type: int, length: int) -> int:
    """Return the header check byte for a frame type and body length."""
    return ~(frame_type + (length & 0xFF) + (length >> 8)) & 0xFF


def encode_frame(frame_type: int, body: bytes) -> bytes:
    """Encode one frame."""
    length = len(body)
    if not 0 < frame_type < 0xFF:
        raise ValueError(f"frame type {frame_type:#x} is reserved")
    if length > MAX_BODY:
        raise ValueError(f"body of {length} bytes exceeds {MAX_BODY}")
    core = struct.pack("<BHB", frame_type, length, header_check(frame_type, length))
    core += body
    return SOF + core + crc32(core).to_bytes(4, "little")


@dataclass(slots=True)
class DecoderStats:
    """What the decoder has seen. Every discarded byte is counted somewhere."""

    bytes_received: int = 0
    frames: int = 0
    crc_errors: int = 0
    header_errors: int = 0
    oversize: int = 0
    bytes_skipped: int = 0
    unknown_types: int = 0
    malformed: int = 0
    stale_partials: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counters as a dictionary."""
        return asdict(self)


class FrameDecoder[T]:
    """Incremental frame decoder.

    Feed it chunks of any size; it returns the messages completed by each chunk. The
    result does not depend on how the stream is split. The internal buffer never holds
    more than one incomplete frame (at most ``MAX_FRAME`` bytes).

    Recovery: a bad header (wrong check byte or a length above ``MAX_BODY``) or a bad
    CRC discards only the first byte of the would-be frame and resumes the search for
    ``SOF`` right after it, so a good frame that follows a damaged one is never lost.
    """

    __slots__ = ("_parsers", "_tail", "stats")

    def __init__(self, parsers: Mapping[int, BodyParser[T]]) -> None:
        """Initialize with a parser per known frame type."""
        self._parsers = dict(parsers)
        self._tail = b""
        self.stats = DecoderStats()

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._tail)

    def reset(self) -> None:
        """Forget any partial frame (e.g. after a reconnect)."""
        self._tail = b""

    def feed(self, data: bytes) -> list[T]:
        """Decode a chunk and return the complete messages in it, in order."""
        self.stats.bytes_received += len(data)
        return self._decode(self._tail + data if self._tail else data)

    def flush(self) -> list[T]:
        """Give up on a partial frame because the line went quiet.

        A frame whose end was lost (bytes dropped by a UART) announces a length that
        only later traffic would fill, and would hold back good frames behind it until
        then. When nothing has arrived for a while, the caller flushes: the partial
        frame loses its first byte and what follows it is decoded again.
        """
        out: list[T] = []
        if self._tail:
            self.stats.stale_partials += 1
        while self._tail:
            tail = self._tail
            self._tail = b""
            self.stats.bytes_skipped += 1
            out += self._decode(tail[1:])
        return out

    def _decode(self, buf: bytes) -> list[T]:
        stats = self.stats
        size = len(buf)
        pos = 0
        out: list[T] = []
        append = out.append
        parsers = self._parsers
        unpack_header = HEADER.unpack_from
        while size - pos >= OVERHEAD:
            sof, frame_type, length, check = unpack_header(buf, pos)
            if sof != SOF:
                found = buf.find(SOF, pos + 1)
                if found < 0:
                    break
                stats.bytes_skipped += found - pos
                pos = found
                continue
            if check != ~(frame_type + (length & 0xFF) + (length >> 8)) & 0xFF:
                stats.header_errors += 1
                stats.bytes_skipped += 1
                pos += 1
                continue
            if length > MAX_BODY:
                stats.oversize += 1
                stats.bytes_skipped += 1
                pos += 1
                continue
            end = pos + OVERHEAD + length
            if end > size:
                break
            if crc32(buf[pos + 2 : end]) != _CRC_RESIDUE:
                stats.crc_errors += 1
                stats.bytes_skipped += 1
                pos += 1
                continue
            stats.frames += 1
            parse = parsers.get(frame_type)
            if parse is None:
                stats.unknown_types += 1
            else:
                try:
                    append(parse(buf, pos + HEADER_SIZE, end - CRC_SIZE))
                except ValueError, struct.error:
                    stats.malformed += 1
            pos = end
        # What is left is an incomplete frame, or bytes that cannot start one yet.
        if buf[pos : pos + 2] != SOF:
            found = buf.find(SOF, pos + 1)
            if found < 0:
                found = size - 1 if size > pos and buf[-1] == _SOF0 else size
            stats.bytes_skipped += found - pos
            pos = found
        self._tail = buf[pos:]
        return out
