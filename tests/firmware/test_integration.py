"""The integration against the reference firmware: Home Assistant on the host gateway.

The host gateway is the firmware's core compiled for this machine (under ASan and
UBSan); the integration opens its pseudo-terminal exactly as it opens a USB gateway,
and the test plays BTHome and JSON senders through its UDP radio. Only the
integration's public face is used: the config entry, states, registries, bus events,
diagnostics and the WebSocket stream.

The simulator (devtools/simulator.py) stays for what it does better: unplugging and
replugging, bytes damaged on the wire.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
import struct
import time
from typing import Any

from homeassistant.components.event import ATTR_EVENT_TYPE
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.espnow_gateway.const import CONF_BAUDRATE, DOMAIN
from devtools.host_gateway import QUEUE_CAPACITY, HostGateway, record
from espnowgw.mac import mac_to_str

BTHOME = bytes.fromhex("0a0000000101")
JSON = bytes.fromhex("0a0000000102")
RAW = bytes.fromhex("0a0000000103")
BUTTON_EVENT = f"{DOMAIN}_button"


def bthome(packet_id: int, temperature: float, humidity: float, battery: int) -> bytes:
    """A BTHome v2 payload (unencrypted) as the example sensor sends it, with a press."""
    return bytes((0x40,)) + struct.pack(
        "<BBBBBhBHBB",
        0x00,
        packet_id,
        0x01,
        battery,
        0x02,
        round(temperature * 100),
        0x03,
        round(humidity * 100),
        0x3A,
        0x01,  # button: press
    )


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/espnow_gateway."""


@pytest.fixture
def gateway(
    host_gateway_binary: Path, tmp_path: Path, socket_enabled: None
) -> Iterator[HostGateway]:
    """The host gateway on a pty behind a by-id style link, STATS every 200 ms."""
    link = tmp_path / "usb-Espressif_ESP-NOW_Gateway-if00"
    running = HostGateway.start(
        host_gateway_binary, "--stats-interval", "200", link=link
    )
    yield running
    running.stop()  # after the entry is unloaded; raises if a sanitizer complained


@pytest.fixture
async def entry(
    hass: HomeAssistant, gateway: HostGateway
) -> AsyncIterator[MockConfigEntry]:
    """A config entry for the host gateway, set up; unloaded before the gateway stops."""
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"ESP-NOW Gateway {mac_to_str(gateway.mac)}",
        unique_id=mac_to_str(gateway.mac),
        data={CONF_PORT: gateway.link, CONF_BAUDRATE: 921600},
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry
    if config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


async def settle(
    hass: HomeAssistant, condition: Callable[[], bool], timeout: float = 15
) -> None:
    """Let Home Assistant work until ``condition()`` holds (the timeout guards hangs)."""
    deadline = time.monotonic() + timeout
    while True:
        await hass.async_block_till_done()
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


def entity_id(
    hass: HomeAssistant, domain: str, key: str, mac: bytes | None = None
) -> str | None:
    """The entity of a gateway figure, or of a peer's measurement, by unique id."""
    prefix = "246f2800000a" if mac is None else f"246f2800000a-{mac.hex()}"
    return er.async_get(hass).async_get_entity_id(domain, DOMAIN, f"{prefix}-{key}")


def state_of(
    hass: HomeAssistant, domain: str, key: str, mac: bytes | None = None
) -> str | None:
    """The state of that entity, None while it does not exist."""
    found = entity_id(hass, domain, key, mac)
    state = hass.states.get(found) if found else None
    return state.state if state else None


async def test_gateway_is_discovered_as_a_device(
    hass: HomeAssistant, gateway: HostGateway, entry: MockConfigEntry
) -> None:
    """The HELLO of the firmware core names the gateway device; its channel is shown."""
    await settle(hass, lambda: state_of(hass, "select", "radio_channel") == "1")
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.sw_version == "espnow-gw-host 1.1.0"
    assert device.serial_number == mac_to_str(gateway.mac)


