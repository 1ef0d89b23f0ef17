"""A peer with a BTHome key: only frames its key decrypts touch its state.

Anyone can send ESP-NOW frames with any source MAC. For a peer with a key, a frame
its key does not decrypt (plaintext, JSON, a wrong MIC) is counted and otherwise
ignored: it neither keeps the peer available nor takes a packet id from the
duplicate filter.
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from devtools.bthome_frames import seal
from devtools.simulator import PtyGateway

from .conftest import GatewayClock, entity_id_of, frames_handled, send_frame, tick

FROZEN = "2026-06-01 12:00:00+00:00"
PEER = bytes.fromhex("0a00000000e1")
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")

pytestmark = [
    pytest.mark.freeze_time(FROZEN),
    pytest.mark.usefixtures("frozen_time_link"),
    pytest.mark.parametrize(
        "entry_options",
        [
            {
                "slow_update_interval": 0,  # every temperature written at once
                "peers": {
                    mac_to_str(PEER): {
                        "payload_format": "bthome",
                        "bindkey": KEY.hex(),
                        "expected_interval": 10,  # stale after 30 s of silence
                    }
                },
            }
        ],
    ),
]


def genuine(packet_id: int, temperature: float, counter: int) -> bytes:
    """An encrypted frame of the peer: packet id and temperature."""
    objects = bytes([0x00, packet_id, 0x02]) + round(temperature * 100).to_bytes(
        2, "little", signed=True
    )
    return seal(objects, counter, mac=PEER, key=KEY)


def plaintext(packet_id: int, temperature: float) -> bytes:
    """The same readings in plaintext: what a forger can send."""
    return bytes([0x40, 0x00, packet_id, 0x02]) + round(temperature * 100).to_bytes(
        2, "little", signed=True
    )


async def test_forged_frames_do_not_keep_a_silent_peer_available(
    hass: HomeAssistant,
    *,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = init_integration
    runtime: EspNowGateway = entry.runtime_data
    await send_frame(hass, gateway, entry, PEER, genuine(1, 20.0, 1), rssi=-60)
    peer = runtime.table.peers[PEER]
    temperature = entity_id_of(hass, "sensor", "temperature", PEER)
    assert hass.states.get(temperature).state == "20.0"
    heard = peer.last_seen
    # The genuine sender falls silent; a forger sends every 10 s, for a minute.
    forgeries = [
        plaintext(2, 99.0),
        b'{"temperature": 99}',
        genuine(2, 99.0, 2)[:-1] + b"\x00",  # a wrong MIC
        bytes([0x41]) + bytes(12),  # encrypted-looking noise
        plaintext(3, 99.0),
        plaintext(4, 99.0),
    ]
    for forged in forgeries:
        await tick(hass, freezer, 10)
        gateway_clock.advance(10)
        await send_frame(hass, gateway, entry, PEER, forged, rssi=-30)
    assert peer.last_seen == heard
    assert peer.rssi == -60
    assert peer.stale
    assert hass.states.get(temperature).state == STATE_UNAVAILABLE
    assert peer.unauthenticated == len(forgeries)
    assert peer.decryption_failures == 2
    # One hint in the log (a wrong key, or a forger), not a line per frame.
    assert caplog.text.count("its key does not decrypt them") == 1
    assert peer.packets == 1 + len(forgeries)
    assert peer.values["temperature"] == 20.0
    # The genuine sender is back.
    await send_frame(hass, gateway, entry, PEER, genuine(2, 21.0, 2))
    assert not peer.stale
    assert hass.states.get(temperature).state == "21.0"


async def test_forged_packet_id_does_not_hide_the_genuine_frame(
    hass: HomeAssistant,
    *,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
) -> None:
    entry = init_integration
    runtime: EspNowGateway = entry.runtime_data
    await send_frame(hass, gateway, entry, PEER, genuine(1, 20.0, 1))
    peer = runtime.table.peers[PEER]
    gateway_clock.advance(0.5)
    # A forger sends the next packet id first; the genuine frame follows at once.
    sim = gateway.gateway
    sim.packet(PEER, plaintext(2, 99.0))
    gateway_clock.advance(0.1)
    sim.packet(PEER, genuine(2, 21.5, 2))
    await frames_handled(hass, gateway, entry)
    peer.flush()
    assert peer.duplicates == 0
    assert peer.values["temperature"] == 21.5
    temperature = entity_id_of(hass, "sensor", "temperature", PEER)
    assert hass.states.get(temperature).state == "21.5"
    # A genuine repeat is still one frame.
    gateway_clock.advance(0.1)
    await send_frame(hass, gateway, entry, PEER, genuine(2, 21.5, 2))
    assert peer.duplicates == 1
