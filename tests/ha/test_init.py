"""Tests of setting up, unloading and removing devices of a gateway entry."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
import os
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.components.usb import USBDevice
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.espnow_gateway.const import CONF_BAUDRATE, DOMAIN
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.connection import (
    ConnectError,
    ConnectErrorReason,
    LinkConfig,
    probe,
)
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from devtools.simulator import PtyGateway, SimulatorConfig

from .conftest import entity_id_of, frames_handled, unique_prefix, wait_until


def open_fds() -> set[str]:
    """Return this process's open file descriptors."""
    return set(os.listdir("/proc/self/fd"))


async def test_setup_and_unload(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unloading releases the port, the timers and every file descriptor."""
    config_entry.add_to_hass(hass)
    # Warm up what Home Assistant opens once (executor threads, the http app...).
    assert await async_setup_component(hass, "usb", {})
    await hass.async_block_till_done()
    fds_before = open_fds()

    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    runtime: EspNowGateway = config_entry.runtime_data
    assert runtime.connected
    # The gateway holds the port: a second exclusive open fails.
    with pytest.raises(ConnectError) as err:
        await probe(gateway.url, hello_timeout=1)
    assert err.value.reason is ConnectErrorReason.BUSY

    gateway.gateway.emit_from(gateway.gateway.peers[1], press=True)
    await frames_handled(hass, gateway, config_entry)
    temperature = entity_id_of(
        hass, "sensor", "temperature", gateway.gateway.peers[1].mac
    )

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get(temperature).state == STATE_UNAVAILABLE
    assert open_fds() == fds_before
    # Closing the link on purpose is no lost connection.
    assert "Lost the connection" not in caplog.text
    hello = await probe(gateway.url, hello_timeout=1)
    assert mac_to_str(hello.mac) == config_entry.unique_id


async def test_unique_ids_independent_of_port(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Unique ids come from MACs, never from the port path."""
    gateway.gateway.emit_from(gateway.gateway.peers[0], press=True)
    await frames_handled(hass, gateway, init_integration)
    entries = er.async_entries_for_config_entry(
        entity_registry, init_integration.entry_id
    )
    assert entries
    for entry in entries:
        assert entry.unique_id.startswith(unique_prefix())
        assert "usb" not in entry.unique_id.lower()
        assert "/" not in entry.unique_id


async def test_setup_retry_when_port_missing(
    hass: HomeAssistant, tmp_path: Path, issue_registry: ir.IssueRegistry
) -> None:
    """A port that does not exist: retry later, and tell the user about it."""
    port = str(tmp_path / "usb-gone")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="ESP-NOW Gateway",
        unique_id="24:6F:28:00:00:01",
        data={CONF_PORT: port, CONF_BAUDRATE: 921600},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert port in entry.reason
    assert "no serial port at this path" in entry.reason
    issue = issue_registry.async_get_issue(DOMAIN, f"port_missing_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {"port": port, "title": entry.title}
    await hass.config_entries.async_unload(entry.entry_id)


async def test_setup_retry_when_port_busy(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A port held by another program: retry later, no repair issue."""
    config_entry.add_to_hass(hass)
    with patch(
        "custom_components.espnow_gateway.coordinator.GatewayConnection.connect",
        side_effect=ConnectError(ConnectErrorReason.BUSY, "locked"),
    ):
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert config_entry.reason == (
        f"ESP-NOW gateway on {gateway.url}: the port is in use by another program "
        "or integration. (locked)"
    )
    assert not issue_registry.issues
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(peers=1, hello_on_boot=False, seed=5)]
)
async def test_setup_retry_when_gateway_silent(
    hass: HomeAssistant, gateway: PtyGateway, config_entry: MockConfigEntry
) -> None:
    """The port opens but nothing answers: retry later."""
    gateway.gateway.mute = True
    config_entry.add_to_hass(hass)
    with patch(
        "custom_components.espnow_gateway.espnowgw.connection.LinkConfig",
        partial(LinkConfig, hello_timeout=0.05),
    ):
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "no ESP-NOW gateway answered" in str(config_entry.reason)
    await hass.config_entries.async_unload(config_entry.entry_id)
    # The failed attempt released the port.
    gateway.gateway.mute = False
    await probe(gateway.url, hello_timeout=1)


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(peers=1, protocol_major=2, protocol_minor=0, seed=5)]
)
async def test_setup_retried_when_protocol_unsupported(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Another major protocol version: an issue, and retries until it is fixed."""
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "protocol version this integration does not support" in str(
        config_entry.reason
    )
    issue_id = f"unsupported_version_{config_entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert not issue.is_fixable
    assert issue.translation_placeholders == {
        "title": config_entry.title,
        "port": config_entry.data["port"],
        "version": "2.0",
        "supported": "1.x",
    }
    # Still protocol 2 at the next attempt: still waiting, still the issue.
    asked = gateway.gateway.stats.commands
    first = asked["GetInfo"]  # one, or more if the answer was slow (hello_retry)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=5))
    await wait_until(hass, lambda: asked["GetInfo"] > first)
    # The attempt waits for the gateway's answer on the pty, not only on the loop.
    await wait_until(hass, lambda: config_entry.state is ConfigEntryState.SETUP_RETRY)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    # The gateway gets new firmware and is plugged in again: it comes up by itself.
    gateway.unplug()
    gateway.gateway.config.protocol_major = 1
    gateway.plug()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=10))
    await wait_until(hass, lambda: config_entry.state is ConfigEntryState.LOADED)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_remove_peer_device(
    hass: HomeAssistant,
    *,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Deleting a peer's device removes its entities and ignores the peer from then on."""
    entry = init_integration
    runtime: EspNowGateway = entry.runtime_data
    sim = gateway.gateway
    peer = sim.peers[1]
    sim.emit_from(peer, press=True)
    await frames_handled(hass, gateway, entry)
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, unique_prefix(peer.mac)), entry.entry_id
    )
    assert device is not None
    assert er.async_entries_for_device(entity_registry, device.id)

    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)

    async def remove(device_id: str) -> dict[str, Any]:
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove",
                "device_id": device_id,
            }
        )
        response: dict[str, Any] = await client.receive_json()
        return response

    response = await remove(device.id)
    assert response["success"]
    await hass.async_block_till_done()
    assert device_registry.async_get(device.id) is None
    assert not er.async_entries_for_device(entity_registry, device.id)
    assert peer.mac not in runtime.table.peers
    assert runtime.table.ignored == {mac_to_str(peer.mac)}
    assert hass.states.get(entity_id_of(hass, "sensor", "peers")).state == "0"

    # Every packet of the ignored peer is counted, none processed.
    for _ in range(3):
        sim.emit_from(peer, press=True)
    await frames_handled(hass, gateway, entry)
    assert runtime.counters.ignored_packets == 3
    assert peer.mac not in runtime.table.peers
    assert not runtime.table.pending
    assert (
        device_registry.async_get_device_by_identifier(
            (DOMAIN, unique_prefix(peer.mac)), entry.entry_id
        )
        is None
    )

    # The gateway itself cannot be removed this way.
    gateway_device = device_registry.async_get_device_by_identifier(
        (DOMAIN, unique_prefix()), entry.entry_id
    )
    assert gateway_device is not None
    response = await remove(gateway_device.id)
    assert not response["success"]
    assert device_registry.async_get(gateway_device.id) is not None

    # A device left over from a peer that is no longer in the table goes quietly.
    stale = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, unique_prefix(bytes(6)))},
    )
    other = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("other", "x")}
    )
    assert (await remove(stale.id))["success"]
    assert (await remove(other.id))["success"]
    assert runtime.table.ignored == {mac_to_str(peer.mac)}


