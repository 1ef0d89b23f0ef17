"""A real Home Assistant under ESP-NOW load: coalesced state writes against two baselines.

50 simulated peers send 200 or 2,000 frames/s in total through a pty to a Home
Assistant process that has the gateway set up through the config flow. Each rate is
run with the default update interval (5 s: an entity is written at most once per
interval), with a longer one (30 s: the lever for slowly changing values), and with
0 (every frame writes every entity: the naive design). The other baseline is Home
Assistant's own ``serial`` sensor reading 200 lines/s of JSON from a pty (a state
write per line): what one serial line costs a stock Home Assistant. Reported per
run: Home Assistant's CPU time per frame (or line) and share of one core, state
writes per second (as recorded by the recorder), the closest two writes of one
sensor, button events, frames lost, and memory (RSS) over time.

Last, one more run at 200 frames/s with the default interval and the loop probe
(``benchmarks/loop_probe``): the event loop thread's CPU per span (waiting in select,
serialx's read, the integration's receive, its coalesced writes, the rest) and the
other threads', per frame; and what Home Assistant spends per frame without the
integration's receive and writes, against the serial sensor's line. That run is not
in the comparisons: the timing adds its own cost, which the report shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import itertools
import math
import os
from pathlib import Path
import sqlite3
import tempfile
import time
import tty
from typing import Any

from devtools.hass_instance import HassInstance
from devtools.simulator import PtyGateway, SimulatorConfig, run_traffic

LOOP_PROBE = Path(__file__).parent / "loop_probe"
PEERS = 50
INTERVAL = 5.0
SERIAL_LINES_PER_SECOND = 200.0


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


def _split(spans: dict[str, Any], cpu: float, frames: int) -> dict[str, float]:
    """The loop probe's spans as µs per frame (``port_read`` without ``receive``)."""
    ns, per = spans["cpu_ns"], max(frames, 1) * 1e3
    loop_cpu = spans["loop_cpu_ns"]
    return {
        "select": ns["select"] / per,
        "port_read": (ns["port_read"] - ns["receive"]) / per,
        "receive": ns["receive"] / per,
        "writes": ns["writes"] / per,
        "loop_rest": (loop_cpu - ns["select"] - ns["port_read"] - ns["writes"]) / per,
        "other_threads": (cpu * 1e9 - loop_cpu) / per,
        "reads_per_frame": spans["calls"]["port_read"] / max(frames, 1),
    }


