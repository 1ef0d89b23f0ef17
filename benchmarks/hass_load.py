"""A real Home Assistant under ESP-NOW load: coalesced state writes against the naive design.

50 simulated peers send 2,000 frames/s in total through a pty to a Home Assistant
process that has the gateway set up through the config flow. The same run is made
twice: with the default update interval (5 s: an entity is written at most once per
interval) and with an update interval of 0 (every frame writes every entity: the
naive design). Reported per run: Home Assistant's CPU time per frame and share of one
core, state writes per second (as recorded by the recorder), the most writes of one
entity per interval, button events, frames lost, and memory (RSS) over time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import itertools
import math
from pathlib import Path
import sqlite3
import tempfile
import time
from typing import Any

from devtools.hass_instance import HassInstance
from devtools.simulator import PtyGateway, SimulatorConfig, run_traffic

PEERS = 50
RATE_PER_PEER = 40.0  # 50 x 40 = 2,000 frames/s
INTERVAL = 5.0


def _recorded_writes(db: Path, start: float, end: float) -> dict[str, list[float]]:
    """When the recorder stored each entity's states, between two timestamps."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT states_meta.entity_id, states.last_updated_ts FROM states "
            "JOIN states_meta ON states.metadata_id = states_meta.metadata_id "
            "WHERE states.last_updated_ts >= ? AND states.last_updated_ts < ? "
            "AND states_meta.entity_id LIKE '%esp_now_%' ORDER BY states.last_updated_ts",
            (start, end),
        ).fetchall()
    finally:
        con.close()
    writes: dict[str, list[float]] = {}
    for entity_id, when in rows:
        writes.setdefault(entity_id, []).append(when)
    return writes


def _closest_writes(writes: dict[str, list[float]]) -> float:
    """The shortest time between two writes of one state entity (events excluded).

    Button presses are delivered at once by design: event entities do not count.
    """
    gaps = [
        later - earlier
        for entity_id, times in writes.items()
        if not entity_id.startswith("event.")
        for earlier, later in itertools.pairwise(times)
    ]
    return min(gaps, default=math.inf)


