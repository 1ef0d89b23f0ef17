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
- a subscription another unsubscribe ended (the frontend's stale ids after a
  reconnect) is noticed and made again within seconds;
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
import re
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

from . import walkthrough

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


async def check_ended_elsewhere(run: Run) -> None:
    """A subscription ended by another unsubscribe (the frontend's stale ids after a
    reconnect name whatever has the id on the new connection) is found and made again."""
    page = run.page
    loop = asyncio.get_running_loop()
    old = int((await run.state())["subscription"])
    since = loop.time()
    ended = await page.evaluate(
        "document.querySelector('home-assistant').hass.connection.sendMessagePromise("
        f"{{type: 'unsubscribe_events', subscription: {old}}}).then(() => true)"
    )
    assert ended is True
    await page.wait_for(
        run.card(
            "card.dataset.state === 'live' && card.dataset.subscription !== ''"
            f" && Number(card.dataset.subscription) !== {old}"
        ),
        10,
        "a new subscription",
    )
    new_id = int((await run.state())["subscription"])
    async with asyncio.timeout(10):
        while not any(
            e["subscription"] == new_id and e.get("packets")
            for e in _batches(page, since)
        ):
            await asyncio.sleep(0.1)
    run.step(
        f"subscription {old} ended by another unsubscribe: the card noticed and"
        f" subscribed again ({new_id}) after {loop.time() - since:.1f} s"
    )


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
    await page.add_init_script(SENDERS)
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


# Which code sent each WebSocket message: the card's (its module is on the stack of the
# send) or Home Assistant's frontend. A subscribe may wait in the WebSocket library's
# queue while it reconnects, so for it the async callers count too. An unsubscribe the
# card sends synchronously (``PacketStream._end``, or a subscription no longer wanted):
# for it only the synchronous frames count, as an unsubscribe of the frontend's can
# have the card's module among its async callers. The frames alone cannot
# tell: after a reconnect the frontend's WebSocket library sends unsubscribes under ids
# of the connection before (a closure keeps the old command id), which on the new
# connection name whatever got that id there, the card's subscription included.
CARD_MODULES = "/espnow_gateway/frontend/"
SENDERS = f"""
(() => {{
  const send = WebSocket.prototype.send;
  const sockets = new WeakMap();  // socket: its number, in the order of first send
  let count = 0;
  window.__cardSent = [];  // [socket, id, type] of every message the card's code sent
  WebSocket.prototype.send = function (data) {{
    if (!sockets.has(this)) sockets.set(this, count++);
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = Infinity;
    const stack = String(new Error().stack);
    Error.stackTraceLimit = limit;
    if (stack.includes({json.dumps(CARD_MODULES)})) {{
      let message = {{}};
      try {{ message = JSON.parse(data); }} catch {{}}
      const sync = stack.split(" at async ")[0].includes({json.dumps(CARD_MODULES)});
      if (message.type !== "unsubscribe_events" || sync)
        window.__cardSent.push([sockets.get(this), message.id ?? null, message.type ?? null]);
    }}
    return send.call(this, data);
  }};
}})();
"""


@dataclass
class Unsubscribes:
    """The unsubscribes of a page, by sender, on each connection."""

    faults: list[str] = field(default_factory=list)  # the card's
    card: int = 0  # the card's unsubscribes checked
    frontend_failed: int = 0  # the frontend's that failed (not found)
    taken: int = 0  # the card's subscriptions the frontend's unsubscribes ended


