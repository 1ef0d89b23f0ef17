"""The raw-packet WebSocket stream under load, against a naive stream, in one run.

For each design (ours, then the naive baseline ``naive_stream``: one message per
packet, no limits), a real Home Assistant process gets a gateway through the config
flow, and the simulated gateway writes 2,000 packets/s of 250-byte payloads (each
payload starts with the time it was written, for latency) through phases:

1. no subscriber: what the traffic alone costs Home Assistant;
2. 1, 4, 8 and 16 fast subscribers (``stream_clients``, real WebSocket connections
   from a separate process): Home Assistant's CPU for each;
3. the main configuration: 8 fast, 1 capped at 20 packets/s, 1 asking for the
   largest batches (hex, 2 s, 1 MiB), and 16 that stop reading (each on its own
   connection). Reported: packets received and dropped, latency p50/p99 from serial
   write to delivery, the largest message, the stalled clients' cost (our buffer,
   the kernel's socket buffers), when their subscriptions ended (``stall_timeout``)
   and when Home Assistant closed their connections, Home Assistant's memory, and
   what Home Assistant logged.

CPU is Home Assistant's process time (user + system) over each phase's steady part,
as a share of one core; "stream" is that minus what the traffic alone cost the same
process just before and just after the phase (the mean of the two traffic-alone
phases around it: what the traffic costs drifts by up to a percent of a core over a
run, as much as the stream itself). Both processes measure their traffic-alone phases
at the same time. Ratios are against the naive stream measured in the same run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
import math
import os
from pathlib import Path
import random
import socket
import struct
import sys
import tempfile
import time
from typing import Any

import aiohttp

from devtools.hass_instance import REPO, HassInstance
from devtools.simulator import PtyGateway, SimulatorConfig

RATE = 2000
PEERS = 50
PAYLOAD = 250
BATCH_INTERVAL_MS = 100  # what the fast clients ask for
SCALING = (1, 4, 8, 16)
CAP = 256 * 1024  # the documented largest message
STALLED = 16  # clients that stop reading, in the main configuration
LOG_PROBLEMS = (
    "Traceback",
    "Error handling request",
    "Task exception was never retrieved",
    "unable to keep up",
)


@dataclass(frozen=True, slots=True)
class Timing:
    """How long each phase lasts."""

    settle: float  # clients connect and the stream reaches its steady state
    measure: float  # CPU is measured over this
    main: float  # the main configuration
    stall_timeout: float | None  # what the stalled client asks for (None: default)


FULL = Timing(settle=3.0, measure=15.0, main=100.0, stall_timeout=None)
QUICK = Timing(settle=2.0, measure=5.0, main=15.0, stall_timeout=5.0)


def _ephemeral_port() -> int:
    """A free port the system picks: clear of 8123 and of the test instances' range."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Run:
    """One Home Assistant process with one design, through every phase."""

    def __init__(self, mode: str, timing: Timing, tmp: Path) -> None:
        tmp.mkdir()
        self.mode = mode
        self.timing = timing
        self.sim = PtyGateway(
            SimulatorConfig(peers=1, seed=1, backlog_limit=1 << 20), tmp / "gw"
        )
        extra = (
            {"naive_stream": REPO / "benchmarks" / "naive_stream"}
            if mode == "naive"
            else {}
        )
        self.hass = HassInstance(
            tmp / "config",
            port=_ephemeral_port(),
            log_level="warning",
            extra_components=extra,
        )
        self.entry_id = ""
        self.written = 0  # packets the simulated gateway has written so far
        self._stop = asyncio.Event()
        self._traffic_task: asyncio.Task[int] | None = None
        self.rss0 = 0
        self.log_offset = 0

    async def _traffic(self, stop: asyncio.Event) -> int:
        """Write RATE packets/s, a send timestamp in each payload; return the count."""
        rng = random.Random(7)
        macs = [bytes([0x02, 0x4E, 0, 0, 0, i]) for i in range(PEERS)]
        tail = rng.randbytes(PAYLOAD - 8)
        gateway = self.sim.gateway
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not stop.is_set():
            due = int((loop.time() - start) * RATE)
            while self.written < due:
                gateway.packet(
                    macs[self.written % PEERS],
                    struct.pack("<d", time.time()) + tail,
                    -50 - self.written % 40,
                )
                self.written += 1
            await asyncio.sleep(0.005)
        return self.written

    async def _clients(self, seconds: float, *args: str) -> asyncio.subprocess.Process:
        assert self.hass.token is not None
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.stream_clients",
            self.hass.url,
            self.hass.token,
            self.mode,
            str(seconds),
            *args,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )

    def _cpu_times(self) -> tuple[float, float]:
        """Home Assistant's user and system CPU seconds so far (nan once it is gone)."""
        try:
            stat = Path(f"/proc/{self.hass.pid}/stat").read_text()
        except FileNotFoundError:
            return math.nan, math.nan
        fields = stat.rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks, int(fields[12]) / ticks

    async def _cpu(self, seconds: float) -> dict[str, float]:
        """Home Assistant's CPU over the next ``seconds``, as shares of one core."""
        (user0, sys0), wall0 = self._cpu_times(), time.monotonic()
        await asyncio.sleep(seconds)
        (user1, sys1), wall = self._cpu_times(), time.monotonic() - wall0
        return {
            "cpu": (user1 + sys1 - user0 - sys0) / wall,
            "user": (user1 - user0) / wall,
            "system": (sys1 - sys0) / wall,
        }

    async def scaling(self, fast: int) -> dict[str, Any]:
        """CPU with ``fast`` subscribers that read everything."""
        timing = self.timing
        written = self.written
        clients = await self._clients(
            timing.settle + timing.measure + 1, "--fast", str(fast)
        )
        await asyncio.sleep(timing.settle)
        cpu = await self._cpu(timing.measure)
        out, _ = await clients.communicate()
        written = self.written - written  # while the clients were connected
        report = json.loads(out.decode().strip().splitlines()[-1])
        return {"subscribers": fast, **cpu, "clients": report, "written": written}

    async def main(self) -> dict[str, Any]:
        """The main configuration, with diagnostics read every second."""
        timing = self.timing
        extra = ["--capped", "--large", "--stalled", str(STALLED)]
        if timing.stall_timeout is not None:
            extra += ["--stall-timeout", str(timing.stall_timeout)]
        clients = await self._clients(timing.main, "--fast", "8", *extra)
        rss: list[tuple[float, int]] = []
        peaks: dict[int, dict[str, Any]] = {}
        stalled_at: list[float] = []  # when the hub's stall count went up, per stall
        (user0, sys0), started = self._cpu_times(), time.monotonic()
        while clients.returncode is None and time.monotonic() - started < timing.main:
            if self.hass.process is None or self.hass.process.returncode is not None:
                break  # Home Assistant is gone: reported by stop()
            rss.append((time.monotonic() - started, self.hass.rss_bytes()))
            try:
                diag = await self.hass.diagnostics(self.entry_id)
            except aiohttp.ClientError:
                break
            stream = diag.get("stream")
            if self.mode == "ours" and stream is not None:
                now = time.time()
                stalled_at += [now] * (stream["totals"]["stalled"] - len(stalled_at))
                for sub in stream["subscribers"]:
                    seen = peaks.setdefault(sub["number"], {})
                    seen["max_rate"] = sub["max_rate"]
                    seen["encoding"] = sub["encoding"]
                    for key in (
                        "peak_buffered_bytes",
                        "in_flight",
                        "dropped",
                        "sent",
                        "split_batches",
                        "largest_message_bytes",
                    ):
                        seen[key] = max(seen.get(key, 0), sub[key])
            await asyncio.sleep(1.0)
        out, _ = await clients.communicate()
        user, system = self._cpu_times()
        cpu = (user + system - user0 - sys0) / (time.monotonic() - started)
        report = json.loads(out.decode().strip().splitlines()[-1])
        try:
            final: dict[str, Any] | None = await self.hass.diagnostics(self.entry_id)
        except aiohttp.ClientError:
            final = None
        last = max((s["subscribed_at"] for s in report["stalled"]), default=0.0)
        return {
            "cpu": cpu,
            "clients": report,
            # Read every second: each end is known to within a second.
            "stall_ended_after_s": [at - last for at in stalled_at],
            "rss_mb_peak": max((b for _, b in rss), default=0) / 1e6,
            "rss_mb_last_half_max": max(
                (b for t, b in rss if t >= timing.main / 2), default=0
            )
            / 1e6,
            "stream_peaks": peaks,
            "stream_final": final["stream"]["totals"]
            if final is not None and self.mode == "ours"
            else None,
        }

    async def start(self) -> None:
        """Home Assistant up, a gateway added, its traffic flowing."""
        link = self.sim.plug()
        await self.hass.start()
        await self.hass.onboard()
        self.entry_id = await self.hass.add_gateway(link)
        self._traffic_task = asyncio.create_task(self._traffic(self._stop))

    def mark(self) -> None:
        """Remember the memory and the log's length before the first subscriber."""
        self.rss0 = self.hass.rss_bytes()
        log = self.hass.config_dir / "home-assistant.log"
        self.log_offset = log.stat().st_size if log.exists() else 0

    async def stop(self) -> dict[str, Any]:
        """Stop the traffic and Home Assistant; return the run's own figures."""
        self._stop.set()
        if self._traffic_task is not None:
            await asyncio.gather(self._traffic_task, return_exceptions=True)
        sent = self.written
        process = self.hass.process
        exited = process.returncode if process is not None else None
        await self.hass.stop()
        self.sim.close()
        log = self.hass.config_dir / "home-assistant.log"
        text = log.read_bytes()[self.log_offset :].decode(errors="replace")
        lines = text.splitlines()
        return {
            "mode": self.mode,
            "sent": sent,
            "gateway_dropped": self.sim.gateway.stats.rx_dropped,
            "rss_mb_before": self.rss0 / 1e6,
            "log": {word: text.count(word) for word in LOG_PROBLEMS},
            "log_disconnected": [line for line in lines if "Disconnected:" in line],
            "log_problems": [
                line[:240]
                for line in lines
                if any(word in line for word in LOG_PROBLEMS)
            ][:3],
            # Home Assistant ended before it was stopped: its exit code, its last words.
            "exited": exited,
            "log_tail": [line[:240] for line in lines[-20:]]
            if exited is not None
            else [],
        }


