"""Soak: a real Home Assistant under ESP-NOW traffic, replugs and subscribers for minutes.

``scripts/soak`` runs this. One Home Assistant process (``hass_instance``) gets the
simulated gateway (``simulator``, on a pty) through the config flow; the gateway sends
1,000 frames/s from 50 peers with 1 % of the bytes on the wire damaged (a flipped bit),
and is unplugged every 30 s for 2 s (its pty closed and its by-id style link removed,
then a new pty behind the same link). Five subscribers read the raw-packet stream: a
stalled one (it subscribes and never reads again; closed by Home Assistant's heartbeat,
it stalls again), one capped at 20 packets/s, fast ones that acknowledge everything and
record every packet's sequence number (``soak_clients``, a process of their own), and
the packet monitor card in headless Chromium (``browser``) when Chromium is installed
(else a third fast Python client, and the report says so).

Measured (``soak_report`` prints and checks it):

- every frame written intact while the link was up is delivered to every fast
  subscriber, none damaged (the simulator tells which frames it damaged);
- reconnect time after each replug: from the device reappearing (the link made again)
  to the Connection entity's ``on`` (its ``last_changed``), p50/p99/max;
- Home Assistant's RSS, open file descriptors and asyncio task count at the end of the
  warm-up and at the end; Python allocations traced with ``tracemalloc`` between the
  two, in total and in the integration's files (``soak_probe``, a development-only
  component linked into the soak's own configuration);
- every warning and error line of Home Assistant's log (a traceback fails the soak).

Control runs (not with ``--ci``): the same Home Assistant without traffic after the
warm-up (alongside the main run: it costs no CPU), then the main scenario without the
recorder, and the main scenario without ``tracemalloc`` (whose own bookkeeping grows
with what it traces), to tell the integration's memory from the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
from dataclasses import asdict, dataclass, field, replace
import json
import os
from pathlib import Path
import shutil
import sys
import tempfile
import time
from typing import Any

from devtools import develop, soak_report
from devtools.browser import Browser, Page, login_script
from devtools.hass_instance import REPO, HassInstance
from devtools.simulator import PtyGateway, SimulatorConfig
from devtools.ws_client import WsClient

SAMPLE_EVERY = 5.0  # s between two samples of RSS, fds and tasks
UNPLUG_OFFSET = 15.0  # s: the first unplug; snapshots fall between replugs
CLIENTS_GRACE = 6.0  # s the subscribers read after the traffic has stopped
CARD = {"type": "custom:espnow-packet-monitor", "title": "Packets", "rows": 15}
PROBE = REPO / "devtools" / "soak_probe"
DEBUG_LINK = {
    "custom_components.espnow_gateway.espnowgw.connection": "debug",
    "serialx.platforms.serial_posix": "debug",
}


@dataclass(frozen=True, kw_only=True)
class Plan:
    """One run."""

    name: str
    duration: float = 600.0
    warmup: float = 60.0
    rate: float = 1000.0  # frames/s in total
    peers: int = 50
    corrupt_rate: float = 0.01  # chance per byte on the wire of a flipped bit
    replug_every: float | None = 30.0
    unplug_for: float = 2.0
    recorder: bool = True
    traffic_after_warmup: bool = True
    subscribers: bool = True
    card: bool = False  # the card in Chromium (else a third fast Python client)
    seed: int = 9
    debug_link: bool = False  # the link's and serialx's debug lines in the log
    traced: bool = True  # Python allocations traced (tracemalloc: memory of its own)


@dataclass
class Boot:
    """What the simulated gateway wrote between one plug and the next unplug."""

    plugged_at: float  # wall clock (Home Assistant's timestamps are too)
    unplugged_at: float | None = None
    written: int = 0
    corrupted: int = 0
    damaged: bytearray = field(default_factory=bytearray)  # bit per seq: damaged

    def on_packet(self, seq: int, corrupted: bool) -> None:
        """Count one packet frame written (``SimulatedGateway.on_packet``)."""
        self.written = max(self.written, seq + 1)
        if corrupted:
            self.corrupted += 1
            index = seq >> 3
            if index >= len(self.damaged):
                self.damaged.extend(bytes(index + 1 - len(self.damaged) + 4096))
            self.damaged[index] |= 1 << (seq & 7)


@dataclass
class Sample:
    """Home Assistant's process at one moment."""

    t: float  # s since the traffic started
    rss: int
    fds: int
    tasks: int
    threads: int
    traced: int
    tracemalloc_overhead: int


