"""Fixtures for the Home Assistant side: a real hass, the simulator on a real pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
import dataclasses
from datetime import timedelta
from functools import partial
import math
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import WebSocketGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.espnow_gateway.const import CONF_BAUDRATE, DOMAIN
from custom_components.espnow_gateway.espnowgw.connection import LinkConfig
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from custom_components.espnow_gateway.models import MeasurementInfo
from devtools.simulator import PtyGateway, SimulatedGateway, SimulatorConfig

from .flow_helpers import Ports

if TYPE_CHECKING:
    from .stream_helpers import Stream

GATEWAY_MAC = "24:6F:28:00:00:01"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/espnow_gateway in every test of this folder."""


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Three peers: BTHome, JSON and raw."""
    return SimulatorConfig(peers=3, kinds=("bthome", "json", "raw"), seed=5)


@pytest.fixture
async def gateway(
    tmp_path: Path, sim_config: SimulatorConfig
) -> AsyncIterator[PtyGateway]:
    """A simulated gateway behind a pty, with a by-id style link."""
    pty = PtyGateway(sim_config, tmp_path / "usb-Espressif_ESP-NOW_Gateway-if00")
    pty.plug()
    yield pty
    pty.close()


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Options of the config entry.

    Slowly changing values (temperature...) are written like every other value
    here: these tests use them to test the update interval itself; the slow
    interval has tests of its own.
    """
    return {"slow_update_interval": 0.0}


@pytest.fixture
def config_entry(gateway: PtyGateway, entry_options: dict[str, Any]) -> MockConfigEntry:
    """A config entry for the simulated gateway."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"ESP-NOW Gateway {GATEWAY_MAC}",
        unique_id=mac_to_str(gateway.config.mac),
        data={CONF_PORT: gateway.url, CONF_BAUDRATE: 921600},
        options=entry_options,
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """Set the entry up; unload it at the end so the port and timers are released."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry
    if config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


# ---- runtime and platform tests: waiting for frames ---------------------------------


def _real_monotonic() -> float:
    """Real time, also while a test freezes time (freezegun leaves clock_gettime)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


async def wait_until(
    hass: HomeAssistant, condition: Callable[[], bool], timeout: float = 10.0
) -> None:
    """Let Home Assistant work until ``condition()`` holds.

    The timeout (real time) is only a hang guard. While a test freezes time the
    event loop's clock stands still too, so timers do not run: only I/O (the pty)
    and ready callbacks do, and the loop is polled instead of slept.
    """
    deadline = _real_monotonic() + timeout
    while True:
        await hass.async_block_till_done()
        if condition():
            return
        if _real_monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        frozen = abs(time.monotonic() - _real_monotonic()) > 1.0
        await asyncio.sleep(0 if frozen else 0.01)


BTHOME_WARMUP = (bytes.fromhex("40 00 f0"), bytes.fromhex("40 00 f1"))
"""Two frames of a new BTHome sender: with its next one (device-info byte 0x40), the
three consistent frames that make it a BTHome device (``FormatEvidence``)."""


def warm_up(sim: SimulatedGateway, mac: bytes) -> None:
    """Have a new BTHome sender send its first frames (not decoded: it is pending)."""
    for payload in BTHOME_WARMUP:
        assert sim.packet(mac, payload)


async def frames_handled(
    hass: HomeAssistant, pty: PtyGateway, entry: MockConfigEntry
) -> None:
    """Wait until the entry's link has handled every frame the simulator sent."""
    await pty.drain()
    sim = pty.gateway.stats
    expected = sim.rx_packets - sim.rx_dropped
    link = entry.runtime_data.connection.stats
    await wait_until(hass, lambda: link.packets >= expected)
    await hass.async_block_till_done()


async def send_frame(
    hass: HomeAssistant,
    pty: PtyGateway,
    entry: MockConfigEntry,
    src: bytes,
    payload: bytes,
    *,
    rssi: int = -60,
) -> None:
    """Have the simulated gateway forward one frame and wait until it is handled."""
    assert pty.gateway.packet(src, payload, rssi)
    await frames_handled(hass, pty, entry)


async def tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Let ``seconds`` pass and run the runtime's periodic check."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


class GatewayClock:
    """The simulated gateway's clock, which stamps every packet: moved by hand."""

    def __init__(self, pty: PtyGateway) -> None:
        """Take over the clock of ``pty``'s simulated gateway."""
        sim = pty.gateway
        self.now: float = sim._booted
        sim._clock = lambda: self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on the gateway."""
        self.now += seconds


@pytest.fixture
def gateway_clock(gateway: PtyGateway) -> GatewayClock:
    """Packet timestamps that only move when the test says so."""
    return GatewayClock(gateway)


def unique_prefix(mac: bytes | None = None) -> str:
    """Return the unique id prefix of the gateway, or of one of its peers."""
    gateway = "246f28000001"
    return gateway if mac is None else f"{gateway}-{mac.hex()}"


def entity_id_of(
    hass: HomeAssistant, domain: str, key: str, mac: bytes | None = None
) -> str:
    """Return the entity id of a gateway entity, or of a peer's (``mac``)."""
    entity_id = er.async_get(hass).async_get_entity_id(
        domain, DOMAIN, f"{unique_prefix(mac)}-{key}"
    )
    assert entity_id is not None, f"no {domain} entity {key} for {mac!r}"
    return entity_id