async def _run(
    update_interval: float, duration: float, warmup: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="espnow-bench-") as tmp:
        config_dir = Path(tmp) / "config"
        sim = PtyGateway(
            SimulatorConfig(
                peers=PEERS,
                rate=RATE_PER_PEER,
                kinds=("bthome", "json"),
                button_probability=0.001,
                stats_interval=5.0,
                seed=42,
                backlog_limit=256 * 1024,
            ),
            Path(tmp) / "espnow-gateway",
        )
        link = sim.plug()
        hass = HassInstance(
            config_dir, log_level="error", integration_log_level="warning"
        )
        await hass.start()
        try:
            await hass.onboard()
            entry_id = await hass.add_gateway(link)
            await hass.set_options(entry_id, update_interval=update_interval)
            await asyncio.sleep(2)
            traffic = asyncio.create_task(run_traffic(sim, duration=warmup + duration))
            await asyncio.sleep(warmup)
            before = await hass.diagnostics(entry_id)
            cpu0, t0 = hass.cpu_seconds(), loop.time()
            wall0 = time.time()
            seq0, dropped0 = sim.gateway.seq, sim.gateway.stats.rx_dropped
            rss: list[int] = []
            while not traffic.done():
                rss.append(hass.rss_bytes())
                await asyncio.sleep(1.0)
            cpu1, t1 = hass.cpu_seconds(), loop.time()
            wall1 = time.time()
            seq1, dropped1 = sim.gateway.seq, sim.gateway.stats.rx_dropped
            await asyncio.sleep(3)  # let the last frames and the recorder settle
            after = await hass.diagnostics(entry_id)
        finally:
            await hass.stop()
            sim.close()
        writes = _recorded_writes(config_dir / "home-assistant_v2.db", wall0, wall1)
    elapsed = t1 - t0
    link0, link1 = before["gateway"]["link"], after["gateway"]["link"]
    counters0, counters1 = before["gateway"]["counters"], after["gateway"]["counters"]
    frames = link1["packets"] - link0["packets"]
    sent = seq1 - seq0
    cpu = cpu1 - cpu0
    intervals = elapsed / INTERVAL
    third = max(1, len(rss) // 3)
    return {
        "update_interval": update_interval,
        "seconds": round(elapsed, 1),
        "frames_sent": sent,
        "frames_received": frames,
        "frames_per_second": frames / elapsed,
        "reads_per_second": (link1["reads"] - link0["reads"]) / elapsed,
        "gateway_dropped": dropped1 - dropped0,
        "link_lost": link1["packets_lost"] - link0["packets_lost"],
        "cpu_seconds": cpu,
        "cpu_share_of_one_core": cpu / elapsed,
        "cpu_us_per_frame": cpu / max(frames, 1) * 1e6,
        "recorded_writes": sum(map(len, writes.values())),
        "recorded_writes_per_second": sum(map(len, writes.values())) / elapsed,
        "entities_written": len(writes),
        "max_writes_one_entity_per_interval": (
            max(map(len, writes.values()), default=0) / intervals
            if intervals
            else math.nan
        ),
        "closest_writes_one_entity_s": _closest_writes(writes),
        "events": counters1["events"] - counters0["events"],
        "rss_mb_first_third": sum(rss[:third]) / third / 1e6 if rss else 0.0,
        "rss_mb_last_third": sum(rss[-third:]) / third / 1e6 if rss else 0.0,
        "rss_mb_peak": max(rss, default=0) / 1e6,
    }


def _print(results: list[dict[str, Any]]) -> None:
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        (
            "frames sent / received",
            lambda r: f"{r['frames_sent']} / {r['frames_received']}",
        ),
        ("frames/s received", lambda r: f"{r['frames_per_second']:.0f}"),
        ("serial reads/s (port wake-ups)", lambda r: f"{r['reads_per_second']:.0f}"),
        (
            "frames lost: link / gateway backlog",
            lambda r: f"{r['link_lost']} / {r['gateway_dropped']}",
        ),
        (
            "HA CPU share of one core",
            lambda r: f"{r['cpu_share_of_one_core'] * 100:.1f} %",
        ),
        ("HA CPU per frame", lambda r: f"{r['cpu_us_per_frame']:.1f} us"),
        ("recorded state writes/s", lambda r: f"{r['recorded_writes_per_second']:.1f}"),
        (
            "closest two writes of one sensor",
            lambda r: f"{r['closest_writes_one_entity_s']:.2f} s",
        ),
        ("button events", lambda r: f"{r['events']}"),
        (
            "RSS first third -> last third",
            lambda r: (
                f"{r['rss_mb_first_third']:.0f} -> {r['rss_mb_last_third']:.0f} MB"
            ),
        ),
    ]
    print(f"   {'':38} {'coalesced (5 s)':>18} {'naive (0 s)':>18}")
    for label, fmt in rows:
        print(f"   {label:38} {fmt(results[0]):>18} {fmt(results[1]):>18}")
    ours, naive = results
    ratio = naive["cpu_us_per_frame"] / ours["cpu_us_per_frame"]
    writes = naive["recorded_writes_per_second"] / max(
        ours["recorded_writes_per_second"], 1e-9
    )
    print(f"   ratio naive / coalesced CPU per frame : {ratio:6.1f}x   (target >= 20x)")
    print(f"   ratio naive / coalesced state writes  : {writes:6.1f}x")


def run(quick: bool = False) -> dict[str, Any]:
    """Run both variants and print the comparison."""
    duration, warmup = (8.0, 4.0) if quick else (30.0, 6.0)

    async def both() -> list[dict[str, Any]]:
        return [
            await _run(INTERVAL, duration, warmup),
            await _run(0.0, duration, warmup),
        ]

    results = asyncio.run(both())
    print(
        f"   {PEERS} peers, {PEERS * RATE_PER_PEER:.0f} frames/s offered for {duration:.0f} s, real Home Assistant + recorder"
    )
    _print(results)
    return {"coalesced": results[0], "naive": results[1]}
