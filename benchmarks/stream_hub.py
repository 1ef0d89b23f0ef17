"""The stream hub alone, against the naive stream's own work per packet, in one run.

A real ``StreamHub`` with 1, 8 and 16 subscribers asking for what the stream load
test's fast clients ask for (100 ms batches, 512 KiB buffer, 5,000 packets/s), fed
2,000 packets/s of 250-byte payloads on a simulated clock: every 100 ms, as on Home
Assistant's loop under load (subscribers of one batch interval share one grid of the
loop clock, and the hub holds packets until the first of them may send), one
hand-over for all of them, then each subscriber's batch flushed and acknowledged;
messages kept by a sink that only counts their bytes. No Home Assistant and no socket: the figure is
the integration's own CPU per packet. The baseline does what the naive stream
(``benchmarks/naive_stream``) does for every packet and every subscriber: build the
event message as a dict and serialise it (its own ``message``, Home Assistant's
``event_message`` and ``json_bytes``). What the sockets and Home Assistant's WebSocket code cost on top is
what ``scripts/bench stream`` measures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import gc
import random
import time
from typing import Any

from benchmarks.naive_stream import message as naive_message
from custom_components.espnow_gateway.espnowgw.mac import BROADCAST
from custom_components.espnow_gateway.espnowgw.messages import Packet
from custom_components.espnow_gateway.stream import StreamHub
from custom_components.espnow_gateway.stream_options import StreamOptions

RATE = 2000  # packets/s
BATCH_EVERY = 200  # packets: 100 ms at RATE
SUBSCRIBERS = (1, 8, 16)
GATEWAY = "01KT1GW6G0SNRZEY0AFJSNTGZV"  # a config entry id's length
FAST = StreamOptions(
    max_rate=5000, burst=5000, high_watermark=512 * 1024, batch_interval_ms=100
)


def _packets(count: int) -> list[Packet]:
    rng = random.Random(1)
    macs = [bytes([2, 0x4E, 0, 0, 0, i]) for i in range(50)]
    payloads = [rng.randbytes(250) for _ in range(64)]
    return [
        Packet(macs[n % 50], BROADCAST, -50, -95, 1, 0, n, n * 500, payloads[n % 64])
        for n in range(count)
    ]


async def _ours(subscribers: int, packets: list[Packet]) -> tuple[float, int]:
    """CPU seconds for the hub to take and send ``packets``; bytes sent."""
    loop = asyncio.get_running_loop()
    now = [1000.0]
    hub = StreamHub(loop, clock=lambda: now[0])
    sent = [0]

    def sink(message: bytes) -> None:
        sent[0] += len(message)

    subs = [hub.subscribe(i + 1, FAST, sink) for i in range(subscribers)]
    started = time.process_time()
    for n, packet in enumerate(packets, 1):
        hub.publish(GATEWAY, packet, "raw")
        if n % BATCH_EVERY == 0:
            now[0] += BATCH_EVERY / RATE
            hub.deliver()  # the route's hand-over, at the subscribers' grid point
            for sub in subs:
                if sub._timer is not None:  # the batch timer, due now
                    sub._timer.cancel()
                    sub._flush()
                sub.ack(sub.batches)
    cpu = time.process_time() - started
    delivered = sum(sub.sent for sub in subs)
    for sub in subs:
        sub.close()
    if delivered < len(packets) * subscribers * 0.99:
        raise RuntimeError(f"the hub delivered only {delivered} packets")
    return cpu, sent[0]


def _naive(subscribers: int, packets: list[Packet]) -> tuple[float, int]:
    """CPU seconds for the naive stream's per-packet, per-subscriber messages."""
    sent = 0
    started = time.process_time()
    for packet in packets:
        for msg_id in range(1, subscribers + 1):
            sent += len(naive_message(msg_id, GATEWAY, packet, "raw"))
    return time.process_time() - started, sent


def _least(runs: int, measure: Callable[[], tuple[float, int]]) -> tuple[float, int]:
    results = []
    for _ in range(runs):
        gc.collect()
        results.append(measure())
    return min(results)


def run(quick: bool = False) -> dict[str, Any]:
    """Measure both for each subscriber count; print µs per packet and the ratios."""
    seconds = 5 if quick else 20  # of simulated traffic
    runs = 2 if quick else 3
    packets = _packets(RATE * seconds)
    results: dict[str, Any] = {"packets": len(packets), "by_subscribers": []}
    print(
        f"   {len(packets)} packets of 250 bytes at {RATE}/s (simulated clock), least "
        f"of {runs} runs; CPU per packet and as a share of one core at {RATE}/s"
    )
    print(
        "     subscribers | hub: us/packet  core | naive: us/packet  core | hub/naive"
    )
    for count in SUBSCRIBERS:

        def hub(count: int = count) -> tuple[float, int]:
            return asyncio.run(_ours(count, packets))

        def naive_work(count: int = count) -> tuple[float, int]:
            return _naive(count, packets)

        ours, ours_bytes = _least(runs, hub)
        naive, naive_bytes = _least(runs, naive_work)
        row = {
            "subscribers": count,
            "hub_us_per_packet": ours / len(packets) * 1e6,
            "naive_us_per_packet": naive / len(packets) * 1e6,
            "hub_bytes": ours_bytes,
            "naive_bytes": naive_bytes,
        }
        results["by_subscribers"].append(row)
        print(
            f"     {count:11d} | {row['hub_us_per_packet']:14.2f} "
            f"{row['hub_us_per_packet'] * RATE / 1e4:4.1f} % | "
            f"{row['naive_us_per_packet']:16.2f} "
            f"{row['naive_us_per_packet'] * RATE / 1e4:4.1f} % | "
            f"1/{naive / ours:4.1f}"
        )
    return results
