"""The soak's Python WebSocket subscribers, in a process of their own.

``python -m devtools.soak_clients URL TOKEN SECONDS [--fast N] [--capped] [--stalled]``
connects them to a running Home Assistant and prints one JSON line with what each saw:

- ``--fast N`` clients that read and acknowledge everything (the stream benchmark's
  fast subscription): each records the ``seq`` of every packet it receives, one bitmap
  per run of increasing sequence numbers (the simulated gateway starts again at 0 at
  each replug), so the soak can tell exactly which frames written intact were not
  delivered;
- ``--capped``: one client capped at 20 packets/s (``max_rate``), reading everything;
- ``--stalled``: one client that subscribes and never reads again; when Home Assistant
  closes its connection (its heartbeat, about 84 s later) it connects and stalls
  again, until the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from benchmarks.stream_clients import (
    CAPPED_SUBSCRIPTION,
    FAST_SUBSCRIPTION,
    _authenticate,
    ack,
    events,
    stalled,
)

STALL_CHUNK = 100.0  # s per stalled connection: Home Assistant closes it at ~84 s


@dataclass
class Segment:
    """Packets received from one boot of the gateway (increasing ``seq``)."""

    first: int
    last: int
    first_time: float
    last_time: float
    bits: bytearray = field(default_factory=bytearray)
    count: int = 0

    def add(self, seq: int, now: float) -> None:
        """Record the packet ``seq`` (after ``last``)."""
        offset = seq - self.first
        index = offset >> 3
        if index >= len(self.bits):
            self.bits.extend(bytes(index + 1 - len(self.bits)))
        self.bits[index] |= 1 << (offset & 7)
        self.last, self.last_time = seq, now
        self.count += 1

    def as_dict(self) -> dict[str, Any]:
        """Return the segment as JSON takes it (the seqs as a base64 bitmap)."""
        return {
            "first": self.first,
            "last": self.last,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "count": self.count,
            "bits": base64.b64encode(self.bits).decode(),
        }


def _record(segments: list[Segment], seq: int, now: float) -> bool:
    """Record packet ``seq`` in the current segment or a new one; False if out of order.

    A ``seq`` below the current segment's first, or below half its last, starts a
    new segment (a new boot counts from 0 again).
    """
    current = segments[-1] if segments else None
    if current is None or seq < current.first or seq < current.last // 2:
        current = Segment(seq, seq, now, now)
        segments.append(current)
    elif seq <= current.last:
        return False
    current.add(seq, now)
    return True


async def reader(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    seconds: float,
    subscription: dict[str, Any],
    *,
    record: bool,
) -> dict[str, Any]:
    """Subscribe, read and acknowledge every batch; count (and record) the packets."""
    result: dict[str, Any] = {
        "received": 0,
        "dropped_reported": 0,
        "messages": 0,
        "largest_message": 0,
        "closed_by_server": False,
        "statuses": [],
        "out_of_order": 0,
    }
    segments: list[Segment] = []
    ws = await session.ws_connect(f"{url}/api/websocket", max_msg_size=0)
    await _authenticate(ws, token)
    await ws.send_json(
        {"id": 1, "type": "espnow_gateway/subscribe_packets"} | subscription
    )
    next_id = 2
    try:
        async for now, event in events(ws, seconds, result):
            result["dropped_reported"] += event.get("dropped", 0)
            if "status" in event:
                result["statuses"].append(event["status"])
            if "batch" not in event:
                continue
            packets = event["packets"]
            result["received"] += len(packets)
            if record:
                for packet in packets:
                    if not _record(segments, packet["seq"], now):
                        result["out_of_order"] += 1
            await ack(ws, next_id, event["batch"])
            next_id += 1
    finally:
        await ws.close()
    if record:
        result["segments"] = [segment.as_dict() for segment in segments]
    return result


async def stall_repeatedly(
    url: str, token: str, seconds: float
) -> list[dict[str, Any]]:
    """Stall one connection after the other until ``seconds`` are over."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    results = []
    while (remaining := deadline - loop.time()) > 1:
        results.append(
            await stalled(url, token, "ours", min(STALL_CHUNK, remaining), None)
        )
    return results


async def main(args: argparse.Namespace) -> None:
    """Run the clients and print the JSON result."""
    url, token, seconds = args.url, args.token, args.seconds
    async with aiohttp.ClientSession() as session:
        jobs: list[Any] = [
            reader(session, url, token, seconds, FAST_SUBSCRIPTION, record=True)
            for _ in range(args.fast)
        ]
        if args.capped:
            jobs.append(
                reader(session, url, token, seconds, CAPPED_SUBSCRIPTION, record=False)
            )
        if args.stalled:
            jobs.append(stall_repeatedly(url, token, seconds))
        results = await asyncio.gather(*jobs)
    report = {
        "fast": results[: args.fast],
        "capped": results[args.fast] if args.capped else None,
        "stalled": results[-1] if args.stalled else None,
    }
    print(orjson.dumps(report).decode(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m devtools.soak_clients")
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--fast", type=int, default=2)
    parser.add_argument("--capped", action="store_true")
    parser.add_argument("--stalled", action="store_true")
    asyncio.run(main(parser.parse_args()))
