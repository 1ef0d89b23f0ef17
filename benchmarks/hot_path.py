"""The integration's own per-frame work, in isolation, for 50 and for 1,000 peers.

Real ``Peer`` objects (the decoder, duplicate filter, scan, write scheduler) on an
asyncio loop, fed pre-built packets round-robin over the peers, with no Home
Assistant around them: what one frame costs the integration itself, and whether
that grows with the number of peers (it must not). State writes are coalesced by
each peer's scheduler as in production; the writes' own cost (Home Assistant's) is
what ``scripts/bench hass`` and ``scripts/bench scale`` measure.

Then the whole receive path (bytes through the frame codec to the peers), two frames a
read, once hot and once with the loop asleep for 9 ms before each read, as Home
Assistant's is between port wake-ups at 200 frames/s: how much more this machine
charges code that runs right after a sleep (on a virtual machine, much more).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import gc
import json
import time
from typing import Any

from custom_components.espnow_gateway.espnowgw.messages import Packet, host_decoder
from custom_components.espnow_gateway.models import GatewayCounters, PeerHooks
from custom_components.espnow_gateway.peer import Peer

FRAMES = 200_000
READS = 2_000
FRAMES_PER_READ = 2
READ_GAP = 0.009  # a port read every ~10 ms: 200 frames/s, two a read


def _payloads(kind: str) -> Callable[[int], bytes]:
    """Frame ``n`` of a peer: a new packet id and temperature every time."""
    if kind == "json":
        return lambda n: json.dumps(
            {"temperature": 20 + (n % 97) / 10, "humidity": 40, "battery": 90, "seq": n}
        ).encode()
    return lambda n: (
        bytes([0x40, 0x00, n & 0xFF, 0x02])
        + (2000 + n % 97).to_bytes(2, "little")
        + bytes([0x03, 0x10, 0x10])
    )


def _hooks(loop: asyncio.AbstractEventLoop) -> PeerHooks:
    return PeerHooks(
        loop=loop,
        update_interval=5.0,
        slow_interval=30.0,
        link_up=lambda: True,
        counters=GatewayCounters(),
        new_keys=lambda _peer, _keys: None,
        device_changed=lambda _peer: None,
        fire_event=lambda _peer, _event: None,
    )


def _table(loop: asyncio.AbstractEventLoop, peers: int) -> list[Peer]:
    hooks = _hooks(loop)
    return [
        Peer(bytes([0x0A, 0, 0, 0, n >> 8, n & 0xFF]), f"p{n}", hooks)
        for n in range(peers)
    ]


def _packet(src: bytes, seq: int, payload: bytes, spacing_us: int) -> Packet:
    """The ``seq``-th packet of the gateway, ``spacing_us`` after the one before."""
    return Packet(
        src=src,
        dst=b"\xff" * 6,
        rssi=-60,
        noise_floor=0,
        channel=1,
        rate=0,
        timestamp_us=10_000_000 + seq * spacing_us,
        seq=seq,
        payload=payload,
    )


async def _per_frame(peers: int, kind: str, frames: int) -> float:
    table = _table(asyncio.get_running_loop(), peers)
    make = _payloads(kind)
    packets = [
        _packet(table[i % peers].mac, i, make(i // peers), 500) for i in range(frames)
    ]
    by_mac = {peer.mac: peer for peer in table}
    for packet in packets[:peers]:  # every peer's first frame: decoded, kinds learnt
        by_mac[packet.src].handle(packet)
    # The prepared packets are the benchmark's, not the integration's: keep the
    # garbage collector from walking them again and again while it measures.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    for packet in packets[peers:]:
        by_mac[packet.src].handle(packet)
    elapsed = time.perf_counter() - started
    gc.unfreeze()
    for peer in table:
        peer.scheduler.cancel()
    return elapsed / (frames - peers) * 1e6


async def _receive_path(gap: float, reads: int, peers: int = 50) -> float:
    """CPU µs per frame of bytes → codec → peers, with ``gap`` s asleep before a read.

    Half the peers send BTHome, half JSON; only each read's own CPU time counts.
    """
    table = _table(asyncio.get_running_loop(), peers)
    by_mac = {peer.mac: peer for peer in table}
    makers = (_payloads("bthome"), _payloads("json"))
    chunks = [
        b"".join(
            _packet(table[i % peers].mac, i, makers[i % 2](i // peers), 5_000).encode()
            for i in range(read * FRAMES_PER_READ, (read + 1) * FRAMES_PER_READ)
        )
        for read in range(reads + peers)
    ]
    decoder = host_decoder()

    def receive(data: bytes) -> None:
        for message in decoder.feed(data):
            if type(message) is Packet and (peer := by_mac.get(message.src)):
                peer.handle(message)

    for chunk in chunks[:peers]:  # every peer's first frames: decoded, kinds learnt
        receive(chunk)
    gc.collect()
    gc.freeze()
    spent = 0
    for chunk in chunks[peers:]:
        if gap:
            await asyncio.sleep(gap)
        started = time.thread_time_ns()
        receive(chunk)
        spent += time.thread_time_ns() - started
    gc.unfreeze()
    for peer in table:
        peer.scheduler.cancel()
    return spent / (reads * FRAMES_PER_READ) / 1e3


def run(quick: bool = False) -> dict[str, Any]:
    """Measure and print µs per frame for each payload kind and peer count."""
    frames = FRAMES // 10 if quick else FRAMES

    async def best(peers: int, kind: str) -> float:
        # The least of three runs: what the code costs, not what the machine's
        # other work added to it.
        return min([await _per_frame(peers, kind, frames) for _ in range(3)])

    async def measure() -> dict[str, dict[int, float]]:
        return {
            kind: {peers: await best(peers, kind) for peers in (50, 1000)}
            for kind in ("bthome", "json")
        }

    results: dict[str, Any] = asyncio.run(measure())
    print(
        f"   {frames} frames, round-robin over the peers, integration code only "
        "(least of 3 runs)"
    )
    print(f"   {'':10}{'50 peers':>12}{'1000 peers':>12}{'ratio':>8}")
    for kind, by_peers in results.items():
        ratio = by_peers[1000] / by_peers[50]
        print(
            f"   {kind:10}{by_peers[50]:>9.2f} us{by_peers[1000]:>9.2f} us{ratio:>7.2f}x"
        )
    reads = READS // 5 if quick else READS

    async def receive_path() -> dict[str, float]:
        return {
            "hot": await _receive_path(0.0, reads),
            "after_sleep": await _receive_path(READ_GAP, reads),
        }

    path = asyncio.run(receive_path())
    print(
        f"   receive path (codec + peers, {FRAMES_PER_READ} frames a read, {reads} "
        f"reads): {path['hot']:.1f} us per frame hot, {path['after_sleep']:.1f} us "
        f"after {READ_GAP * 1e3:.0f} ms asleep: {path['after_sleep'] / path['hot']:.1f}x"
    )
    results["receive_path"] = path
    return results