def _pct(share: float) -> str:
    return f"{share * 100:5.1f} %"


def _alone(result: dict[str, Any], phase: int) -> float:
    """What the traffic alone cost around scaling phase ``phase``: before and after."""
    alone = result["cpu_traffic_alone"]
    return float(alone[phase]["cpu"] + alone[phase + 1]["cpu"]) / 2


def _span(result: dict[str, Any]) -> str:
    shares = [phase["cpu"] for phase in result["cpu_traffic_alone"]]
    return f"{_pct(min(shares)).strip()}..{_pct(max(shares)).strip()}"


def _scaling_lines(ours: dict[str, Any], naive: dict[str, Any]) -> list[str]:
    lines = [
        (
            f"   Home Assistant CPU at {RATE} packets/s (share of one core); traffic "
            f"alone, measured before and after each phase: ours {_span(ours)}, "
            f"naive {_span(naive)}"
        ),
        (
            "     fast subs | ours: total  stream  (system) | naive: total  stream  "
            "(system) | stream ours/naive | total ours/naive"
        ),
    ]
    for phase, (mine, theirs) in enumerate(
        zip(ours["scaling"], naive["scaling"], strict=True)
    ):
        stream_ours = mine["cpu"] - _alone(ours, phase)
        stream_naive = theirs["cpu"] - _alone(naive, phase)
        ratio = stream_ours / stream_naive if stream_naive > 0 else float("nan")
        lines.append(
            f"     {mine['subscribers']:9d} |     {_pct(mine['cpu'])} {_pct(stream_ours)}"
            f" ({_pct(mine['system'])}) |      {_pct(theirs['cpu'])} {_pct(stream_naive)}"
            f" ({_pct(theirs['system'])}) |   {ratio:5.3f} (1/{1 / ratio:4.1f}) |"
            f"   {mine['cpu'] / theirs['cpu']:5.3f}"
        )
    for result in (ours, naive):
        first, last = result["scaling"][0], result["scaling"][-1]
        growth = (last["cpu"] - _alone(result, len(SCALING) - 1)) / max(
            first["cpu"] - _alone(result, 0), 1e-9
        )
        fast = [s["clients"]["fast"] for s in result["scaling"]]
        lines.append(
            f"     [{result['mode']}] stream CPU 1 -> 16 subscribers: x{growth:.1f}; "
            "fast clients per phase, slowest one's share of the packets written "
            "while it ran (connecting included), disconnected: "
            + ", ".join(
                f"{min(c['received'] for c in clients) / phase['written']:.2f}"
                f"/{sum(c['closed_by_server'] for c in clients)}"
                for clients, phase in zip(fast, result["scaling"], strict=True)
            )
        )
    return lines


