"""Drive a Chromium page over the DevTools protocol (CDP), with aiohttp only.

The browser test (tests/e2e) uses it: Chromium runs headless with
``--remote-debugging-port`` (started by scripts/test-e2e), this module opens a page,
evaluates JavaScript in it, waits for conditions, records the page's console errors
and its WebSocket frames, and takes screenshots. No browser download, no driver.
"""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import json
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from .hass_instance import HassInstance

MAX_RECORDED = 50_000  # frames and console entries kept per page (oldest dropped)

# Finds an element through every open shadow root (Home Assistant's frontend nests them).
DEEP_QUERY = """
window.__deep = (selector, root = document) => {
  const found = root.querySelector(selector);
  if (found) return found;
  for (const element of root.querySelectorAll("*")) {
    if (element.shadowRoot) {
      const inner = window.__deep(selector, element.shadowRoot);
      if (inner) return inner;
    }
  }
  return null;
};
"""


def login_script(hass: HassInstance, tokens: dict[str, Any]) -> str:
    """JavaScript that logs Home Assistant's frontend in with ``tokens``.

    Give it to ``Page.add_init_script`` before opening a page of ``hass``: the
    frontend finds the tokens where it keeps its own (``hassTokens``).
    """
    stored = {
        "access_token": tokens["access_token"],
        "token_type": "Bearer",
        "expires_in": tokens["expires_in"],
        "refresh_token": tokens["refresh_token"],
        "hassUrl": hass.url,
        "clientId": hass.client_id,
        "expires": int(time.time() * 1000) + tokens["expires_in"] * 1000,
    }
    return (
        f"if (location.origin === {json.dumps(hass.url)}) "
        f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(stored))});"
    )


class PageError(RuntimeError):
    """JavaScript in the page threw, or the protocol answered with an error."""


@dataclass
class Frame:
    """A WebSocket frame the page sent or received."""

    sent: bool
    data: Any  # decoded JSON (a dict or a list of messages), or the raw text
    time: float
    socket: str = ""  # the WebSocket it went over (the protocol's request id)


@dataclass
class ConsoleEntry:
    """An error or warning the page logged."""

    level: str
    text: str
    source: str
    time: float
    url: str = ""


@dataclass
class Page:
    """One browser tab."""

    ws: aiohttp.ClientWebSocketResponse
    frames: deque[Frame] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED))
    console: deque[ConsoleEntry] = field(
        default_factory=lambda: deque(maxlen=MAX_RECORDED)
    )
    _next_id: int = 0
    _waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _listeners: list[Callable[[str, dict[str, Any]], None]] = field(
        default_factory=list
    )
    _reader: asyncio.Task[None] | None = None

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call a protocol method and return its result."""
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting[self._next_id] = future
        await self.ws.send_json(
            {"id": self._next_id, "method": method, "params": params or {}}
        )
        answer = await future
        if "error" in answer:
            raise PageError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def start_reading(self) -> None:
        """Start dispatching the browser's answers and events."""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            method, params = data.get("method", ""), data.get("params", {})
            self._record(method, params, loop.time())
            for listener in self._listeners:
                listener(method, params)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(PageError("the browser closed the connection"))

    def _record(self, method: str, params: dict[str, Any], now: float) -> None:
        if method in ("Network.webSocketFrameSent", "Network.webSocketFrameReceived"):
            text = params["response"]["payloadData"]
            try:
                data = json.loads(text)
            except ValueError:
                data = text
            self.frames.append(
                Frame(method.endswith("Sent"), data, now, params["requestId"])
            )
        elif method == "Runtime.consoleAPICalled" and params["type"] in (
            "error",
            "assert",
            "warning",
        ):
            text = " ".join(
                str(arg.get("value", arg.get("description", "")))
                for arg in params["args"]
            )
            level = "warning" if params["type"] == "warning" else "error"
            self.console.append(ConsoleEntry(level, text, "console", now))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            exception = details.get("exception", {})
            text = f"{details['text']} {exception.get('description', '')}".strip()
            if "preview" in exception:  # a thrown object: show its properties
                text += " " + json.dumps(
                    {
                        p["name"]: p.get("value")
                        for p in exception["preview"]["properties"]
                    }
                )
            self.console.append(
                ConsoleEntry("error", text, "exception", now, details.get("url", ""))
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] in (
            "error",
            "warning",
        ):
            entry = params["entry"]
            self.console.append(
                ConsoleEntry(
                    entry["level"],
                    entry["text"],
                    entry["source"],
                    now,
                    entry.get("url", ""),
                )
            )

    # ---- conveniences -------------------------------------------------------------------

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript (awaiting a promise) and return its JSON value."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise PageError(
                details.get("exception", {}).get("description") or details["text"]
            )
        return result["result"].get("value")

    async def wait_for(
        self, expression: str, timeout: float = 30, what: str | None = None
    ) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        value: Any = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    with contextlib.suppress(PageError):
                        value = await self.evaluate(expression)
                        if value:
                            return value
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise TimeoutError(
                f"waited {timeout} s for {what or expression} (last: {value!r})"
            ) from None

    async def navigate(self, url: str, timeout: float = 60) -> None:
        """Open ``url`` and wait for its load event."""
        loaded = asyncio.Event()

        def on_event(method: str, params: dict[str, Any]) -> None:
            if method == "Page.loadEventFired":
                loaded.set()

        self._listeners.append(on_event)
        try:
            await self.send("Page.navigate", {"url": url})
            async with asyncio.timeout(timeout):
                await loaded.wait()
        finally:
            self._listeners.remove(on_event)

    async def add_init_script(self, source: str) -> None:
        """Run ``source`` in every document before its own scripts."""
        await self.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    async def set_viewport(
        self, width: int, height: int, *, mobile: bool = False, scale: float = 1
    ) -> None:
        """Emulate a screen (``mobile``: a phone's narrow view and touch)."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": height,
                "deviceScaleFactor": scale,
                "mobile": mobile,
            },
        )

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport."""
        result = await self.send("Page.captureScreenshot", {"format": "png"})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))
        return path

    async def close(self) -> None:
        """Close the tab's connection."""
        await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class Browser:
    """A running Chromium reached at ``http://127.0.0.1:<remote-debugging-port>``."""

    def __init__(self, endpoint: str) -> None:
        """Use the browser whose DevTools HTTP endpoint is ``endpoint``."""
        self.endpoint = endpoint.rstrip("/")
        self._session = aiohttp.ClientSession()
        self.pages: list[Page] = []

    async def version(self) -> dict[str, Any]:
        """Return the browser's version information."""
        async with self._session.get(f"{self.endpoint}/json/version") as resp:
            info: dict[str, Any] = await resp.json()
            return info

    async def new_page(self) -> Page:
        """Open a blank tab and enable the events the test records."""
        async with self._session.put(f"{self.endpoint}/json/new?about:blank") as resp:
            target = await resp.json()
        ws = await self._session.ws_connect(
            target["webSocketDebuggerUrl"], max_msg_size=0
        )
        page = Page(ws)
        page.start_reading()
        for domain in ("Page", "Runtime", "Log", "Network"):
            await page.send(f"{domain}.enable")
        await page.add_init_script(DEEP_QUERY)
        self.pages.append(page)
        return page

    async def close(self) -> None:
        """Close the pages' connections (the browser itself is the caller's)."""
        for page in self.pages:
            await page.close()
        await self._session.close()