class Run:
    """One Home Assistant, its simulated gateway, subscribers and measurements."""

    def __init__(self, plan: Plan, tmp: Path, results: Path) -> None:
        """Prepare the run in ``tmp``; its logs go to ``results``."""
        tmp.mkdir(parents=True)
        self.plan = plan
        self.tmp = tmp
        self.results = results
        self.sim = PtyGateway(
            SimulatorConfig(
                peers=plan.peers,
                rate=plan.rate / plan.peers,
                button_probability=0.01,
                corrupt_rate=plan.corrupt_rate,
                stats_interval=5.0,
                seed=plan.seed,
            ),
            tmp / "usb-Espressif_ESP-NOW_Gateway-if00",
        )
        self.hass = HassInstance(
            tmp / "config",
            recorder=plan.recorder,
            log_level="warning",
            integration_log_level="info",
            extra_components={"soak_probe": PROBE},
            logs=DEBUG_LINK if plan.debug_link else None,
        )
        self.boots: list[Boot] = []
        self.samples: list[Sample] = []
        self.changes: list[tuple[str, float]] = []  # Connection entity: (state, lc)
        self.figures: dict[str, Any] = {}
        self.entry_id = ""
        self.connection_entity = ""
        self._clients: asyncio.subprocess.Process | None = None
        self._events: WsClient | None = None
        self._watch: asyncio.Task[None] | None = None
        self._start = 0.0

    # ---- set-up -------------------------------------------------------------------

    def _plug(self) -> None:
        self.sim.plug()
        boot = Boot(time.time())
        self.sim.gateway.on_packet = boot.on_packet
        self.boots.append(boot)

    async def start(self) -> None:
        """Home Assistant up with the gateway, the dashboard and the probe."""
        self._plug()
        await self.hass.start()
        await develop.bring_up(self.hass, self.sim.url, card=CARD)
        self.entry_id = (await self.hass.entries())[0]["entry_id"]
        states = await self.hass.request("GET", "/api/states")
        self.connection_entity = next(
            s["entity_id"]
            for s in states
            if s["entity_id"].startswith("binary_sensor.")
            and "connect_error" in s["attributes"]
        )
        self._events = WsClient(await self.hass.websocket())
        if self.plan.traced:
            await self.probe("soak_probe/trace")
        self._watch = asyncio.create_task(self._watch_connection())

    async def _watch_connection(self) -> None:
        assert self._events is not None
        async with self._events.subscription(
            "subscribe_entities", entity_ids=[self.connection_entity]
        ) as subscription:
            while True:
                event = (await subscription.get())["event"]
                for key in ("a", "c"):
                    for change in event.get(key, {}).values():
                        state = change.get("+", change)
                        if "s" in state:
                            self.changes.append((state["s"], state.get("lc", 0.0)))

    async def start_clients(self, seconds: float, *, fast: int) -> None:
        """Start the Python subscribers, in a process of their own."""
        assert self.hass.token is not None
        self._clients = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "devtools.soak_clients",
            self.hass.url,
            self.hass.token,
            str(seconds),
            "--fast",
            str(fast),
            "--capped",
            "--stalled",
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )

    async def open_card(self, browser: Browser) -> Page:
        """Open the dashboard with the packet monitor card, logged in."""
        page = await browser.new_page()
        await page.set_viewport(1280, 900)
        assert self.hass.token is not None
        assert self.hass.refresh_token is not None
        tokens = {
            "access_token": self.hass.token,
            "refresh_token": self.hass.refresh_token,
            "expires_in": 1800,
        }
        await page.add_init_script(login_script(self.hass, tokens))
        await page.navigate(
            f"{self.hass.url}/{develop.DASHBOARD}/{develop.DASHBOARD_VIEW}"
        )
        return page

    # ---- measurements ---------------------------------------------------------------

    async def probe(self, command: str, **data: Any) -> dict[str, Any]:
        """Ask the soak probe inside Home Assistant."""
        assert self._events is not None
        answer: dict[str, Any] = await self._events.call(command, **data)
        return answer

    async def sample(self) -> Sample:
        """RSS and fds from /proc, tasks and traced memory from the probe."""
        pid = self.hass.pid
        figures = await self.probe("soak_probe/figures")
        sample = Sample(
            t=round(asyncio.get_running_loop().time() - self._start, 1),
            rss=self.hass.rss_bytes(),
            fds=len(os.listdir(f"/proc/{pid}/fd")),
            tasks=figures["tasks"],
            threads=self.hass.threads(),
            traced=figures["traced_current"],
            tracemalloc_overhead=figures["tracemalloc_overhead"],
        )
        self.samples.append(sample)
        return sample

    async def _sampler(self) -> None:
        loop = asyncio.get_running_loop()
        plan = self.plan
        marked = False
        while True:
            if not marked and loop.time() - self._start >= plan.warmup:
                marked = True
                await self.probe("soak_probe/mark")
                self.figures["warm"] = asdict(await self.sample())
            else:
                await self.sample()
            await asyncio.sleep(SAMPLE_EVERY)

    async def traffic(self) -> None:
        """Drive the simulated peers, the gateway's STATS and the replugs in real time."""
        plan = self.plan
        gateway = self.sim.gateway
        loop = asyncio.get_running_loop()
        self._start = start = last = loop.time()
        next_stats = start + 5.0
        every = plan.replug_every
        next_unplug = start + UNPLUG_OFFSET if every else None
        replug_at: float | None = None
        sampler = asyncio.create_task(self._sampler())
        try:
            while (now := loop.time()) - start < plan.duration:
                await asyncio.sleep(0.01)
                now = loop.time()
                if replug_at is not None and now >= replug_at:
                    replug_at = None
                    self._plug()
                if next_unplug is not None and now >= next_unplug:
                    assert every is not None
                    next_unplug += every
                    self.sim.unplug()
                    self.boots[-1].unplugged_at = time.time()
                    replug_at = now + plan.unplug_for
                if not self.sim.plugged:
                    last = now
                    continue
                if plan.traffic_after_warmup or now - start < plan.warmup:
                    gateway.advance(now - last)
                last = now
                if now >= next_stats:
                    next_stats = now + 5.0
                    gateway.send(gateway.gateway_stats())
            self.boots[-1].unplugged_at = time.time()
            if "warm" not in self.figures:
                raise RuntimeError("the run ended before its warm-up did")
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            self.figures["end"] = asdict(await self.sample())
            self.figures["tracemalloc"] = await self.probe(
                "soak_probe/figures", compare=True
            )
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            if replug_at is not None:
                self._plug()  # no run ends with the gateway unplugged

    async def finish(self) -> dict[str, Any]:
        """Collect the clients' report, stop everything; return the run's figures."""
        clients: dict[str, Any] | None = None
        if self._clients is not None:
            out, _ = await self._clients.communicate()
            lines = out.decode().strip().splitlines()
            clients = json.loads(lines[-1]) if lines else None
        return {"clients": clients}

    async def stop(self) -> None:
        """Stop Home Assistant and the gateway; keep the log in the results."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._events is not None:
            await self._events.close()
        if self._clients is not None and self._clients.returncode is None:
            self._clients.kill()
            await self._clients.wait()
        await self.hass.stop()
        self.sim.close()
        self.results.mkdir(parents=True, exist_ok=True)
        if self.hass.log_file.exists():
            shutil.copy(self.hass.log_file, self.results / self.log_name)

    @property
    def log_name(self) -> str:
        """The name of Home Assistant's log in the results."""
        return f"home-assistant-{self.plan.name.replace(' ', '-')}.log"

    def boots_json(self) -> list[dict[str, Any]]:
        """Return the boots as the report takes them (damaged seqs: a base64 bitmap)."""
        return [
            {
                "plugged_at": boot.plugged_at,
                "unplugged_at": boot.unplugged_at,
                "written": boot.written,
                "corrupted": boot.corrupted,
                "damaged": base64.b64encode(boot.damaged).decode(),
            }
            for boot in self.boots
        ]


