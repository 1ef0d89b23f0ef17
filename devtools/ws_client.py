"""A small client of Home Assistant's WebSocket API: commands and subscriptions.

One reader task hands each answer to the command that waits for it, and each event
to its subscription's queue (bounded: a subscription that is not read is an error).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from typing import Any

import aiohttp

MAX_QUEUED_EVENTS = 10_000  # per subscription


class WsError(RuntimeError):
    """Home Assistant answered a command with an error, or the connection ended."""


class Subscription:
    """Events of one subscription."""

    def __init__(self, subscription: int) -> None:
        """Initialize for the subscription with id ``subscription``."""
        self.subscription = subscription
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_QUEUED_EVENTS)

    async def get(self) -> dict[str, Any]:
        """Wait for the next event message (``{"id", "type": "event", "event"}``)."""
        return await self.queue.get()


class WsClient:
    """Commands and subscriptions over one authenticated connection."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Take over an authenticated connection (``HassInstance.websocket()``)."""
        self._ws = ws
        self._next_id = 1
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._subscriptions: dict[int, Subscription] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        error = WsError("the WebSocket connection ended")
        try:
            async for message in self._ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = message.json()
                for item in data if isinstance(data, list) else [data]:
                    self._dispatch(item)
        except Exception as err:  # noqa: BLE001 - handed to every waiter
            error = WsError(f"the WebSocket connection failed: {err}")
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)

    def _dispatch(self, item: dict[str, Any]) -> None:
        number = item.get("id")
        if not isinstance(number, int):
            return
        if item.get("type") == "event":
            subscription = self._subscriptions.get(number)
            if subscription is not None:
                subscription.queue.put_nowait(
                    item
                )  # QueueFull: a check stopped reading
            return
        future = self._waiting.pop(number, None)
        if future is not None and not future.done():
            future.set_result(item)

    async def _send(self, command: str, data: dict[str, Any]) -> tuple[int, Any]:
        number = self._next_id
        self._next_id += 1
        future = self._waiting[number] = asyncio.get_running_loop().create_future()
        await self._ws.send_json({"id": number, "type": command} | data)
        answer = await future
        if not answer.get("success"):
            raise WsError(f"{command}: {answer.get('error')}")
        return number, answer.get("result")

    async def call(self, command: str, **data: Any) -> Any:
        """Send a command and return its result."""
        return (await self._send(command, data))[1]

    @contextlib.asynccontextmanager
    async def subscription(
        self, command: str, **data: Any
    ) -> AsyncIterator[Subscription]:
        """Subscribe with ``command``; unsubscribe when the block ends."""
        number = self._next_id
        subscription = self._subscriptions[number] = Subscription(number)
        try:
            await self._send(command, data)
            yield subscription
        finally:
            self._subscriptions.pop(number, None)
            if not self._ws.closed:
                with contextlib.suppress(WsError):
                    await self.call("unsubscribe_events", subscription=number)

    async def close(self) -> None:
        """Close the connection."""
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
