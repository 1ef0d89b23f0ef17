"""One packet path: each payload is parsed once, whoever listens (the raw stream too).

The parsers are wrapped (not replaced) so that every JSON parse and every BTHome
decode is counted while real frames from the simulated gateway travel through the
runtime, its peer table and a live stream subscription.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.decoders import bthome, json_payload
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from devtools.simulator import PtyGateway

from .conftest import frames_handled, warm_up
from .stream_helpers import Stream, fire, send

JSON_PEER = bytes.fromhex("024e000000c1")
BTHOME_PEER = bytes.fromhex("024e000000c2")
MEASUREMENT = b'{"temperature": 21.5, "seq": %d}'
URGENT = b'{"temperature": 21.5, "button": "press", "seq": %d}'
BTHOME = bytes.fromhex("40 00 01 02 29 09")  # packet id 1, temperature 23.45


@dataclass
class Parses:
    """How often each parser ran."""

    json: int = 0
    bthome: int = 0

    def reset(self) -> None:
        self.json = self.bthome = 0


@pytest.fixture
def parses() -> Iterator[Parses]:
    counts = Parses()
    parse_json = json_payload.parse_json_object
    decode_bthome = bthome.BTHomeDecoder.decode

    def counting_json(payload: bytes):  # type: ignore[no-untyped-def]
        counts.json += 1
        return parse_json(payload)

    def counting_bthome(self: bthome.BTHomeDecoder, data: bytes):  # type: ignore[no-untyped-def]
        counts.bthome += 1
        return decode_bthome(self, data)

    with (
        patch.object(json_payload, "parse_json_object", counting_json),
        patch.object(bthome.BTHomeDecoder, "decode", counting_bthome),
    ):
        yield counts


async def _subscribed(stream: Stream) -> None:
    result = await stream.subscribe(batch_interval=20, max_rate=1000)
    assert result["success"], result


async def _kinds(hass: HomeAssistant, stream: Stream, count: int) -> list[str]:
    fire(hass)
    kinds: list[str] = []
    while len(kinds) < count:
        event = await stream.event()
        kinds.extend(p["kind"] for p in event.get("packets", []))
    return kinds


async def test_new_and_known_json_peers_parse_each_payload_once(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
    parses: Parses,
) -> None:
    await _subscribed(stream)
    entry = init_integration
    # A new peer's first frame: detection, auto-add and the first decode share one parse.
    await send(hass, gateway, entry, [(JSON_PEER, MEASUREMENT % 1, -50)])
    runtime: EspNowGateway = entry.runtime_data
    assert JSON_PEER in runtime.table.peers
    assert parses.json == 1
    assert await _kinds(hass, stream, 1) == ["json"]

    # A known peer's urgent frame: the scan reads no JSON, the decode parses once.
    parses.reset()
    await send(hass, gateway, entry, [(JSON_PEER, URGENT % 2, -50)])
    assert parses.json == 1
    assert await _kinds(hass, stream, 1) == ["json"]

    # Measurement-only frames wait: nothing is parsed until the write is due, and
    # then only the latest of them.
    parses.reset()
    await send(
        hass, gateway, entry, [(JSON_PEER, MEASUREMENT % seq, -50) for seq in (3, 4, 5)]
    )
    assert parses.json == 0
    assert await _kinds(hass, stream, 3) == ["json"] * 3
    assert parses.json == 0
    fire(hass, 11)  # the peer's next write: within two intervals
    await hass.async_block_till_done()
    assert parses.json == 1


async def test_bthome_peer_decoded_once_per_urgent_frame(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    stream: Stream,
    parses: Parses,
) -> None:
    warm_up(gateway.gateway, BTHOME_PEER)
    await frames_handled(hass, gateway, init_integration)
    await _subscribed(stream)
    await send(hass, gateway, init_integration, [(BTHOME_PEER, BTHOME, -50)])
    assert (parses.bthome, parses.json) == (1, 0)
    assert await _kinds(hass, stream, 1) == ["bthome"]
    parses.reset()
    # Measurements only (packet id 2): scanned, not decoded, until the write is due.
    await send(
        hass,
        gateway,
        init_integration,
        [(BTHOME_PEER, bytes.fromhex("40 00 02 02 2a 09"), -50)],
    )
    assert (parses.bthome, parses.json) == (0, 0)
    assert await _kinds(hass, stream, 1) == ["bthome"]


async def test_packets_of_ignored_peers_are_classified_only_for_a_listener(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    hass_ws_client,  # type: ignore[no-untyped-def]
    parses: Parses,
) -> None:
    entry = init_integration
    runtime: EspNowGateway = entry.runtime_data
    runtime.table.remove(mac_to_str(JSON_PEER))  # ignored from now on
    await send(hass, gateway, entry, [(JSON_PEER, MEASUREMENT % 1, -50)])
    assert parses.json == 0  # nobody asks what it is
    assert runtime.counters.ignored_packets == 1

    stream = Stream(await hass_ws_client(hass))
    await _subscribed(stream)
    parses.reset()
    await send(hass, gateway, entry, [(JSON_PEER, MEASUREMENT % 2, -50)])
    assert parses.json == 1  # classified once, for the stream
    assert await _kinds(hass, stream, 1) == ["json"]
    await stream.client.close()
    await hass.async_block_till_done()
    # The subscriber left: the stream stops listening to the gateway.
    parses.reset()
    await send(hass, gateway, entry, [(JSON_PEER, MEASUREMENT % 3, -50)])
    await frames_handled(hass, gateway, entry)
    assert parses.json == 0