async def test_usb_plug_event_reconnects(
    hass: HomeAssistant, gateway: PtyGateway, config_entry: MockConfigEntry
) -> None:
    """A USB device being plugged in cuts the reconnect back-off short."""
    callbacks = []

    def register(hass: HomeAssistant, callback: Any) -> Any:
        callbacks.append(callback)
        return lambda: None

    config_entry.add_to_hass(hass)
    with patch(
        "custom_components.espnow_gateway.usb.async_register_port_event_callback",
        register,
    ):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
    runtime: EspNowGateway = config_entry.runtime_data
    [usb_changed] = callbacks
    stats = runtime.connection.stats
    gateway.unplug()
    await wait_until(hass, lambda: stats.connect_failures >= 1)
    # Reconnects after the second failure are seconds away.
    failures = stats.connect_failures
    usb_changed(set(), {_usb_device()})  # removed only: nothing to do
    gateway.plug()
    usb_changed({_usb_device()}, set())
    await wait_until(
        hass, lambda: runtime.connected or stats.connect_failures > failures
    )
    if not runtime.connected:  # the attempt under way found no port yet
        usb_changed({_usb_device()}, set())
        await wait_until(hass, lambda: runtime.connected)
    await hass.config_entries.async_unload(config_entry.entry_id)


def _usb_device() -> USBDevice:
    return USBDevice(
        device="/dev/ttyACM0",
        vid="303A",
        pid="1001",
        serial_number="1",
        manufacturer="Espressif",
        description="ESP-NOW Gateway",
    )