async def _run(
    update_interval: float,
    total_rate: float,
    duration: float,
    warmup: float,
    *,
    probe: bool = False,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="espnow-bench-") as tmp:
        config_dir = Path(tmp) / "config"
        sim = PtyGateway(
            SimulatorConfig(
                peers=PEERS,
                rate=total_rate / PEERS,
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
            config_dir,
            log_level="error",
            integration_log_level="warning",
            extra_components={"loop_probe": LOOP_PROBE} if probe else None,
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
            if probe:
                await hass.ws_call({"type": "loop_probe/start", "spans": True})
            cpu0, t0 = hass.cpu_seconds(), loop.time()
            wall0 = time.time()
            seq0, dropped0 = sim.gateway.seq, sim.gateway.stats.rx_dropped
            rss: list[int] = []
            while not traffic.done():
                rss.append(hass.rss_bytes())
                await asyncio.sleep(1.0)
            cpu1, t1 = hass.cpu_seconds(), loop.time()
            spans = await hass.ws_call({"type": "loop_probe/figures"}) if probe else {}
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
        "design": "naive" if update_interval == 0 else f"ours {update_interval:g} s",
        **({"loop_probe": _split(spans, cpu, frames)} if probe else {}),
        "offered_per_second": total_rate,
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


async def _run_serial(
    lines_per_second: float, duration: float, warmup: float
) -> dict[str, Any]:
    """Home Assistant's ``serial`` sensor reading JSON lines from a pty."""
    loop = asyncio.get_running_loop()
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    with tempfile.TemporaryDirectory(prefix="espnow-bench-") as tmp:
        config_dir = Path(tmp) / "config"
        hass = HassInstance(
            config_dir,
            log_level="error",
            extra_config=(
                "sensor:\n"
                "  - platform: serial\n"
                "    name: serial line\n"
                f"    serial_port: {port}\n"
                "    baudrate: 921600\n"
            ),
        )
        await hass.start()
        lines = 0

        async def feed(stop: float) -> None:
            nonlocal lines
            tick = 0.01
            due = 0.0
            while loop.time() < stop:
                due += lines_per_second * tick
                chunk = b""
                while due >= 1:
                    due -= 1
                    lines += 1
                    chunk += b'{"temperature": %.2f, "seq": %d}\n' % (
                        20 + (lines % 500) / 100,
                        lines,
                    )
                if chunk:
                    os.write(master, chunk)
                await asyncio.sleep(tick)

        try:
            await hass.onboard()
            await asyncio.sleep(2)
            feeder = asyncio.create_task(feed(loop.time() + warmup + duration))
            await asyncio.sleep(warmup)
            cpu0, t0, wall0, lines0 = (
                hass.cpu_seconds(),
                loop.time(),
                time.time(),
                lines,
            )
            rss: list[int] = []
            while not feeder.done():
                rss.append(hass.rss_bytes())
                await asyncio.sleep(1.0)
            cpu1, t1, wall1, lines1 = (
                hass.cpu_seconds(),
                loop.time(),
                time.time(),
                lines,
            )
            await asyncio.sleep(3)
        finally:
            await hass.stop()
            os.close(master)
            os.close(slave)
        con = sqlite3.connect(config_dir / "home-assistant_v2.db")
        try:
            (written,) = con.execute(
                "SELECT COUNT(*) FROM states JOIN states_meta "
                "ON states.metadata_id = states_meta.metadata_id "
                "WHERE states_meta.entity_id = 'sensor.serial_line' "
                "AND states.last_updated_ts >= ? AND states.last_updated_ts < ?",
                (wall0, wall1),
            ).fetchone()
        finally:
            con.close()
    elapsed = t1 - t0
    sent = lines1 - lines0
    cpu = cpu1 - cpu0
    third = max(1, len(rss) // 3)
    return {
        "design": "serial sensor",
        "offered_per_second": lines_per_second,
        "seconds": round(elapsed, 1),
        "frames_sent": sent,
        "frames_received": written,
        "frames_per_second": sent / elapsed,
        "cpu_share_of_one_core": cpu / elapsed,
        "cpu_us_per_frame": cpu / max(sent, 1) * 1e6,
        "recorded_writes_per_second": written / elapsed,
        "rss_mb_first_third": sum(rss[:third]) / third / 1e6 if rss else 0.0,
        "rss_mb_last_third": sum(rss[-third:]) / third / 1e6 if rss else 0.0,
    }


def _print(results: list[dict[str, Any]]) -> None:
    def value(key: str, fmt: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: format(r[key], fmt) if key in r else "-"

    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("offered frames (lines)/s", value("offered_per_second", ".0f")),
        ("frames (lines) received", value("frames_received", "d")),
        ("frames lost: link", value("link_lost", "d")),
        ("serial reads/s (port wake-ups)", value("reads_per_second", ".0f")),
        (
            "HA CPU share of one core",
            lambda r: f"{r['cpu_share_of_one_core'] * 100:.1f} %",
        ),
        ("HA CPU per frame (line)", lambda r: f"{r['cpu_us_per_frame']:.1f} us"),
        ("recorded state writes/s", value("recorded_writes_per_second", ".1f")),
        (
            "closest two writes of one sensor",
            lambda r: (
                f"{r['closest_writes_one_entity_s']:.2f} s"
                if "closest_writes_one_entity_s" in r
                else "-"
            ),
        ),
        ("button events", value("events", "d")),
        (
            "RSS first third -> last third",
            lambda r: (
                f"{r['rss_mb_first_third']:.0f} -> {r['rss_mb_last_third']:.0f} MB"
            ),
        ),
    ]
    width = 16
    print(f"   {'':34}" + "".join(f"{r['design']:>{width}}" for r in results))
    for label, fmt in rows:
        print(f"   {label:34}" + "".join(f"{fmt(r):>{width}}" for r in results))
    serial = next((r for r in results if r["design"] == "serial sensor"), None)
    for rate in sorted({r["offered_per_second"] for r in results}):
        same = [r for r in results if r["offered_per_second"] == rate]
        naive = next((r for r in same if r["design"] == "naive"), None)
        for ours in (r for r in same if r["design"].startswith("ours")):
            parts = []
            if serial is not None and rate == serial["offered_per_second"]:
                ratio = serial["cpu_us_per_frame"] / ours["cpu_us_per_frame"]
                parts.append(f"{ratio:.1f}x less than the serial sensor per line")
            if naive is not None:
                ratio = naive["cpu_us_per_frame"] / ours["cpu_us_per_frame"]
                parts.append(f"{ratio:.1f}x less than naive")
            print(
                f"   at {rate:.0f}/s, {ours['design']}: CPU per frame "
                + ", ".join(parts)
            )


def _print_probe(probed: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """Where the loop's CPU went at the serial sensor's rate, and what that bounds."""
    split = probed["loop_probe"]
    serial = next(r for r in results if r["design"] == "serial sensor")
    untimed = next(
        r
        for r in results
        if r["design"] == probed["design"]
        and r["offered_per_second"] == probed["offered_per_second"]
    )
    rows = [
        ("waiting for the port (select)", "select"),
        ("serialx's read (os.read and around it)", "port_read"),
        ("the integration: receive (codec, peers)", "receive"),
        ("the integration: coalesced state writes", "writes"),
        ("the rest of the event loop", "loop_rest"),
        ("other threads (recorder, ...)", "other_threads"),
    ]
    print(
        f"   inside Home Assistant at {probed['offered_per_second']:.0f}/s, "
        f"{probed['design']} (a run of its own, timed per span), us per frame:"
    )
    for label, key in rows:
        print(f"     {label:44}{split[key]:>8.1f}")
    print(
        f"     {'total (timing included)':44}{probed['cpu_us_per_frame']:>8.1f}"
        f"   (the same run untimed: {untimed['cpu_us_per_frame']:.1f};"
        f" {split['reads_per_frame']:.2f} port reads per frame)"
    )
    around = sum(split[key] for key in ("select", "port_read", "loop_rest"))
    around += split["other_threads"]
    print(
        f"   without the integration's receive and writes: {around:.1f} us per frame; "
        f"the serial sensor's {serial['cpu_us_per_frame']:.0f} us per line is "
        f"{serial['cpu_us_per_frame'] / around:.1f}x that"
    )


def run(quick: bool = False) -> dict[str, Any]:
    """Run every variant and print the comparison."""
    duration, warmup = (8.0, 4.0) if quick else (30.0, 6.0)
    plan: list[tuple[float, float]] = (
        [(200.0, INTERVAL), (2000.0, INTERVAL), (2000.0, 0.0)]
        if quick
        else [
            (200.0, INTERVAL),
            (200.0, 30.0),
            (200.0, 0.0),
            (2000.0, INTERVAL),
            (2000.0, 30.0),
            (2000.0, 0.0),
        ]
    )

    async def every() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        results = [await _run_serial(SERIAL_LINES_PER_SECOND, duration, warmup)]
        for rate, interval in plan:
            results.append(await _run(interval, rate, duration, warmup))
        probed = await _run(
            INTERVAL, SERIAL_LINES_PER_SECOND, duration, warmup, probe=True
        )
        return results, probed

    results, probed = asyncio.run(every())
    print(
        f"   {PEERS} peers, {duration:.0f} s per run, real Home Assistant + recorder; "
        "the serial sensor reads JSON lines"
    )
    _print(results)
    _print_probe(probed, results)
    return {"runs": results, "probed": probed}
