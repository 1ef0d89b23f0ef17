"""Gateways behind network ports: ``socket://`` (the simulator's TCP mode) and
Home Assistant's ESPHome serial proxies (``esphome-hass://``).

A network port may be down, never "gone": no port-missing repair is raised for one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from functools import partial
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.espnow_gateway.const import (
    CONF_BAUDRATE,
    DOMAIN,
    PORT_MISSING_REPAIR_AFTER,
)
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.connection import LinkConfig
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from custom_components.espnow_gateway.helpers import async_port_present, issue_id
from devtools.simulator import SimulatorConfig, TcpGateway

from .conftest import entity_id_of, wait_until

PROXY_URL = "esphome-hass://esphome/01JESPHOMEENTRY?port_name=gateway"
# A heartbeat fast enough to find a dead link in a fraction of a second.
QUICK_LINK = partial(
    LinkConfig,
    ping_interval=0.05,
    dead_after=0.3,
    reconnect_min=0.01,
    reconnect_max=0.05,
)


@pytest.fixture
def quick_link() -> Iterator[None]:
    with patch(
        "custom_components.espnow_gateway.espnowgw.connection.LinkConfig", QUICK_LINK
    ):
        yield


@pytest.fixture
async def tcp_gateway(socket_enabled: None) -> AsyncIterator[TcpGateway]:
    server = TcpGateway(SimulatorConfig(peers=1, kinds=("json",), seed=11))
    await server.start()
    yield server
    await server.stop()


def _entry(port: str, unique_id: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"ESP-NOW Gateway {unique_id}",
        unique_id=unique_id,
        data={CONF_PORT: port, CONF_BAUDRATE: 921600},
    )


@pytest.mark.usefixtures("quick_link")
async def test_socket_gateway_end_to_end_with_dead_link_and_reconnect(
    hass: HomeAssistant, tcp_gateway: TcpGateway
) -> None:
    entry = _entry(tcp_gateway.url, mac_to_str(tcp_gateway.config.mac))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    runtime: EspNowGateway = entry.runtime_data
    connection = entity_id_of(hass, "binary_sensor", "connection")
    peer = tcp_gateway.gateway.peers[0]

    tcp_gateway.gateway.emit_from(peer)
    await wait_until(hass, lambda: peer.mac in runtime.table.peers)
    assert hass.states.get(entity_id_of(hass, "sensor", "temperature", peer.mac))

    # The gateway stops talking (the socket stays open): the heartbeat finds the
    # link dead, drops it and reconnects as soon as the gateway answers again.
    tcp_gateway.gateway.mute = True
    await wait_until(hass, lambda: runtime.connection.stats.dead_links >= 1)
    await wait_until(hass, lambda: hass.states.get(connection).state == "off")
    tcp_gateway.gateway.mute = False
    await wait_until(hass, lambda: hass.states.get(connection).state == "on")
    assert runtime.connection.stats.connects >= 2

    # The server goes away for good: reconnects fail for longer than a missing
    # local port is tolerated, and still no "port vanished" repair.
    await tcp_gateway.stop()
    await wait_until(hass, lambda: runtime.connection.stats.connect_failures >= 3)
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=PORT_MISSING_REPAIR_AFTER + 1)
    )
    await wait_until(hass, lambda: runtime.connection.stats.connect_failures >= 5)
    assert not ir.async_get(hass).async_get_issue(
        DOMAIN, issue_id("port_missing", entry.entry_id)
    )
    assert await async_port_present(hass, tcp_gateway.url)
    # Set up again while the server is down: a retry, still no repair.
    await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not ir.async_get(hass).async_get_issue(
        DOMAIN, issue_id("port_missing", entry.entry_id)
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_proxy_port_before_esphome_loads_retries_without_a_repair(
    hass: HomeAssistant,
) -> None:
    """Home Assistant's own stub answers until ESPHome is loaded: set-up retries."""
    assert await async_setup_usb(hass)
    entry = _entry(PROXY_URL, "24:6F:28:00:00:09")
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "not ready yet" in entry.reason
    assert not ir.async_get(hass).async_get_issue(
        DOMAIN, issue_id("port_missing", entry.entry_id)
    )
    assert await async_port_present(hass, "socket://127.0.0.1:1")


async def async_setup_usb(hass: HomeAssistant) -> bool:
    """Set up Home Assistant's usb integration (it registers the proxy stub)."""
    from homeassistant.setup import async_setup_component

    return await async_setup_component(hass, "usb", {})
