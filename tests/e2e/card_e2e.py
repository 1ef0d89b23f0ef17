"""The packet monitor card in a real browser against a real Home Assistant.

Run by scripts/test-e2e (which starts headless Chromium): ``python -m
tests.e2e.card_e2e --cdp http://127.0.0.1:PORT``. It brings Home Assistant up with
the simulated gateway exactly as scripts/develop does (frontend, onboarding, config
flow, the "ESP-NOW" dashboard), logs the browser in, opens the dashboard and checks
what a user sees and what goes over the WebSocket:

- packets appear, with previews, per-peer figures and the card's version;
- the integration registered the card as one dashboard resource;
- pause stops updates (and unsubscribes), resume restarts them;
- a MAC filter narrows the packets on the server (a new subscribe with ``sources``;
  every packet received after it comes from that peer);
- a burst above the card's rate shows the dropped count the server reports (equal to
  the sum of the ``dropped`` fields of the frames received);
- a hidden tab unsubscribes, a visible one subscribes again;
- at 2,000 packets/s with the CPU slowed four times (a slow tablet) the card stays
  live, shows no more than its rate, counts the drops and blocks the page for no long
  task;
- after Home Assistant restarts, the card subscribes again by itself;
- leaving the page unsubscribes; the phone-width view hides the wide columns;
- the visual editor loads Home Assistant's form and reports changes;
- a user who is not an administrator sees a message, not a broken card;
- the browser logged no errors (JavaScript, console, network outside the restart).

Screenshots go to ``--results`` (e2e-results/); ``--update-docs`` also copies them to
docs/images/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field
import json
from pathlib import Path
import shutil
import sys
import tempfile
import time
from typing import Any

from devtools import develop
from devtools.browser import Browser, ConsoleEntry, Page, login_script
from devtools.hass_instance import REPO, HassInstance
from devtools.simulator import PtyGateway, SimulatorConfig, run_traffic
from espnowgw.mac import mac_to_str

MAX_RATE = 20  # low, so that a burst shows drops
CARD = {
    "type": "custom:espnow-packet-monitor",
    "title": "Packets",
    "max_rate": MAX_RATE,
    "rows": 15,
}
DOC_SHOTS = ("card-live.png", "card-narrow.png", "card-editor.png")
SUBSCRIBE = "espnow_gateway/subscribe_packets"


@dataclass
class Run:
    """What the checks share."""

    hass: HassInstance
    sim: PtyGateway
    page: Page
    results: Path
    steps: list[str] = field(default_factory=list)
    restart_window: tuple[float, float] | None = None
    started: float = field(default_factory=time.monotonic)

    def step(self, text: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f} s] {text}"
        self.steps.append(line)
        print(f"e2e: {line}", flush=True)

    def card(self, expression: str) -> str:
        """JavaScript evaluating ``expression`` with ``card`` and ``root`` bound."""
        return (
            "(() => { const card = window.__deep('espnow-packet-monitor');"
            " if (!card || !card.shadowRoot) return null;"
            f" const root = card.shadowRoot; return ({expression}); }})()"
        )

    async def state(self) -> dict[str, Any]:
        value: dict[str, Any] = await self.page.evaluate(
            self.card(
                "{state: card.dataset.state, dropped: Number(card.dataset.dropped),"
                " subscription: card.dataset.subscription, version: card.dataset.version,"
                " rows: [...root.querySelectorAll('.packet-rows tr')].map(tr =>"
                " ({src: tr.dataset.src, text: tr.textContent}))}"
            )
        )
        return value


def _messages(page: Page, *, sent: bool, since: float = 0) -> list[dict[str, Any]]:
    """Every message in the frames the page sent (or received) since ``since``."""
    out: list[dict[str, Any]] = []
    for frame in list(page.frames):
        if frame.sent != sent or frame.time < since:
            continue
        items = frame.data if isinstance(frame.data, list) else [frame.data]
        out.extend(item for item in items if isinstance(item, dict))
    return out


def _subscribes(page: Page, since: float = 0) -> list[dict[str, Any]]:
    return [
        m for m in _messages(page, sent=True, since=since) if m.get("type") == SUBSCRIBE
    ]


def _batches(page: Page, since: float = 0) -> list[dict[str, Any]]:
    events = [
        m["event"]
        for m in _messages(page, sent=False, since=since)
        if m.get("type") == "event" and isinstance(m.get("event"), dict)
    ]
    return [
        e for e in events if "subscription" in e and ("batch" in e or "status" in e)
    ]


async def check_packets_appear(run: Run) -> None:
    page = run.page
    await page.wait_for(
        run.card(
            "card.dataset.state === 'live' && root.querySelectorAll('.packet-rows tr').length >= 5"
        ),
        60,
        "the card to be live with packets",
    )
    state = await run.state()
    kinds = await page.evaluate(
        run.card(
            "[...new Set([...root.querySelectorAll('.packet-rows tr')].map(tr => tr.dataset.kind))]"
        )
    )
    previews = await page.evaluate(
        run.card("[...root.querySelectorAll('.preview')].map(p => p.textContent)")
    )
    assert any("temperature" in text for text in previews), previews
    peers = await page.wait_for(
        run.card(
            "root.querySelectorAll('.peer-rows tr').length >= 3 && root.querySelectorAll('.peer-rows tr').length"
        ),
        30,
        "the peer table",
    )
    resources = await run.hass.ws_call({"type": "lovelace/resources"})
    cards = [r for r in resources if "/espnow_gateway/frontend/" in r["url"]]
    assert len(cards) == 1 and state["version"] in cards[0]["url"], resources
    await page.screenshot(run.results / "card-live.png")
    run.step(
        f"packets appear: {len(state['rows'])} rows, kinds {sorted(kinds)}, {peers} peers,"
        f" one resource {cards[0]['url']}"
    )


async def check_pause_and_resume(run: Run) -> None:
    page = run.page
    await page.evaluate(run.card("root.querySelector('.pause').click(), true"))
    await page.wait_for(run.card("card.dataset.state === 'paused'"), 10, "paused")
    paused_at = asyncio.get_running_loop().time()
    frozen = (await run.state())["rows"]
    await asyncio.sleep(3)  # the simulator sends ~8 packets/s meanwhile
    assert (await run.state())["rows"] == frozen, "rows changed while paused"
    sent = _messages(page, sent=True, since=paused_at - 1)
    assert any(m.get("type") == "unsubscribe_events" for m in sent), sent
    await page.evaluate(run.card("root.querySelector('.pause').click(), true"))
    await page.wait_for(
        run.card(
            f"card.dataset.state === 'live' && root.querySelector('.packet-rows tr').textContent !== {json.dumps(frozen[0]['text'])}"
        ),
        15,
        "new packets after resume",
    )
    run.step("pause froze the table and unsubscribed; resume brought new packets")


async def check_filter(run: Run) -> None:
    page = run.page
    mac = mac_to_str(run.sim.gateway.peers[0].mac)
    before = asyncio.get_running_loop().time()
    await page.evaluate(
        run.card(
            f"(() => {{ const form = root.querySelector('form'); form.sources.value = {json.dumps(mac.lower())};"
            " form.dispatchEvent(new Event('change')); return true; })()"
        )
    )
    await page.wait_for(
        run.card(
            "(() => { const rows = [...root.querySelectorAll('.packet-rows tr')];"
            f" return rows.length >= 3 && rows.every(tr => tr.dataset.src === {json.dumps(mac)}); }})()"
        ),
        30,
        f"only packets of {mac}",
    )
    subscribes = _subscribes(page, before)
    assert subscribes and subscribes[-1].get("sources") == [mac], subscribes
    new_id = subscribes[-1]["id"]
    received = [
        packet
        for event in _batches(page, before)
        if event["subscription"] == new_id
        for packet in event.get("packets", [])
    ]
    assert received and {p["src"] for p in received} == {mac}, received[:5]
    await page.evaluate(
        run.card(
            "(() => { const form = root.querySelector('form'); form.sources.value = '';"
            " form.dispatchEvent(new Event('change')); return true; })()"
        )
    )
    await page.wait_for(
        run.card(
            "new Set([...root.querySelectorAll('.packet-rows tr')].map(tr => tr.dataset.src)).size >= 2"
        ),
        30,
        "all peers again",
    )
    run.step(
        f"the MAC filter resubscribed with sources=[{mac}]; the server sent only its {len(received)} packets"
    )


async def check_dropped(run: Run) -> None:
    page = run.page
    before = (await run.state())["dropped"]
    run.sim.gateway.emit_traffic(400)  # at once, far above the card's 20 packets/s
    await page.wait_for(
        run.card(f"Number(card.dataset.dropped) > {before}"), 30, "dropped count"
    )
    await asyncio.sleep(1)
    shown = (await run.state())["dropped"]
    reported = sum(event.get("dropped", 0) for event in _batches(page))
    assert shown == reported, (shown, reported)
    text = await page.evaluate(run.card("root.querySelector('.dropped').textContent"))
    await page.screenshot(run.results / "card-dropped.png")
    run.step(
        f"a burst of 400 frames: the card shows {text!r}, the sum the server reported"
    )


async def check_restart(run: Run) -> None:
    page = run.page
    loop = asyncio.get_running_loop()
    start = loop.time()
    seen: list[str] = []

    async def watch() -> None:
        while True:
            with contextlib.suppress(Exception):
                state = (await run.state())["state"]
                if not seen or seen[-1] != state:
                    seen.append(state)
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    try:
        await run.hass.restart()
        restarted = loop.time() - start
        async with asyncio.timeout(90):  # a new subscribe, and packets on it
            while True:
                subscribes = _subscribes(page, start)
                if subscribes:
                    last = [
                        f for f in page.frames if f.sent and f.data is subscribes[-1]
                    ]
                    since = last[0].time if last else start
                    if any(
                        event["subscription"] == subscribes[-1]["id"]
                        and event.get("packets")
                        for event in _batches(page, since)
                    ):
                        break
                await asyncio.sleep(0.2)
        await page.wait_for(run.card("card.dataset.state === 'live'"), 30, "live")
        if seen[-1] != "live":
            seen.append("live")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    run.restart_window = (start, loop.time())
    resources = await run.hass.ws_call({"type": "lovelace/resources"})
    assert len([r for r in resources if "/espnow_gateway/frontend/" in r["url"]]) == 1
    assert "live" in seen[1:] and len(seen) > 2, seen
    run.step(
        f"Home Assistant restarted in {restarted:.1f} s; the card went"
        f" {' → '.join(seen)} and subscribed again by itself; still one resource"
    )


def _visibility(state: str) -> str:
    # Headless Chromium keeps every tab visible (bringing another to the front hides
    # nothing), so the page is told what a browser tells it when a tab goes away.
    return (
        f"Object.defineProperty(document, 'visibilityState', {{value: '{state}',"
        " configurable: true}); document.dispatchEvent(new Event('visibilitychange'));"
        " true"
    )


async def check_hidden_tab(run: Run) -> None:
    page = run.page
    since = asyncio.get_running_loop().time()
    await page.evaluate(_visibility("hidden"))
    await page.wait_for(
        run.card("card.dataset.state === 'hidden'"), 15, "paused while hidden"
    )
    sent = _messages(page, sent=True, since=since)
    assert any(m.get("type") == "unsubscribe_events" for m in sent), sent
    await page.evaluate(_visibility("visible"))
    await page.wait_for(run.card("card.dataset.state === 'live'"), 15, "live again")
    assert _subscribes(page, since), "no subscribe when the tab came back"
    run.step("a hidden tab unsubscribed; visible again, it subscribed again")


async def check_load(run: Run) -> None:
    """A slow tablet (CPU slowed down 4 times) at 2,000 packets/s stays responsive."""
    page = run.page
    gateway = run.sim.gateway
    await page.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    await page.evaluate(
        "window.__long = []; new PerformanceObserver(list => window.__long.push("
        "...list.getEntries().map(e => e.duration))).observe({type: 'longtask'}); true"
    )
    before = (await run.state())["dropped"]
    loop = asyncio.get_running_loop()
    start = loop.time()
    seq0 = gateway.seq
    while loop.time() - start < 5:  # 2,000 frames/s on top of the simulated peers
        gateway.emit_traffic(100)
        await asyncio.sleep(0.05)
    sent = gateway.seq - seq0
    await asyncio.sleep(1)
    probe = loop.time()
    state = await run.state()
    answer = loop.time() - probe
    long_tasks = await page.evaluate("window.__long")
    shown = float(
        await page.evaluate(run.card("root.querySelector('.shown-rate').textContent"))
    )
    await page.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    assert state["state"] == "live", state["state"]
    assert state["dropped"] > before, (before, state["dropped"])
    assert shown <= MAX_RATE, shown
    assert max(long_tasks, default=0) < 500, long_tasks
    run.step(
        f"{sent / 5:.0f} frames/s for 5 s with the CPU slowed 4x: live, shown"
        f" {shown}/s, dropped {state['dropped'] - before} more, longest task"
        f" {max(long_tasks, default=0):.0f} ms, the page answered in {answer * 1000:.0f} ms"
    )


async def check_narrow(run: Run) -> None:
    page = run.page
    await page.set_viewport(390, 844, mobile=True, scale=2)
    await asyncio.sleep(1)
    hidden = await page.wait_for(
        run.card("getComputedStyle(root.querySelector('th.wide')).display === 'none'"),
        10,
        "wide columns hidden at phone width",
    )
    await page.screenshot(run.results / "card-narrow.png")
    await page.set_viewport(1280, 900)
    run.step(f"phone width: wide columns hidden ({hidden})")


async def check_editor(run: Run) -> None:
    page = run.page
    result = await page.evaluate(
        """(async () => {
          const Card = customElements.get('espnow-packet-monitor');
          const stub = Card.getStubConfig();
          const editor = await Card.getConfigElement();
          editor.hass = document.querySelector('home-assistant').hass;
          editor.setConfig({type: 'custom:espnow-packet-monitor', ...stub});
          editor.style.cssText = 'display:block;position:fixed;top:64px;left:16px;width:520px;'
            + 'background:var(--card-background-color);padding:16px;z-index:10;'
            + 'border:1px solid var(--divider-color);border-radius:12px';
          document.body.append(editor);
          const changed = new Promise(resolve =>
            editor.addEventListener('config-changed', e => resolve(e.detail.config), {once: true}));
          const start = Date.now();
          while (!editor.querySelector('ha-form')?.shadowRoot?.querySelector('ha-selector')) {
            if (Date.now() - start > 20000) return {error: editor.textContent || 'no ha-form'};
            await new Promise(r => setTimeout(r, 100));
          }
          const form = editor.querySelector('ha-form');
          form.dispatchEvent(new CustomEvent('value-changed',
            {detail: {value: {...form.data, max_rate: 30, sources: 'aa:bb:cc:dd:ee:ff'}}}));
          return {stub, config: await changed};
        })()"""
    )
    assert "error" not in result, result
    assert result["config"]["max_rate"] == 30, result
    assert result["config"]["sources"] == ["AA:BB:CC:DD:EE:FF"], result
    await asyncio.sleep(0.5)
    await page.screenshot(run.results / "card-editor.png")
    await page.evaluate("window.__deep('espnow-packet-monitor-editor').remove(), true")
    run.step(f"the visual editor (ha-form) reported {result['config']}")


async def check_leaving_unsubscribes(run: Run) -> None:
    page = run.page
    since = asyncio.get_running_loop().time()
    await page.evaluate(
        "history.pushState(null, '', '/config/dashboard'); window.dispatchEvent(new Event('location-changed')), true"
    )
    await page.wait_for(
        "!window.__deep('espnow-packet-monitor')", 30, "the card to leave the page"
    )
    async with asyncio.timeout(10):
        while not any(
            m.get("type") == "unsubscribe_events"
            for m in _messages(page, sent=True, since=since)
        ):
            await asyncio.sleep(0.1)
    run.step("leaving the dashboard unsubscribed")


async def check_not_admin(run: Run, browser: Browser, url: str) -> Page:
    hass = run.hass
    await hass.create_user("Viewer", "viewer", "viewer")
    tokens = await hass.login("viewer", "viewer")
    page = await browser.new_page()
    await page.set_viewport(1280, 700)
    await page.add_init_script(login_script(hass, tokens))
    await page.navigate(url)
    await page.wait_for(
        "(() => { const c = window.__deep('espnow-packet-monitor'); return c && c.dataset.state === 'unauthorized'"
        " && c.shadowRoot.querySelector('.message').textContent.includes('administrators'); })()",
        60,
        "the administrators-only message",
    )
    assert not _subscribes(page), "a non-administrator's card subscribed"
    await page.screenshot(run.results / "card-not-admin.png")
    run.step("a user who is not an administrator sees the administrators-only message")
    return page


def _failed_unsubscribes(page: Page) -> tuple[int, int]:
    """Failed unsubscribes (not found) the card is to blame for, and the others.

    The card unsubscribes only what it subscribed, once. Home Assistant's frontend
    sometimes unsubscribes ids of the connection before a reconnect, which may be one
    of the card's: the card's own unsubscribe of it fails then, through no fault of
    its own. Frames are split into connections at each ``auth`` (ids restart there).
    """
    ours = others = 0
    requests: dict[int, dict[str, Any]] = {}
    status: dict[int, str] = {}  # subscribe_packets id: subscribed, failed, ended
    for frame in list(page.frames):
        items = frame.data if isinstance(frame.data, list) else [frame.data]
        for item in items:
            if not isinstance(item, dict):
                continue
            if frame.sent:
                if item.get("type") == "auth":
                    requests, status = {}, {}
                elif "id" in item:
                    requests[item["id"]] = item
                continue
            if item.get("type") != "result":
                continue
            request = requests.get(item["id"], {})
            if request.get("type") == SUBSCRIBE:
                status[item["id"]] = "subscribed" if item["success"] else "failed"
            elif request.get("type") == "unsubscribe_events":
                target = request["subscription"]
                if item["success"]:
                    status[target] = "ended"
                elif status.get(target) == "failed":
                    ours += 1  # the card unsubscribed what never was
                else:
                    others += 1
    return ours, others


# Home Assistant's frontend unsubscribes some of its own subscriptions without a catch,
# under ids of the connection before a reconnect (the library's stale unsubscribe); the
# frames tell whose subscription each failed unsubscribe was (_failed_unsubscribes).
FRONTEND_OWN = '"message": "Subscription not found."'


def _errors(
    page: Page, window: tuple[float, float] | None, ignored: list[str]
) -> list[ConsoleEntry]:
    ours, _ = _failed_unsubscribes(page)
    assert ours == 0, f"the card unsubscribed {ours} subscriptions that never were"
    errors = []
    for entry in page.console:
        if entry.level != "error":
            continue
        after_restart = window is not None and entry.time >= window[0]
        during_restart = (
            after_restart and window is not None and entry.time <= window[1] + 5
        )
        if during_restart and (
            entry.source == "network" or entry.text == "Uncaught (in promise) 3"
        ):
            # The frontend's reconnect attempts while Home Assistant is down, and its
            # messages rejected meanwhile with "connection lost" (3).
            ignored.append(f"{entry.source}: {entry.text}")
        elif after_restart and FRONTEND_OWN in entry.text:
            ignored.append(f"{entry.source}: {entry.text}")
        else:
            errors.append(entry)
    return errors


async def scenario(cdp: str, results: Path) -> list[str]:
    results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="espnow-e2e-") as tmp:
        sim = PtyGateway(
            SimulatorConfig(peers=4, rate=2.0, seed=3, stats_interval=5.0),
            Path(tmp) / "espnow-gateway",
        )
        link = sim.plug()
        traffic = asyncio.create_task(run_traffic(sim))
        hass = HassInstance(Path(tmp) / "config")
        browser = Browser(cdp)
        t0 = asyncio.get_running_loop().time()
        try:
            version = (await browser.version())["Browser"]
            await hass.start()
            await develop.bring_up(hass, link, card=CARD)
            assert hass.token is not None and hass.refresh_token is not None
            page = await browser.new_page()
            run = Run(hass, sim, page, results)
            run.step(f"{version}; Home Assistant at {hass.url}")
            await page.set_viewport(1280, 900)
            tokens = {
                "access_token": hass.token,
                "refresh_token": hass.refresh_token,
                "expires_in": 1800,
            }
            await page.add_init_script(login_script(hass, tokens))
            url = f"{hass.url}/{develop.DASHBOARD}/{develop.DASHBOARD_VIEW}"
            await page.navigate(url)
            await check_packets_appear(run)
            await check_pause_and_resume(run)
            await check_filter(run)
            await check_dropped(run)
            await check_hidden_tab(run)
            await check_load(run)
            await check_narrow(run)
            await check_editor(run)
            await check_restart(run)
            await check_leaving_unsubscribes(run)
            viewer = await check_not_admin(run, browser, url)
            ignored: list[str] = []
            errors = _errors(page, run.restart_window, ignored)
            errors += _errors(viewer, None, ignored)
            assert not errors, "the browser logged errors:\n" + "\n".join(
                f"{e.time - t0:.1f} s {e.source}: {e.text} {e.url}" for e in errors
            )
            _, others = _failed_unsubscribes(page)
            run.step(
                "the browser logged no error from the card; ignored around the"
                f" restart: {len(ignored)} of the frontend's own ({others} of its"
                f" unsubscribes not found): {sorted(set(ignored))}"
            )
            return run.steps
        finally:
            for index, tab in enumerate(browser.pages):  # for a failure's post-mortem
                with (results / f"websocket-{index}.jsonl").open("w") as out:
                    for frame in tab.frames:
                        record = {"t": round(frame.time - t0, 3), "sent": frame.sent}
                        out.write(json.dumps(record | {"data": frame.data}) + "\n")
                with (results / f"console-{index}.txt").open("w") as out:
                    for entry in tab.console:
                        out.write(
                            f"{entry.time - t0:.3f} {entry.level} {entry.source}:"
                            f" {entry.text} {entry.url}\n"
                        )
            await browser.close()
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic
            await hass.stop()
            sim.close()
            log = Path(tmp) / "config" / "home-assistant.log"
            if log.exists():
                shutil.copy(log, results / "home-assistant.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.card_e2e")
    parser.add_argument("--cdp", required=True, help="Chromium's DevTools endpoint")
    parser.add_argument("--results", type=Path, default=REPO / "e2e-results")
    parser.add_argument(
        "--update-docs", action="store_true", help="copy screenshots to docs/images"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    steps = asyncio.run(scenario(args.cdp, args.results))
    (args.results / "steps.txt").write_text("\n".join(steps) + "\n")
    if args.update_docs:
        images = REPO / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        for name in DOC_SHOTS:
            shutil.copy(args.results / name, images / name)
        print(f"e2e: screenshots copied to {images}", flush=True)
    print(
        f"e2e: passed in {time.monotonic() - started:.0f} s; screenshots in {args.results}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
