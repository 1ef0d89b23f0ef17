"""Shared by the tests of the return path: calling the action, moving time, looking."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.espnow_gateway.const import DOMAIN
from custom_components.espnow_gateway.sender import Sender
from devtools.simulator import PtyGateway, SimPeer, SimulatedGateway
from espnowgw.messages import Message, Send

from .conftest import frames_handled, unique_prefix, wait_until


def node(sim: SimulatedGateway) -> SimPeer:
    """The simulated JSON peer: one frame of it makes a device (BTHome needs several)."""
    return next(peer for peer in sim.peers if peer.kind == "json")


async def heard(hass: HomeAssistant, pty: PtyGateway, entry: MockConfigEntry) -> str:
    """Let the gateway's simulated JSON peer be heard; return its device id."""
    sim = pty.gateway
    sim.emit_from(node(sim), press=False)
    await frames_handled(hass, pty, entry)
    return device_id_of(hass, entry, node(sim).mac)


def device_id_of(hass: HomeAssistant, entry: MockConfigEntry, mac: bytes) -> str:
    """Return the device id of a peer of ``entry``."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, unique_prefix(mac)), entry.entry_id
    )
    assert device is not None
    return device.id


async def send(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    """Call espnow_gateway.send (waiting for the result unless told) and respond."""
    response = await hass.services.async_call(
        DOMAIN,
        "send",
        {"wait": True} | data,
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return dict(response)


def start_send(hass: HomeAssistant, **data: Any) -> asyncio.Task[dict[str, Any]]:
    """Call espnow_gateway.send in a task (for tests that move time meanwhile).

    A background task: ``async_block_till_done`` must not wait for a send that
    waits for time to move.
    """
    return hass.async_create_background_task(send(hass, **data), "test send")


def sends(sim: SimulatedGateway) -> list[Send]:
    """The SENDs the simulated gateway received."""
    return [m for m in sim.received if isinstance(m, Send)]


def received(sim: SimulatedGateway, kind: type[Message]) -> list[Message]:
    """The commands of one type the simulated gateway received."""
    return [m for m in sim.received if isinstance(m, kind)]


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Let ``seconds`` pass (frozen time): timers due by then run."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def sends_settled(hass: HomeAssistant, sender: Sender) -> None:
    """Wait until the sender has no unfinished send."""
    await wait_until(hass, lambda: sender.queued == 0)
