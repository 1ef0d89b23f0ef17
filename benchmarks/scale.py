"""Many peers on one gateway: 50, 500 and 1,000 peers at the same total frame rate.

For each size a real Home Assistant process (default recorder) gets one gateway
through the config flow (device limit raised to 2,000) and the simulator sends
2,000 frames/s in total, spread over the peers. Reported per size:

* set-up: seconds until every peer is known (its device and entities created), and
  seconds to reload the entry with the full peer table;
* memory: RSS growth per peer;
* load: Home Assistant's CPU per frame and share of one core, recorded state
  writes per second;
* button latency: a probe remote (a known device: it has pressed during the warm-up,
  as a new BTHome sender's first frames are only evidence of its format) presses a
  button every 0.25 s while the load runs; the time from the simulator writing the
  frame to the ``espnow_gateway_button`` event reaching a WebSocket client,
  p50/p99/max;
* garbage collections while the buttons are timed (``benchmarks/loop_probe``): how
  many full (generation 2) ones, and the longest pause of any generation, since a
  collection holds the GIL and so stops the event loop;
* idle: Home Assistant's CPU share with every peer known and none sending, once the
  silence has settled: the last coalesced writes made (slowly changing values up to
  two slow intervals after the last frame), every peer marked unavailable (after at
  least 60 s of silence) and those writes recorded.

Targets (issue 8): button p99 <= 20 ms and idle <= 1 % of a core at 1,000 peers.
Every figure of one size is measured in the same run as the others, on the same
machine, one size after the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import tempfile
import time
from typing import Any

from benchmarks.hass_load import LOOP_PROBE, _recorded_writes
from custom_components.espnow_gateway.const import DEFAULT_SLOW_INTERVAL
from devtools.hass_instance import HassInstance
from devtools.simulator import PtyGateway, SimulatorConfig, run_traffic

TOTAL_RATE = 2000.0
SIZES = (50, 500, 1000)
PROBE = bytes.fromhex("0a00000000fe")  # the latency probe: a BTHome remote
PROBE_GAP = 0.25


def _press(packet_id: int) -> bytes:
    """A BTHome frame with a packet id and a button press."""
    return bytes([0x40, 0x00, packet_id & 0xFF, 0x3A, 0x01])


async def _probe(
    hass: HassInstance, sim: PtyGateway, stop: asyncio.Event
) -> list[float]:
    """Press the probe's button repeatedly; return each press's latency (s)."""
    ws = await hass.websocket()
    await ws.send_json(
        {"id": 1, "type": "subscribe_events", "event_type": "espnow_gateway_button"}
    )
    await ws.receive_json()  # the result
    latencies: list[float] = []
    packet_id = 0
    try:
        while not stop.is_set():
            packet_id += 1
            sent = time.perf_counter()
            sim.gateway.packet(PROBE, _press(packet_id), -40)
            try:
                async with asyncio.timeout(2.0):
                    await ws.receive_json()
                latencies.append(time.perf_counter() - sent)
            except TimeoutError:
                latencies.append(2.0)  # counted as a (very) late event
            await asyncio.sleep(PROBE_GAP)
    finally:
        await ws.close()
    return latencies


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _known_peers(hass: HassInstance, entry_id: str) -> int:
    diagnostics = await hass.diagnostics(entry_id)
    return len(diagnostics["gateway"]["peers"])


async def _stale_peers(hass: HassInstance, entry_id: str) -> int:
    diagnostics = await hass.diagnostics(entry_id)
    return sum(1 for peer in diagnostics["gateway"]["peers"] if peer["stale"])


async def _run(peers: int, duration: float, idle: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="espnow-scale-") as tmp:
        sim = PtyGateway(
            SimulatorConfig(
                peers=peers,
                rate=TOTAL_RATE / peers,
                kinds=("bthome", "json"),
                button_probability=0.0,
                stats_interval=5.0,
                seed=7,
                backlog_limit=1024 * 1024,
            ),
            Path(tmp) / "espnow-gateway",
        )
        link = sim.plug()
        hass = HassInstance(
            Path(tmp) / "config",
            log_level="error",
            integration_log_level="warning",
            extra_components={"loop_probe": LOOP_PROBE},
        )
        await hass.start()
        try:
            await hass.onboard()
            rss_empty = hass.rss_bytes()
            entry_id = await hass.add_gateway(link)
            await hass.set_options(entry_id, max_peers=2000)
            await asyncio.sleep(2)
            stop = asyncio.Event()
            traffic = asyncio.create_task(run_traffic(sim))
            started = loop.time()
            while await _known_peers(hass, entry_id) < peers:
                await asyncio.sleep(0.5)
            setup_s = loop.time() - started
            for packet_id in range(200, 204):  # the probe becomes a known device
                sim.gateway.packet(PROBE, _press(packet_id), -40)
                await asyncio.sleep(PROBE_GAP)
            while await _known_peers(hass, entry_id) < peers + 1:
                await asyncio.sleep(0.5)
            await asyncio.sleep(5)  # warm up: the first writes, the recorder
            before = await hass.diagnostics(entry_id)
            await hass.ws_call({"type": "loop_probe/start"})
            cpu0, t0, wall0 = hass.cpu_seconds(), loop.time(), time.time()
            probe = asyncio.create_task(_probe(hass, sim, stop))
            await asyncio.sleep(duration)
            stop.set()
            latencies = await probe
            cpu1, t1, wall1 = hass.cpu_seconds(), loop.time(), time.time()
            collections = (await hass.ws_call({"type": "loop_probe/figures"}))[
                "collections"
            ]
            after = await hass.diagnostics(entry_id)
            rss_loaded = hass.rss_bytes()
            traffic.cancel()
            # The last coalesced writes fall on each peer's phase: slowly changing
            # values within two slow intervals of the last frame; then every peer
            # is marked unavailable (60 s of silence at least), and the recorder
            # writes that down.
            await asyncio.sleep(2 * DEFAULT_SLOW_INTERVAL + 2)
            settle = loop.time() + 120  # the probe (a button) may never be stale
            while await _stale_peers(hass, entry_id) < peers and loop.time() < settle:
                await asyncio.sleep(1.0)
            await asyncio.sleep(10)
            idle_cpu0, idle_t0 = hass.cpu_seconds(), loop.time()
            await asyncio.sleep(idle)
            idle_share = (hass.cpu_seconds() - idle_cpu0) / (loop.time() - idle_t0)
            reload_started = loop.time()
            await hass.request(
                "POST", f"/api/config/config_entries/entry/{entry_id}/reload"
            )
            reload_s = loop.time() - reload_started
        finally:
            await hass.stop()
            sim.close()
        writes = hass_recorded_writes(Path(tmp) / "config", wall0, wall1)
    elapsed = t1 - t0
    frames = after["gateway"]["link"]["packets"] - before["gateway"]["link"]["packets"]
    cpu = cpu1 - cpu0
    return {
        "peers": peers,
        "setup_s": setup_s,
        "reload_s": reload_s,
        "rss_per_peer_kb": (rss_loaded - rss_empty) / peers / 1024,
        "frames_per_second": frames / elapsed,
        "cpu_share_of_one_core": cpu / elapsed,
        "cpu_us_per_frame": cpu / max(frames, 1) * 1e6,
        "recorded_writes_per_second": writes / elapsed,
        "button_presses": len(latencies),
        "button_p50_ms": _percentile(latencies, 0.50) * 1000,
        "button_p99_ms": _percentile(latencies, 0.99) * 1000,
        "button_max_ms": max(latencies, default=float("nan")) * 1000,
        "full_collections": collections.get("2", {}).get("count", 0),
        "longest_collection_ms": max(
            (c["longest_ns"] for c in collections.values()), default=0
        )
        / 1e6,
        "idle_cpu_share": idle_share,
        "gateway_dropped": after["gateway"]["gateway_stats"]["rx_dropped"]
        if after["gateway"]["gateway_stats"]
        else None,
    }


def hass_recorded_writes(config_dir: Path, start: float, end: float) -> int:
    """State rows the recorder stored for this integration's entities in a window."""
    writes = _recorded_writes(config_dir / "home-assistant_v2.db", start, end)
    return sum(map(len, writes.values()))