def _main_lines(result: dict[str, Any], timing: Timing) -> list[str]:
    main = result["main"]
    clients = main["clients"]
    fast = clients["fast"]
    seconds = timing.main
    header = (
        f"   [{result['mode']}] main configuration, {seconds:.0f} s: HA CPU "
        f"{_pct(main['cpu'])} (gateway queue drops {result['gateway_dropped']})"
    )
    lines = [header]
    received = [c["received"] for c in fast]
    p99 = [c["latency_ms_p99"] or 0 for c in fast]
    p50 = [c["latency_ms_p50"] or 0 for c in fast]
    lines.append(
        f"     8 fast      : received {min(received)}..{max(received)} packets, "
        f"dropped {sum(c['dropped_reported'] for c in fast)}, "
        f"latency p50 {max(p50):.0f} ms, p99 {max(p99):.0f} ms (worst client), "
        f"disconnected {sum(c['closed_by_server'] for c in fast)}"
    )
    capped = clients["capped"]
    lines.append(
        f"     1 capped 20/s: received {capped['received']}, dropped {capped['dropped_reported']}, "
        f"p99 {capped['latency_ms_p99'] or 0:.0f} ms, disconnected {capped['closed_by_server']}"
    )
    large = clients["large"]
    peaks = list(main["stream_peaks"].values())
    splits = max((p["split_batches"] for p in peaks), default=0)
    lines.append(
        f"     1 large (hex, 2 s, 1 MiB): received {large['received']}, largest message "
        f"{large['largest_message']} bytes (cap {CAP}), "
        + (f"split batches {splits}, " if result["mode"] == "ours" else "")
        + f"disconnected {large['closed_by_server']}"
    )
    stalled = clients["stalled"]
    closed = [s["server_closed_after_s"] for s in stalled if s["closed_by_server"]]
    ended = main["stall_ended_after_s"]
    kernel = [s["peak_kernel_bytes"] / 1024 for s in stalled]

    def span(values: list[float]) -> str:
        return f"{min(values):.0f}..{max(values):.0f} s"

    lines.append(
        f"     {len(stalled)} stalled   : kernel socket buffers peak "
        f"{min(kernel):.0f}..{max(kernel):.0f} KiB each; "
        + (
            f"{len(ended)} subscriptions ended by stall_timeout "
            f"({timing.stall_timeout or 60:.0f} s) {span(ended)} after their last "
            "message; "
            if ended
            else ("no subscription ended; " if result["mode"] == "ours" else "")
        )
        + (
            f"Home Assistant closed {len(closed)} connections {span(closed)} after "
            "their last message"
            if closed
            else f"Home Assistant kept every connection for the {seconds:.0f} s"
        )
    )
    if peaks:

        def kib(group: list[dict[str, Any]]) -> str:
            return ", ".join(f"{p['peak_buffered_bytes'] / 1024:.0f}" for p in group)

        stalled_peaks = [p for p in peaks if p["max_rate"] == 100]  # server defaults
        in_flight = max((p["in_flight"] for p in stalled_peaks), default=0)
        stalled_kib = [p["peak_buffered_bytes"] / 1024 for p in stalled_peaks]
        lines.append(
            "     our buffers  : peak KiB per subscriber: fast "
            f"{kib([p for p in peaks if p['max_rate'] == 5000 and p['encoding'] == 'base64'])}; "
            f"capped {kib([p for p in peaks if p['max_rate'] == 20])}; "
            f"large {kib([p for p in peaks if p['encoding'] == 'hex'])} (high watermark 1024); "
            f"stalled {min(stalled_kib, default=0):.0f}..{max(stalled_kib, default=0):.0f}"
            " (high watermark 64), "
            f"{in_flight} batches in flight (window 4)"
        )
    log = result["log"]
    lines.append(
        f"     HA memory    : {result['rss_mb_before']:.0f} MB before, peak {main['rss_mb_peak']:.0f} MB, "
        f"max {main['rss_mb_last_half_max']:.0f} MB in the last half"
    )
    lines.append(
        "     HA log       : "
        + ", ".join(f"'{word}' {count}" for word, count in log.items())
        + f"; 'Disconnected:' warnings {len(result['log_disconnected'])}"
    )
    lines += ["       " + line for line in result["log_problems"]]
    if result["exited"] is not None:
        lines.append(f"     Home Assistant exited by itself with {result['exited']}:")
        lines += ["       " + line for line in result["log_tail"]]
    return lines