async def _unsubscribes(page: Page) -> Unsubscribes:
    """Check the card's unsubscribes against its subscriptions, connection by connection.

    The card unsubscribes only a subscription it made on the same connection and that
    succeeded, and only once. Its unsubscribe may fail (not found) only when the
    frontend's unsubscribe of that id came first.
    """
    card_sent: list[list[Any]] = await page.evaluate("window.__cardSent")
    order: list[str] = []  # the page's sockets in the order of their first send
    for frame in list(page.frames):
        if frame.sent and frame.socket not in order:
            order.append(frame.socket)
    sent_by_card: dict[str, dict[int, str]] = {socket: {} for socket in order}
    for number, message_id, kind in card_sent:
        assert number < len(order), f"a socket the frames do not show: {card_sent}"
        sent_by_card[order[number]][message_id] = kind
    out = Unsubscribes()
    for socket in order:
        ours = sent_by_card[socket]
        requests: dict[int, dict[str, Any]] = {}
        results: dict[int, bool] = {}
        by_frontend: set[int] = set()  # ids the frontend unsubscribed
        by_card: set[int] = set()  # ids the card unsubscribed
        for frame in list(page.frames):
            if frame.socket != socket:
                continue
            items = frame.data if isinstance(frame.data, list) else [frame.data]
            for item in items:
                if not isinstance(item, dict) or "id" not in item:
                    continue
                if frame.sent:
                    requests[item["id"]] = item
                    if item["id"] in ours:
                        assert ours[item["id"]] == item.get("type"), (item, ours)
                    if item.get("type") != "unsubscribe_events":
                        continue
                    target = item["subscription"]
                    if item["id"] not in ours:
                        by_frontend.add(target)
                        continue
                    if not (
                        ours.get(target) == SUBSCRIBE and results.get(target) is True
                    ):
                        out.faults.append(f"unsubscribed {target}, not its own: {item}")
                    elif target in by_card:
                        out.faults.append(f"unsubscribed {target} twice: {item}")
                    by_card.add(target)
                    out.card += 1
                elif item.get("type") == "result":
                    results[item["id"]] = item["success"]
                    request = requests.get(item["id"], {})
                    if request.get("type") != "unsubscribe_events":
                        continue
                    target = request["subscription"]
                    if item["id"] not in ours:
                        if not item["success"]:
                            out.frontend_failed += 1
                        elif ours.get(target) == SUBSCRIBE:
                            out.taken += 1
                    elif not item["success"] and target not in by_frontend:
                        out.faults.append(f"its unsubscribe failed: {request} {item}")
        missing = [i for i in ours if i not in requests]
        assert not missing, f"the card's messages {missing} are not in the frames"
    return out


# The frontend awaits some of its unsubscribes without a catch: each of its failed ones
# (above) may log this once, never more.
FRONTEND_OWN = '"message": "Subscription not found."'


def _chunk_log_failure(url: str) -> re.Pattern[str]:
    """The frontend's report of an unhandled rejection, failing while the server is down.

    The frontend logs every unhandled promise rejection to Home Assistant's system log,
    formatting its stack with a module it loads on first use (frontend_latest/<chunk>.js).
    When the first such rejection of the page comes while Home Assistant restarts (its
    own messages rejected with "connection lost"), that module cannot be fetched, and
    the frontend says so on the console. Whether it does depends on whether the module
    was loaded before: a chunk of Home Assistant's frontend, never the card's (served
    under /espnow_gateway/frontend/).
    """
    return re.compile(
        r"Failure writing unhandled promise rejection to system log: TypeError:"
        r" Failed to fetch dynamically imported module:"
        rf" {re.escape(url)}/frontend_latest/[0-9a-f.]+\.js"
    )


async def _errors(
    page: Page, window: tuple[float, float] | None, ignored: list[str], url: str = ""
) -> tuple[list[ConsoleEntry], Unsubscribes]:
    unsubscribes = await _unsubscribes(page)
    assert not unsubscribes.faults, "the card's unsubscribes:\n" + "\n".join(
        unsubscribes.faults
    )
    errors = []
    not_found = 0
    chunk_log = _chunk_log_failure(url)
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
        elif (
            during_restart
            and entry.source == "console"
            and chunk_log.fullmatch(entry.text.strip())
        ):
            ignored.append(f"{entry.source}: {entry.text}")
        elif (
            after_restart
            and FRONTEND_OWN in entry.text
            and not_found < unsubscribes.frontend_failed
        ):
            not_found += 1
            ignored.append(f"{entry.source}: {entry.text}")
        else:
            errors.append(entry)
    return errors, unsubscribes