def _print(results: list[dict[str, Any]]) -> None:
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("peers known after (s)", lambda r: f"{r['setup_s']:.1f}"),
        ("entry reload with the table (s)", lambda r: f"{r['reload_s']:.1f}"),
        ("RSS per peer", lambda r: f"{r['rss_per_peer_kb']:.0f} KiB"),
        ("frames/s received", lambda r: f"{r['frames_per_second']:.0f}"),
        (
            "HA CPU share of one core",
            lambda r: f"{r['cpu_share_of_one_core'] * 100:.1f} %",
        ),
        ("HA CPU per frame", lambda r: f"{r['cpu_us_per_frame']:.1f} us"),
        ("recorded state writes/s", lambda r: f"{r['recorded_writes_per_second']:.1f}"),
        (
            "button latency p50 / p99 / max",
            lambda r: (
                f"{r['button_p50_ms']:.0f} / {r['button_p99_ms']:.0f} / "
                f"{r['button_max_ms']:.0f} ms"
            ),
        ),
        ("button presses measured", lambda r: f"{r['button_presses']}"),
        (
            "full garbage collections meanwhile",
            lambda r: f"{r['full_collections']}",
        ),
        (
            "longest collection pause",
            lambda r: f"{r['longest_collection_ms']:.0f} ms",
        ),
        (
            "idle CPU (all known, none sending)",
            lambda r: f"{r['idle_cpu_share'] * 100:.2f} %",
        ),
        ("frames dropped by the gateway", lambda r: f"{r['gateway_dropped']}"),
    ]
    header = "".join(f"{str(r['peers']) + ' peers':>16}" for r in results)
    print(f"   {'':36}{header}")
    for label, fmt in rows:
        print(f"   {label:36}" + "".join(f"{fmt(r):>16}" for r in results))
    largest = results[-1]
    print(
        f"   at {largest['peers']} peers: button p99 {largest['button_p99_ms']:.0f} ms "
        f"(target <= 20 ms), idle {largest['idle_cpu_share'] * 100:.2f} % "
        "(target <= 1 %)"
    )
    if len(results) > 1:
        ratio = largest["cpu_us_per_frame"] / results[0]["cpu_us_per_frame"]
        print(
            f"   CPU per frame at {largest['peers']} peers / at {results[0]['peers']}: "
            f"{ratio:.2f}x (same total frame rate)"
        )


def run(quick: bool = False) -> dict[str, Any]:
    """Run every size and print the comparison."""
    duration, idle = (10.0, 5.0) if quick else (30.0, 20.0)
    sizes = (50, 1000) if quick else SIZES

    async def all_sizes() -> list[dict[str, Any]]:
        return [await _run(peers, duration, idle) for peers in sizes]

    results = asyncio.run(all_sizes())
    print(
        f"   {TOTAL_RATE:.0f} frames/s in total for {duration:.0f} s per size, "
        "real Home Assistant + recorder"
    )
    _print(results)
    return {"sizes": results}