async def _both(timing: Timing, tmp: Path) -> dict[str, dict[str, Any]]:
    """Both designs up at once, their phases interleaved, so both see the same load."""
    runs = {mode: Run(mode, timing, tmp / mode) for mode in ("ours", "naive")}
    results: dict[str, dict[str, Any]] = {mode: {"scaling": []} for mode in runs}
    try:
        for one in runs.values():
            await one.start()
        await asyncio.sleep(timing.settle)
        for one in runs.values():
            one.mark()

        async def alone() -> None:
            """Both processes' traffic-alone CPU, measured at the same time."""
            shares = await asyncio.gather(
                *(one._cpu(timing.measure) for one in runs.values())
            )
            for mode, share in zip(runs, shares, strict=True):
                results[mode].setdefault("cpu_traffic_alone", []).append(share)

        await alone()
        for fast in SCALING:
            for mode, one in runs.items():
                results[mode]["scaling"].append(await one.scaling(fast))
            await asyncio.sleep(1)  # the clients' connections closed
            await alone()
        for mode, one in runs.items():
            results[mode]["main"] = await one.main()
    finally:
        for mode, one in runs.items():
            results[mode] |= await one.stop()
    return results


def run(quick: bool = False) -> dict[str, Any]:
    """Run ours and the naive baseline; print both."""
    timing = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="espnow-stream-") as tmp:
        results = asyncio.run(_both(timing, Path(tmp)))
    ours, naive = results["ours"], results["naive"]
    print(
        "   target: stream CPU <= 1/5 of the naive stream's at 8 subscribers, growing "
        "far slower than the number of subscribers; fast clients 100 %, "
        f"p99 < 2 x batch_interval + 50 ms = {2 * BATCH_INTERVAL_MS + 50} ms"
    )
    for line in (
        _scaling_lines(ours, naive)
        + _main_lines(ours, timing)
        + _main_lines(naive, timing)
    ):
        print(line)
    return results