async def card_state(page: Page) -> dict[str, Any] | None:
    """Return the card's state and dropped count, as it shows them."""
    value: dict[str, Any] | None = await page.evaluate(
        "(() => { const c = window.__deep('espnow-packet-monitor');"
        " return c ? {state: c.dataset.state, dropped: Number(c.dataset.dropped)}"
        " : null; })()"
    )
    return value


def card_figures(page: Page, states: list[str]) -> dict[str, Any]:
    """Return what the card received (the page's WebSocket frames) and logged."""
    received = batches = dropped = 0
    for frame in list(page.frames):
        if frame.sent:
            continue
        items = frame.data if isinstance(frame.data, list) else [frame.data]
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "event":
                continue
            event = item.get("event")
            if isinstance(event, dict) and "batch" in event:
                batches += 1
                received += len(event.get("packets", []))
                dropped += event.get("dropped", 0)
    errors = [f"{e.source}: {e.text}" for e in page.console if e.level == "error"]
    return {
        "received": received,
        "batches": batches,
        "dropped_reported": dropped,
        "states": sorted(set(states)),
        "live_share": states.count("live") / len(states) if states else 0.0,
        "console_errors": errors[:20],
        "console_error_count": len(errors),
    }


async def run_one(
    plan: Plan, tmp: Path, results: Path, *, cdp: str | None = None
) -> dict[str, Any]:
    """Run one plan from start to end; return everything the report needs."""
    run = Run(plan, tmp, results)
    browser = Browser(cdp) if cdp is not None else None
    report: dict[str, Any] = {"plan": asdict(plan), "card": None}
    page: Page | None = None
    card_states: list[str] = []
    try:
        await run.start()
        if plan.subscribers:
            fast = 2 if browser is not None else 3
            await run.start_clients(plan.duration + CLIENTS_GRACE + 2, fast=fast)
        if browser is not None:
            page = await run.open_card(browser)
            await page.wait_for(
                "(() => { const c = window.__deep('espnow-packet-monitor');"
                " return c && c.dataset.state === 'live'; })()",
                90,
                "the card to be live",
            )
        await asyncio.sleep(2)  # the subscribers are in
        before = await run.hass.diagnostics(run.entry_id)
        traffic = asyncio.create_task(run.traffic())
        while not traffic.done():
            if page is not None:
                with contextlib.suppress(Exception):
                    state = await card_state(page)
                    card_states.append(state["state"] if state else "absent")
            await asyncio.wait({traffic}, timeout=SAMPLE_EVERY)
        await traffic
        await asyncio.sleep(CLIENTS_GRACE / 2)
        after = await run.hass.diagnostics(run.entry_id)
        report |= await run.finish()
        if page is not None:
            report["card"] = card_figures(page, card_states)
        report |= {
            "samples": [asdict(s) for s in run.samples],
            "figures": run.figures,
            "connection_changes": run.changes,
            "boots": run.boots_json(),
            "link_before": before["gateway"]["link"],
            "link_after": after["gateway"]["link"],
            "gateway_stats": asdict(run.sim.gateway.stats),
        }
    finally:
        if browser is not None:
            await browser.close()
        await run.stop()
    report["log"] = soak_report.log_lines(results / run.log_name)
    return report


