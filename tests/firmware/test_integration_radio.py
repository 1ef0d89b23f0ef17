"""The integration sets up the reference firmware's radio: protocol 1.1, and 1.0's set.

docs/protocol.md 5.9 against the host gateway (the firmware's core under ASan and
UBSan, its radio's peer table kept by firmware/host/hal_host.c): the PMK of the
gateway's options with SET_PMK, the table read back with GET_PEERS (what the host does
not want unregistered), the encrypted peers registered after the key. The same gateway
built without the HAL's 1.1 hooks (``--hal-1.0``) announces 1.0's capabilities only:
the integration sends it no 1.1 command and still sends to its peers. (A gateway that
speaks 1.0 itself, skipping the 1.1 types, is the simulator's part: tests/ha/test_radio.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import logging
import os
from pathlib import Path
import select
import time
from typing import Any

from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.espnow_gateway.const import CONF_BAUDRATE, DOMAIN
from custom_components.espnow_gateway.coordinator import EspNowGateway
from devtools.host_gateway import HostGateway, record
from espnowgw.mac import BROADCAST, mac_to_str
from espnowgw.messages import (
    AddPeer,
    Capability,
    CommandResult,
    PeerEntry,
    Status,
    host_decoder,
)

PMK = "00112233445566778899aabbccddeeff"  # 32 hex digits: the bytes themselves
BUILT_IN_PMK = b"pmk1234567890123"  # firmware/host/hal_host.h
LMK = "0f0e0d0c0b0a09080706050403020100"
NODE = bytes.fromhex("0a0000000301")  # a JSON sender configured with an LMK
PLAIN = bytes.fromhex("0a0000000302")  # a JSON sender without a key
STALE = bytes.fromhex("0a0000000303")  # registered before Home Assistant started


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/espnow_gateway."""


def start_gateway(binary: Path, tmp_path: Path, *args: str) -> HostGateway:
    """The host gateway on a pty behind a by-id style link, no STATS."""
    link = tmp_path / "usb-Espressif_ESP-NOW_Gateway-if00"
    return HostGateway.start(binary, "--stats-interval", "0", *args, link=link)


@pytest.fixture
def gateway(
    host_gateway_binary: Path, tmp_path: Path, socket_enabled: None
) -> Iterator[HostGateway]:
    """The host gateway with every hook (protocol 1.1)."""
    running = start_gateway(host_gateway_binary, tmp_path)
    yield running
    running.stop()  # raises if a sanitizer complained


@pytest.fixture
def gateway_1_0(
    host_gateway_binary: Path, tmp_path: Path, socket_enabled: None
) -> Iterator[HostGateway]:
    """The host gateway whose HAL has no 1.1 hooks."""
    running = start_gateway(host_gateway_binary, tmp_path, "--hal-1.0")
    yield running
    running.stop()


def register_stale_peer(gateway: HostGateway) -> None:
    """Register STALE as an earlier Home Assistant would have (then close the port)."""
    fd = os.open(gateway.link, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, AddPeer(1, STALE, 0, 0, bytes(16)).encode())
        decoder = host_decoder()
        deadline = time.monotonic() + 10
        while True:
            assert time.monotonic() < deadline, "no answer to ADD_PEER"
            ready, _, _ = select.select([fd], [], [], 1)
            if ready and CommandResult(1, AddPeer.TYPE, Status.OK) in decoder.feed(
                os.read(fd, 4096)
            ):
                return
    finally:
        os.close(fd)


async def set_up(
    hass: HomeAssistant, gateway: HostGateway, options: dict[str, Any]
) -> MockConfigEntry:
    """Add the gateway's entry and wait until its radio is set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=mac_to_str(gateway.mac),
        data={CONF_PORT: gateway.link, CONF_BAUDRATE: 921600},
        options=options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await radio_ready(hass, entry)
    return entry


async def settle(hass: HomeAssistant, condition: Any, timeout: float = 15) -> None:
    """Let Home Assistant work until ``condition()`` holds (the timeout guards hangs)."""
    async with asyncio.timeout(timeout):
        while True:
            await hass.async_block_till_done()
            if condition():
                return
            await asyncio.sleep(0.02)


async def radio_ready(hass: HomeAssistant, entry: MockConfigEntry) -> EspNowGateway:
    """Wait until the entry's radio set-up has run; return its runtime."""
    gw: EspNowGateway = entry.runtime_data
    await settle(hass, lambda: gw.radio._set_up is not None and gw.radio._set_up.done())
    return gw