async def test_senders_become_entities_and_events(
    hass: HomeAssistant, gateway: HostGateway, entry: MockConfigEntry
) -> None:
    """BTHome and JSON senders on the radio: sensors, buttons and bus events."""
    presses = async_capture_events(hass, BUTTON_EVENT)
    # A new sender is BTHome at its third consistent frame (random bytes look like
    # one BTHome frame far too often): two first, with the same device-info byte.
    for packet_id in (0xF0, 0xF1):
        gateway.radio(record(BTHOME, bytes((0x40, 0x00, packet_id)), rssi=-58))
    gateway.radio(record(BTHOME, bthome(1, 21.5, 45.2, 87), rssi=-58))
    gateway.radio(
        record(JSON, b'{"temperature":19.25,"humidity":51,"button":"double"}', rssi=-71)
    )
    await settle(
        hass,
        lambda: (
            state_of(hass, "sensor", "temperature", BTHOME) == "21.5"
            and state_of(hass, "sensor", "temperature", JSON) == "19.25"
            and len(presses) == 2
        ),
    )
    assert state_of(hass, "sensor", "humidity", BTHOME) == "45.2"
    assert state_of(hass, "sensor", "battery", BTHOME) == "87"
    assert state_of(hass, "sensor", "humidity", JSON) == "51"
    assert state_of(hass, "sensor", "rssi", BTHOME) == "-58"
    button = hass.states.get(entity_id(hass, "event", "button", BTHOME) or "")
    assert button is not None
    assert button.attributes[ATTR_EVENT_TYPE] == "multi_press_end"
    assert button.attributes["multi_press_count"] == 1
    double = hass.states.get(entity_id(hass, "event", "button", JSON) or "")
    assert double is not None
    assert double.attributes["multi_press_count"] == 2
    assert sorted((e.data["type"], e.data["subtype"]) for e in presses) == [
        ("double_press", "button"),
        ("press", "button"),
    ]
    # Both senders are devices behind the gateway.
    registry = dr.async_get(hass)
    peers = [
        d
        for d in dr.async_entries_for_config_entry(registry, entry.entry_id)
        if d.via_device_id is not None
    ]
    assert len(peers) == 2

    # A new reading updates the sensor; a repeated press is a new event.
    gateway.radio(record(BTHOME, bthome(2, 22.0, 45.0, 86)))
    await settle(hass, lambda: len(presses) == 3)
    assert presses[-1].data["type"] == "press"


async def test_gateway_queue_overflow_shows_as_frames_dropped(
    hass: HomeAssistant,
    gateway: HostGateway,
    entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """A burst the gateway's queue cannot hold: its drops, not link losses.

    100 frames heard at one instant meet a 32-slot queue: 68 are dropped inside the
    gateway and reported in STATS ("Frames dropped by the gateway"); the 32 forwarded
    PACKETs are gapless, so the link lost nothing.
    """
    await settle(hass, lambda: state_of(hass, "sensor", "gateway_dropped") == "0")
    gateway.radio(*(record(RAW, bytes([i]) * 100) for i in range(100)))
    await settle(
        hass,
        lambda: (
            state_of(hass, "sensor", "gateway_dropped") == str(100 - QUEUE_CAPACITY)
        ),
    )
    assert state_of(hass, "sensor", "packets_lost") == "0"
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = repr(diagnostics)
    assert "'rx_dropped': 68" in text
    assert f"'queue_peak': {QUEUE_CAPACITY}" in text
    assert "espnow-gw-host 1.1.0" in text


async def test_raw_stream(
    hass: HomeAssistant,
    gateway: HostGateway,
    entry: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """The WebSocket stream carries what the gateway received, byte for byte."""
    client = await hass_ws_client(hass)
    await client.send_json(
        {
            "id": 1,
            "type": f"{DOMAIN}/subscribe_packets",
            "entry_id": entry.entry_id,
            "batch_interval": 20,
            "max_rate": 1000,
        }
    )
    result = await client.receive_json()
    assert result["success"], result
    sent = [
        (BTHOME, bthome(3, 20.0, 40.0, 80), -50),
        (JSON, b'{"temperature":18}', -60),
        (RAW, bytes(range(250)), -70),
    ]
    gateway.radio_each(record(src, payload, rssi=rssi) for src, payload, rssi in sent)
    packets: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while len(packets) < len(sent):
            await hass.async_block_till_done()
            message = await client.receive_json()
            if message["type"] == "result":  # an acknowledgement's answer
                assert message["success"], message
                continue
            event = message["event"]
            if "batch" in event:
                packets += event["packets"]
                await client.send_json(
                    {
                        "id": 2 + event["batch"],
                        "type": f"{DOMAIN}/ack_packets",
                        "subscription": 1,
                        "batch": event["batch"],
                    }
                )
    got = [(p["src"], base64.b64decode(p["payload"]), p["rssi"]) for p in packets]
    assert got == [(mac_to_str(src), payload, rssi) for src, payload, rssi in sent]
    assert [p["kind"] for p in packets] == ["bthome", "json", "raw"]
    seqs = [p["seq"] for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert all(p["gateway"] == entry.entry_id for p in packets)


async def test_gateway_restart_is_noticed(
    hass: HomeAssistant,
    gateway: HostGateway,
    entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """A reboot of the firmware: an unsolicited HELLO, a new sequence, no losses."""
    gateway.radio_each(
        record(JSON, f'{{"temperature":{t}}}'.encode()) for t in (10, 11)
    )
    await settle(hass, lambda: state_of(hass, "sensor", "temperature", JSON) == "10")

    async def diagnostics() -> str:
        return repr(await get_diagnostics_for_config_entry(hass, hass_client, entry))

    assert "'gateway_restarts': 0" in await diagnostics()
    gateway.reboot()
    async with asyncio.timeout(15):
        while "'gateway_restarts': 1" not in await diagnostics():
            await asyncio.sleep(0.05)
    gateway.radio(record(JSON, b'{"humidity":60}'))  # seq 0 again: not a loss
    await settle(hass, lambda: state_of(hass, "sensor", "humidity", JSON) == "60")
    text = await diagnostics()
    assert "'packets_lost': 0" in text
    assert "'seq_resets': 0" in text  # the HELLO restarted the sequence tracking