def plans(args: argparse.Namespace) -> list[Plan]:
    """Return the main run and its controls, as the command line asks."""
    main = Plan(
        name="main",
        duration=args.duration,
        warmup=args.warmup,
        rate=args.rate,
        corrupt_rate=args.corrupt_rate,
        replug_every=args.replug_every or None,
        unplug_for=args.unplug_for,
        card=args.cdp is not None,
        debug_link=args.debug_link,
        seed=args.seed,
        traced=args.trace,
    )
    if not args.controls:
        return [main]
    # The controls: the main run's scenario with one thing taken away (and neither
    # the card nor the link's debug lines).
    control = replace(main, card=False, debug_link=False)
    idle = replace(
        control,
        name="no traffic",
        replug_every=None,
        traffic_after_warmup=False,
        subscribers=False,
    )
    no_recorder = replace(control, name="no recorder", recorder=False)
    untraced = replace(control, name="untraced", traced=False)
    return [main, idle, no_recorder, untraced]


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Every run of the soak; the idle control alongside the main run."""
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    main, *controls = plans(args)
    reports: dict[str, Any] = {"browser": args.cdp}
    with tempfile.TemporaryDirectory(prefix="espnow-soak-") as tmp:
        jobs = {main.name: run_one(main, Path(tmp) / "main", results, cdp=args.cdp)}
        alongside = [plan for plan in controls if not plan.traffic_after_warmup]
        for plan in alongside:
            jobs[plan.name] = run_one(plan, Path(tmp) / "idle", results)
        started = time.monotonic()
        done = await asyncio.gather(*jobs.values())
        reports["runs"] = dict(zip(jobs, done, strict=True))
        reports["seconds"] = {main.name: time.monotonic() - started}
        for plan in controls:
            if plan in alongside:
                continue
            started = time.monotonic()
            reports["runs"][plan.name] = await run_one(
                plan, Path(tmp) / plan.name.replace(" ", "-"), results
            )
            reports["seconds"][plan.name] = time.monotonic() - started
    return reports


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__)
    parser.add_argument("--ci", action="store_true", help="2 minutes, no control runs")
    parser.add_argument("--duration", type=float, help="s of traffic (default 600)")
    parser.add_argument("--warmup", type=float, help="s before the reference figures")
    parser.add_argument("--rate", type=float, default=1000.0, help="frames/s")
    parser.add_argument("--corrupt-rate", type=float, default=0.01)
    parser.add_argument("--replug-every", type=float, default=30.0, help="0: never")
    parser.add_argument("--unplug-for", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--controls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the control runs (default: on, off with --ci)",
    )
    parser.add_argument(
        "--cdp", help="DevTools endpoint of a Chromium for the card (scripts/soak)"
    )
    parser.add_argument(
        "--debug-link", action="store_true", help="the link's debug lines in the log"
    )
    parser.add_argument(
        "--trace",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="trace Python allocations in the main run (default: on)",
    )
    parser.add_argument("--results", type=Path, default=REPO / "soak-results")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 120.0 if args.ci else 600.0
    if args.warmup is None:
        args.warmup = 30.0 if args.ci else 60.0
    if args.controls is None:
        args.controls = not args.ci
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the soak, print the report; non-zero if a target was missed."""
    args = _parse(argv)
    started = time.monotonic()
    reports = asyncio.run(soak(args))
    reports["total_seconds"] = time.monotonic() - started
    (args.results / "soak.json").write_text(
        json.dumps(reports, indent=1, default=str) + "\n"
    )
    return soak_report.report(reports, args)


if __name__ == "__main__":
    sys.exit(main())