async def check_walkthrough(
    run: Run, browser: Browser, tokens: dict[str, Any], link: str, ignored: list[str]
) -> None:
    """The configuration walkthrough's screenshots, in a tab of its own.

    Before the load (the gateway's figures as usual) and the restart: a peer heard
    while Home Assistant starts is not offered again (no discovery flow after the
    restart), and the walkthrough shows one.
    """

    async def prepare(tab: Page) -> None:
        await tab.add_init_script(login_script(run.hass, tokens))
        await tab.add_init_script(SENDERS)

    started = time.monotonic()
    tab, views = await walkthrough.run(browser, run.hass, link, run.results, prepare)
    errors, _ = await _errors(tab, None, ignored)
    # The integrations page shows other integrations' icons, which Home Assistant
    # fetches from brands.home-assistant.io: out of reach here (no network), a 404.
    # This integration's own icon is served from its brand folder: never ignored.
    brands = re.compile(
        rf"{re.escape(run.hass.url)}/api/brands/integration/(?!espnow_gateway/)\w+/"
    )
    for entry in [e for e in errors if e.source == "network" and brands.match(e.url)]:
        if "status of 404" in entry.text:
            errors.remove(entry)
            ignored.append(f"{entry.source}: {entry.text} {entry.url.split('?')[0]}")
    assert not errors, [f"{e.source}: {e.text} {e.url}" for e in errors]
    await tab.navigate("about:blank")  # its connection ends before the restart
    # The card's tab in front again: a tab behind gets no animation frames (the card
    # renders in them).
    await run.page.send("Page.bringToFront")
    run.step(
        f"the walkthrough in {time.monotonic() - started:.1f} s: " + "; ".join(views)
    )


async def scenario(cdp: str, results: Path, *, tour: bool = False) -> list[str]:
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
            await page.add_init_script(SENDERS)
            url = f"{hass.url}/{develop.DASHBOARD}/{develop.DASHBOARD_VIEW}"
            await page.navigate(url)
            await check_packets_appear(run)
            ignored: list[str] = []
            if tour:
                await check_walkthrough(run, browser, tokens, link, ignored)
            await check_pause_and_resume(run)
            await check_filter(run)
            await check_dropped(run)
            await check_hidden_tab(run)
            await check_ended_elsewhere(run)
            await check_load(run)
            await check_narrow(run)
            await check_editor(run)
            await check_restart(run)
            await check_leaving_unsubscribes(run)
            viewer = await check_not_admin(run, browser, url)
            errors, unsubscribes = await _errors(
                page, run.restart_window, ignored, hass.url
            )
            errors += (await _errors(viewer, None, ignored))[0]
            assert not errors, "the browser logged errors:\n" + "\n".join(
                f"{e.time - t0:.1f} s {e.source}: {e.text} {e.url}" for e in errors
            )
            # Pause, filters, the hidden tab and leaving: the record sees the card.
            assert unsubscribes.card >= 5, unsubscribes
            run.step(
                f"the card's {unsubscribes.card} unsubscribes were of its own"
                " subscriptions, once each; the browser"
                f" logged no error from the card; ignored around the restart:"
                f" {len(ignored)} of the frontend's own"
                f" ({unsubscribes.frontend_failed} of its unsubscribes not found,"
                f" {unsubscribes.taken} of the card's subscriptions ended by other"
                f" unsubscribes, this test's included): {sorted(set(ignored))}"
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
        "--update-docs",
        action="store_true",
        help="copy screenshots to docs/images (with the walkthrough's)",
    )
    parser.add_argument(
        "--walkthrough",
        action="store_true",
        help="also take the configuration walkthrough's screenshots",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    tour = args.walkthrough or args.update_docs
    steps = asyncio.run(scenario(args.cdp, args.results, tour=tour))
    (args.results / "steps.txt").write_text("\n".join(steps) + "\n")
    if args.update_docs:
        images = REPO / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        for name in (*DOC_SHOTS, *walkthrough.SHOTS):
            shutil.copy(args.results / name, images / name)
        print(f"e2e: screenshots copied to {images}", flush=True)
    print(
        f"e2e: passed in {time.monotonic() - started:.0f} s; screenshots in {args.results}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