async def hear(
    hass: HomeAssistant, gateway: HostGateway, entry: MockConfigEntry, mac: bytes
) -> None:
    """Let a JSON sender be heard until it is a known peer (and in the radio's range)."""
    gw: EspNowGateway = entry.runtime_data
    gateway.radio(record(mac, b'{"temperature":21.5}'))
    await settle(hass, lambda: mac in gw.table.peers)


async def send(hass: HomeAssistant, mac: bytes, payload: str) -> dict[str, Any]:
    """espnow_gateway.send, waiting for the outcome; the first result."""
    response = await hass.services.async_call(
        DOMAIN,
        "send",
        {"mac": mac_to_str(mac), "payload": payload, "wait": True},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    result: dict[str, Any] = response["results"][0]  # type: ignore[index]
    return result


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload the entry (before the gateway stops)."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_radio_set_up_with_protocol_1_1(
    hass: HomeAssistant, gateway: HostGateway
) -> None:
    """The PMK is set, the table read back, the stale peer let go, NODE encrypted."""
    register_stale_peer(gateway)
    options = {"pmk": PMK, "peers": {mac_to_str(NODE): {"lmk": LMK}}}
    entry = await set_up(hass, gateway, options)
    gw: EspNowGateway = entry.runtime_data
    info = gw.connection.info
    assert info is not None
    assert (info.protocol_major, info.protocol_minor) == (1, 1)
    assert info.capabilities & Capability.PEER_LIST
    assert info.capabilities & Capability.SET_PMK
    assert gw.radio.capacity == (20, 7)  # from the firmware's PEER_LIST
    assert gw.radio.counters.peers_removed == 1  # STALE: the host does not know it
    await hear(hass, gateway, entry, NODE)
    await hear(hass, gateway, entry, PLAIN)
    # Known only now: a reload registers it, after the key.
    assert await hass.config_entries.async_reload(entry.entry_id)
    gw = await radio_ready(hass, entry)
    assert gw.radio.registered == {NODE: True}
    assert (await send(hass, NODE, "secret"))["outcome"] == "delivered"
    assert (await send(hass, PLAIN, "plain"))["outcome"] == "delivered"
    listed = await gw.connection.get_peers()  # the gateway's own table
    # (The integration's own copy of the library: compared field by field.)
    assert sorted((p.mac, p.channel, p.flags) for p in listed.peers) == [
        (NODE, 0, PeerEntry.FLAG_ENCRYPT),
        (PLAIN, 0, 0),
        (BROADCAST, 0, 0),
    ]
    assert gw.radio.counters.set_ups == 1  # the reloaded entry's
    assert gw.radio.counters.set_up_errors == 0
    await unload(hass, entry)
    gateway.stop()
    assert gateway.exit_radio["pmk"] == PMK
    assert gateway.exit_radio["pmk_sets"] == "2"  # at each set-up


async def test_radio_set_up_without_1_1_hooks(
    hass: HomeAssistant, gateway_1_0: HostGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """1.0's capabilities: no GET_PEERS, no SET_PMK; the built-in key; sends work."""
    caplog.set_level(logging.WARNING)
    register_stale_peer(gateway_1_0)
    entry = await set_up(hass, gateway_1_0, {"pmk": PMK})
    gw: EspNowGateway = entry.runtime_data
    info = gw.connection.info
    assert info is not None
    assert not info.capabilities & (Capability.PEER_LIST | Capability.SET_PMK)
    assert "cannot take a primary master key" in caplog.text
    assert gw.radio.capacity is None  # never asked
    assert gw.radio.counters.peers_removed == 0  # what it cannot see, it leaves
    assert gw.radio.counters.set_up_errors == 0
    await hear(hass, gateway_1_0, entry, PLAIN)
    assert (await send(hass, PLAIN, "x"))["outcome"] == "delivered"
    assert gw.radio.registered == {PLAIN: False}
    await unload(hass, entry)
    gateway_1_0.stop()
    assert gateway_1_0.exit_radio["pmk"] == BUILT_IN_PMK.hex()
    assert gateway_1_0.exit_radio["pmk_sets"] == "0"
    peers = set(gateway_1_0.exit_radio["peers"].split(","))
    assert peers == {f"{m.hex()}/0/0" for m in (BROADCAST, STALE, PLAIN)}
