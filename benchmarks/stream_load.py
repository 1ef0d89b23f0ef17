"""The raw-packet WebSocket stream under load, against a naive stream, in one run.

A real Home Assistant process gets a gateway through the config flow; the simulated
gateway writes 2,000 packets/s of 250-byte payloads for 60 s (each payload starts with
the time it was written, for latency). Ten clients in a separate process (see
``stream_clients``) subscribe over real WebSocket connections: 8 fast ones, 1 capped
at 20 packets/s, 1 that stops reading. Then the same with the naive baseline
(``naive_stream``: one message per packet, no limits). Reported: packets received and
dropped per client, latency p50/p99 from serial write to delivery, the stalled
client's cost (our buffer, Home Assistant's queue, kernel socket buffers), Home
Assistant's memory over time, and whether Home Assistant disconnected anyone.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import random
import struct
import sys
import tempfile
import time
from typing import Any

from devtools.hass_instance import REPO, HassInstance
from devtools.simulator import PtyGateway, SimulatorConfig

RATE = 2000
PEERS = 50
PAYLOAD = 250
BATCH_INTERVAL_MS = 100  # what the fast clients ask for


async def _traffic(sim: PtyGateway, seconds: float) -> int:
    """Write RATE packets/s with a send timestamp in each payload; return the count."""
    rng = random.Random(7)
    macs = [bytes([0x02, 0x4E, 0, 0, 0, i]) for i in range(PEERS)]
    tail = rng.randbytes(PAYLOAD - 8)
    gateway = sim.gateway
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while (elapsed := loop.time() - start) < seconds:
        due = int(elapsed * RATE)
        while sent < due:
            gateway.packet(
                macs[sent % PEERS],
                struct.pack("<d", time.time()) + tail,
                -50 - sent % 40,
            )
            sent += 1
        await asyncio.sleep(0.005)
    return sent


def _disconnect_logs(config_dir: Path) -> int:
    log = config_dir / "home-assistant.log"
    if not log.exists():
        return 0
    text = log.read_text(errors="replace")
    return text.count("unable to keep up") + text.count("Stayed over")


async def _run(mode: str, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="espnow-stream-") as tmp:
        config_dir = Path(tmp) / "config"
        sim = PtyGateway(
            SimulatorConfig(peers=1, seed=1, backlog_limit=1 << 20), Path(tmp) / "gw"
        )
        link = sim.plug()
        extra = (
            {"naive_stream": REPO / "benchmarks" / "naive_stream"}
            if mode == "naive"
            else {}
        )
        hass = HassInstance(config_dir, log_level="warning", extra_components=extra)
        await hass.start()
        rss: list[tuple[float, int]] = []
        peaks: dict[int, dict[str, Any]] = {}
        try:
            await hass.onboard()
            entry_id = await hass.add_gateway(link)
            assert hass.token is not None
            pre, tail = 4.0, 5.0
            clients = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.stream_clients",
                hass.url,
                hass.token,
                mode,
                str(pre + seconds + tail),
                cwd=REPO,
                stdout=asyncio.subprocess.PIPE,
            )
            await asyncio.sleep(pre)
            rss0 = hass.rss_bytes()
            traffic = asyncio.create_task(_traffic(sim, seconds))
            started = time.monotonic()
            while not traffic.done():
                rss.append((time.monotonic() - started, hass.rss_bytes()))
                if mode == "ours" and len(rss) % 10 == 5:
                    diag = await hass.diagnostics(entry_id)
                    for sub in diag["stream"]["subscribers"]:
                        seen = peaks.setdefault(sub["number"], {})
                        seen["max_rate"] = sub["max_rate"]
                        for key in (
                            "peak_buffered_bytes",
                            "in_flight",
                            "dropped",
                            "sent",
                        ):
                            seen[key] = max(seen.get(key, 0), sub[key])
                await asyncio.sleep(1.0)
            sent = await traffic
            out, _ = await clients.communicate()
            report = json.loads(out.decode().strip().splitlines()[-1])
            final = await hass.diagnostics(entry_id) if mode == "ours" else None
            dropped_gateway = sim.gateway.stats.rx_dropped
        finally:
            await hass.stop()
            sim.close()
        disconnect_logs = _disconnect_logs(config_dir)
    half = [b for t, b in rss if t >= seconds / 2]
    warm = [b for t, b in rss if 5 <= t < 15] or [rss0]
    return {
        "mode": mode,
        "sent": sent,
        "gateway_dropped": dropped_gateway,
        "clients": report,
        "rss_mb_before": rss0 / 1e6,
        "rss_mb_after_warmup": sum(warm) / len(warm) / 1e6,
        "rss_mb_last_half_max": max(half, default=0) / 1e6,
        "rss_mb_peak": max((b for _, b in rss), default=0) / 1e6,
        "stream_peaks": peaks,
        "stream_final": final["stream"]["totals"] if final else None,
        "ha_disconnect_logs": disconnect_logs,
    }


def _summary(result: dict[str, Any]) -> list[str]:
    clients = result["clients"]
    sent = result["sent"]
    fast = clients["fast"]
    header = (
        f"   [{result['mode']}] {sent} packets written at {RATE}/s "
        f"(gateway queue drops {result['gateway_dropped']})"
    )
    lines = [header]
    received = [c["received"] for c in fast]
    p99 = [c["latency_ms_p99"] or 0 for c in fast]
    p50 = [c["latency_ms_p50"] or 0 for c in fast]
    lines.append(
        f"     8 fast      : received {min(received)}..{max(received)} "
        f"({min(received) / sent * 100:.1f}%..{max(received) / sent * 100:.1f}%), "
        f"dropped {sum(c['dropped_reported'] for c in fast)}, "
        f"latency p50 {max(p50):.0f} ms, p99 {max(p99):.0f} ms (worst client), "
        f"disconnected {sum(c['closed_by_server'] for c in fast)}"
    )
    capped = clients["capped"]
    lines.append(
        f"     1 capped 20/s: received {capped['received']}, dropped {capped['dropped_reported']}, "
        f"p99 {capped['latency_ms_p99'] or 0:.0f} ms, disconnected {capped['closed_by_server']}"
    )
    stalled = clients["stalled"]
    kernel = stalled["client_kernel_rx_bytes"] + stalled["server_kernel_tx_bytes"]
    lines.append(
        f"     1 stalled    : kernel socket buffers {kernel / 1024:.0f} KiB "
        f"(client rx {stalled['client_kernel_rx_bytes'] / 1024:.0f} KiB, "
        f"server tx {stalled['server_kernel_tx_bytes'] / 1024:.0f} KiB), "
        f"server closed it: {stalled['closed_by_server']}"
    )
    if result["stream_peaks"]:
        peaks = list(result["stream_peaks"].values())

        def kib(group: list[dict[str, Any]]) -> str:
            return ", ".join(f"{p['peak_buffered_bytes'] / 1024:.0f}" for p in group)

        stalled = [p for p in peaks if p["max_rate"] == 100]  # the server's defaults
        in_flight = max((p["in_flight"] for p in stalled), default=0)
        lines.append(
            "     our buffers  : peak KiB per subscriber: fast "
            f"{kib([p for p in peaks if p['max_rate'] > 100])}; "
            f"capped {kib([p for p in peaks if p['max_rate'] == 20])}; "
            f"stalled {kib(stalled)} (high watermark 64), "
            f"{in_flight} batches in flight (window 4)"
        )
    lines.append(
        f"     HA memory    : {result['rss_mb_before']:.0f} MB before, "
        f"{result['rss_mb_after_warmup']:.0f} MB after warm-up, "
        f"max {result['rss_mb_last_half_max']:.0f} MB in the last half, peak {result['rss_mb_peak']:.0f} MB; "
        f"'unable to keep up' log lines: {result['ha_disconnect_logs']}"
    )
    return lines


def run(quick: bool = False) -> dict[str, Any]:
    """Run ours and the naive baseline; print both."""
    seconds = 12.0 if quick else 60.0

    async def both() -> list[dict[str, Any]]:
        return [await _run("ours", seconds), await _run("naive", seconds)]

    ours, naive = asyncio.run(both())
    target = 2 * BATCH_INTERVAL_MS + 50
    print(
        f"   target: fast clients 100 %, p99 < 2 x batch_interval + 50 ms = {target} ms"
    )
    for line in _summary(ours) + _summary(naive):
        print(line)
    return {"ours": ours, "naive": naive}
