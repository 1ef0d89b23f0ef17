"""Fixtures for the link layer: a simulated gateway on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from pathlib import Path

import pytest

from espnowgw.connection import GatewayConnection, LinkConfig, LinkState
from espnowgw.messages import Message, Packet
from devtools.simulator import PtyGateway, SimulatorConfig

FAST = LinkConfig(
    hello_timeout=2.0,
    ping_interval=60.0,
    dead_after=180.0,
    command_timeout=2.0,
    reconnect_min=0.01,
    reconnect_max=0.05,
    busy_retry=0.2,
)


class Recorder:
    """Collects what a connection delivers and lets a test wait for it."""

    def __init__(self) -> None:
        self.packets: list[Packet] = []
        self.messages: list[Message] = []
        self.states: list[LinkState] = []
        self._changed = asyncio.Event()

    def packet(self, packet: Packet) -> None:
        self.packets.append(packet)
        self._changed.set()

    def message(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()

    def state(self, state: LinkState) -> None:
        self.states.append(state)
        self._changed.set()

    async def wait_for(
        self, condition: Callable[[], bool], timeout: float = 30.0
    ) -> None:
        """Wait until ``condition()`` holds (the timeout only guards against hangs)."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                # Wake on a callback, or poll for state that has no callback.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.01):
                        await self._changed.wait()


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(peers=3, kinds=("raw",), raw_size=250, seed=7)


@pytest.fixture
async def gateway(
    tmp_path: Path, sim_config: SimulatorConfig
) -> AsyncIterator[PtyGateway]:
    pty = PtyGateway(sim_config, tmp_path / "serial-by-id-espnow")
    pty.plug()
    yield pty
    pty.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def make_connection(
    recorder: Recorder,
) -> AsyncIterator[Callable[..., GatewayConnection]]:
    made: list[GatewayConnection] = []

    def factory(url: str, config: LinkConfig = FAST) -> GatewayConnection:
        conn = GatewayConnection(
            url,
            on_packet=recorder.packet,
            on_message=recorder.message,
            on_state=recorder.state,
            config=config,
        )
        made.append(conn)
        return conn

    yield factory
    for conn in made:
        await conn.close()
