"""A WebSocket client of the raw-packet stream, and helpers to feed it frames."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.espnow_gateway.stream import HANDOVER_DELAY
from custom_components.espnow_gateway.websocket_api import async_get_hub
from devtools.simulator import PtyGateway

from .conftest import frames_handled


class Stream:
    """A WebSocket client with one packet subscription."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.next_id = 1
        self.subscription = 0

    async def command(self, message: dict[str, Any]) -> dict[str, Any]:
        message = {"id": self.next_id, **message}
        self.next_id += 1
        await self.client.send_json(message)
        return await self.receive(message["id"], "result")

    async def subscribe(self, **params: Any) -> dict[str, Any]:
        subscription = self.next_id
        result = await self.command(
            {"type": "espnow_gateway/subscribe_packets", **params}
        )
        if result["success"]:
            self.subscription = subscription
        return result

    async def ack(self, batch: int) -> dict[str, Any]:
        return await self.command(
            {
                "type": "espnow_gateway/ack_packets",
                "subscription": self.subscription,
                "batch": batch,
            }
        )

    async def receive(self, msg_id: int, kind: str) -> dict[str, Any]:
        message: dict[str, Any] = await self.client.receive_json(timeout=10)
        assert message["id"] == msg_id, message
        assert message["type"] == kind, message
        return message

    async def event(self) -> dict[str, Any]:
        message = await self.receive(self.subscription, "event")
        event: dict[str, Any] = message["event"]
        return event


async def send(
    hass: HomeAssistant,
    gateway: PtyGateway,
    entry: MockConfigEntry,
    frames: list[tuple[bytes, bytes, int]],
) -> None:
    """Have the simulated gateway send ``frames``; wait until the subscribers have them.

    The hub hands packets to its subscribers ``HANDOVER_DELAY`` after they arrive
    when a subscriber may send, or else when the first may (``Route.handover_at``);
    these tests look at the subscribers' buffers before that, so the hand-over is
    made now. (tests/stream/test_hub_timing.py tests when it comes by itself.)
    """
    for src, payload, rssi in frames:
        assert gateway.gateway.packet(src, payload, rssi)
    await frames_handled(hass, gateway, entry)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=HANDOVER_DELAY))
    await hass.async_block_till_done()
    async_get_hub(hass).deliver()
    await hass.async_block_till_done()


def fire(hass: HomeAssistant, seconds: float = 1.1) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