@pytest.fixture
def frozen_time_link() -> Iterator[None]:
    """Let the link work while a test freezes time (the event loop's clock too).

    No heartbeat: the first one after a jump ahead would find the link silent for
    that long and drop it (the heartbeat is tested in tests/link). No settle delay
    after opening the port, and no second try at a busy port: they are timers,
    which would never run out.
    """
    with (
        patch(
            "custom_components.espnow_gateway.espnowgw.connection.LinkConfig",
            partial(
                LinkConfig, ping_interval=math.inf, dead_after=math.inf, busy_retry=0
            ),
        ),
        patch("serialx.platforms.serial_posix.AFTER_OPEN_DELAY", 0),
    ):
        yield


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Enable the entities that are disabled by default (as Home Assistant's own)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


# A BTHome remote: packet id 5, opening, button double press, command toggle,
# dimmer 3 steps left, and a timestamp (2026-06-01 11:00:00 UTC).
REMOTE_MAC = bytes.fromhex("0a0000000003")
REMOTE_PAYLOAD = bytes.fromhex("40 00 05 11 01 3a 02 3b 00 02 3c 01 03 50 30 66 1d 6a")
# A JSON node with binary sensors, a text, a CO2 reading and a second button.
MULTI_MAC = bytes.fromhex("0a0000000004")
MULTI_PAYLOAD = (
    b'{"temperature":21.5,"door":true,"motion":0,"status":"ok",'
    b'"button_2":"double","co2":600,"seq":3}'
)


async def populate(
    hass: HomeAssistant, pty: PtyGateway, entry: MockConfigEntry
) -> None:
    """Bring every kind of peer and entity to life, reproducibly.

    The simulated BTHome and JSON peers send one frame with a press each (BTHome
    senders after their warm-up frames), the
    raw peer is heard and confirmed, the remote and the JSON node send their
    payloads, and the gateway reports its figures.
    """
    sim = pty.gateway
    radio = entry.runtime_data.radio
    await wait_until(hass, lambda: radio._set_up is not None and radio._set_up.done())
    for peer in sim.peers:
        if peer.kind == "bthome":
            warm_up(sim, peer.mac)
        sim.emit_from(peer, press=peer.kind != "raw")
    warm_up(sim, REMOTE_MAC)
    sim.packet(REMOTE_MAC, REMOTE_PAYLOAD, -70)
    sim.packet(MULTI_MAC, MULTI_PAYLOAD, -65)
    # The gateway reports 2 drops (not counted as drops by the simulator itself,
    # which frames_handled relies on).
    sim.send(dataclasses.replace(sim.gateway_stats(), rx_dropped=2))
    await frames_handled(hass, pty, entry)
    runtime = entry.runtime_data
    await wait_until(hass, lambda: runtime.connection.gateway_stats is not None)
    for peer in sim.peers:
        if peer.kind == "raw":
            assert runtime.table.approve(mac_to_str(peer.mac))
            sim.packet(peer.mac, bytes(range(8)), -80)
    await frames_handled(hass, pty, entry)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's extension, in tests/ha/snapshots/."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
async def ports(tmp_path: Path) -> AsyncIterator[Ports]:
    """Extra simulated gateways, closed after the entries are unloaded."""
    made = Ports(tmp_path)
    yield made
    made.close()


@pytest.fixture
async def unload_entries(
    hass: HomeAssistant, gateway: PtyGateway, ports: Ports
) -> AsyncIterator[None]:
    """Unload every entry a test set up, before its ports go away."""
    yield
    await hass.async_block_till_done()  # reloads the test started
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state.recoverable:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def single_platform(request: pytest.FixtureRequest) -> Iterator[None]:
    """Set up only the platform a test module names in ``PLATFORM``."""
    with patch("custom_components.espnow_gateway.PLATFORMS", [request.module.PLATFORM]):
        yield


def stored_table(
    entry: MockConfigEntry, mac: str, measurements: list[MeasurementInfo]
) -> dict[str, Any]:
    """A peer table as the integration stores it, with one JSON peer."""
    return {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {
            "peers": {
                mac: {
                    "kind": "json",
                    "measurements": [dataclasses.asdict(m) for m in measurements],
                    "events": [],
                    "interval": None,
                }
            },
            "ignored": [],
        },
    }


@pytest.fixture
async def stream(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
) -> AsyncIterator[Stream]:
    """A WebSocket client for one packet subscription, closed at the end."""
    from .stream_helpers import Stream  # it uses this module's helpers

    stream = Stream(await hass_ws_client(hass))
    yield stream
    await stream.client.close()
    await hass.async_block_till_done()
