"""Decode throughput of the link codec against newline-delimited JSON with hex payloads.

Both decoders are fed the same 250-byte ESP-NOW payloads in 4 KB chunks and build the
same ``Packet`` object per frame. Figures are ratios: to the native-USB line rate
(about 875,000 bytes/s) and to the JSON baseline measured in the same run.
"""

from __future__ import annotations

import json
import platform
import random
import time
from typing import Any

from espnowgw.mac import BROADCAST, mac_from_str, mac_to_str
from espnowgw.messages import Packet, host_decoder

LINE_RATE = 875_000  # bytes/s, native USB full-speed CDC (see the README)
CHUNK = 4096
PAYLOAD = 250


def _packets(count: int) -> list[Packet]:
    rng = random.Random(1)
    macs = [rng.randbytes(6) for _ in range(50)]
    return [
        Packet(
            macs[i % 50],
            BROADCAST,
            -40 - i % 50,
            -95,
            1,
            0,
            i,
            i * 500,
            rng.randbytes(PAYLOAD),
        )
        for i in range(count)
    ]


def _json_line(p: Packet) -> bytes:
    doc = {
        "src": mac_to_str(p.src),
        "dst": mac_to_str(p.dst),
        "rssi": p.rssi,
        "noise": p.noise_floor,
        "ch": p.channel,
        "rate": p.rate,
        "seq": p.seq,
        "ts": p.timestamp_us,
        "data": p.payload.hex(),
    }
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


class JsonLineDecoder:
    """The usual gateway framing: one JSON object per line, payload in hex."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[Packet]:
        lines = (self._tail + data).split(b"\n")
        self._tail = lines.pop()
        out = []
        for line in lines:
            try:
                d = json.loads(line)
                out.append(
                    Packet(
                        mac_from_str(d["src"]),
                        mac_from_str(d["dst"]),
                        d["rssi"],
                        d["noise"],
                        d["ch"],
                        d["rate"],
                        d["seq"],
                        d["ts"],
                        bytes.fromhex(d["data"]),
                    )
                )
            except ValueError, KeyError:
                continue
        return out


def _measure(make_decoder: Any, chunks: list[bytes], frames: int, repeat: int) -> float:
    """Return the best time (s) to decode all chunks, checking the frame count."""
    best = float("inf")
    for _ in range(repeat):
        decoder = make_decoder()
        decoded = 0
        start = time.perf_counter()
        for chunk in chunks:
            decoded += len(decoder.feed(chunk))
        elapsed = time.perf_counter() - start
        assert decoded == frames, (decoded, frames)
        best = min(best, elapsed)
    return best


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark and print the report."""
    count = 5_000 if quick else 40_000
    repeat = 3 if quick else 7
    packets = _packets(count)
    binary = b"".join(p.encode() for p in packets)
    text = b"".join(_json_line(p) for p in packets)
    binary_chunks = [binary[i : i + CHUNK] for i in range(0, len(binary), CHUNK)]
    text_chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    # Both formats decode to the very same packets (checked once, outside the timing).
    binary_decoder, text_decoder = host_decoder(), JsonLineDecoder()
    assert [m for c in binary_chunks for m in binary_decoder.feed(c)] == packets
    assert [m for c in text_chunks for m in text_decoder.feed(c)] == packets
    t_bin = _measure(host_decoder, binary_chunks, count, repeat)
    t_json = _measure(JsonLineDecoder, text_chunks, count, repeat)
    frame_bytes = len(binary) / count
    json_bytes = len(text) / count
    fps_bin = count / t_bin
    fps_json = count / t_json
    line_fps = LINE_RATE / frame_bytes
    result = {
        "python": platform.python_version(),
        "frames": count,
        "payload_bytes": PAYLOAD,
        "frame_bytes": frame_bytes,
        "json_line_bytes": json_bytes,
        "binary_frames_per_s": fps_bin,
        "binary_mb_per_s": len(binary) / t_bin / 1e6,
        "json_frames_per_s": fps_json,
        "json_mb_per_s": len(text) / t_json / 1e6,
        "line_rate_frames_per_s": line_fps,
        "ratio_to_line_rate": fps_bin / line_fps,
        "ratio_to_json_per_frame": fps_bin / fps_json,
        "json_ratio_to_its_line_rate": fps_json / (LINE_RATE / json_bytes),
    }
    print(
        f"   {count} frames of {PAYLOAD}-byte payloads, fed in {CHUNK}-byte chunks, best of {repeat}"
    )
    print(
        f"   binary frames : {frame_bytes:.0f} B/frame  {fps_bin:12,.0f} frames/s  {result['binary_mb_per_s']:7.1f} MB/s"
    )
    print(
        f"   JSON+hex lines: {json_bytes:.0f} B/frame  {fps_json:12,.0f} frames/s  {result['json_mb_per_s']:7.1f} MB/s"
    )
    print(
        f"   native USB line rate {LINE_RATE:,} B/s = {line_fps:,.0f} binary frames/s"
    )
    print(
        f"   ratio binary / line rate      : {result['ratio_to_line_rate']:6.0f}x   (target >= 150x)"
    )
    print(
        f"   ratio binary / JSON per frame : {result['ratio_to_json_per_frame']:6.2f}x   (target >= 2x)"
    )
    return result
