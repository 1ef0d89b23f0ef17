"""Tests of the diagnostics of a gateway and of its devices."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.espnow_gateway.const import DOMAIN
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from devtools.simulator import PtyGateway

from .conftest import MULTI_MAC, frames_handled, populate, unique_prefix

FROZEN = "2026-06-01 12:00:00+00:00"
BINDKEY = "231d39c1d7cc1ab1aee224cd096db932"
PENDING_MAC = bytes.fromhex("0a0000000005")
IGNORED_MAC = bytes.fromhex("0a0000000006")

pytestmark = [
    pytest.mark.freeze_time(FROZEN),
    pytest.mark.usefixtures("frozen_time_link"),
    pytest.mark.parametrize(
        "entry_options",
        [
            {
                "update_interval": 2.0,
                "pmk": BINDKEY,
                "peers": {
                    mac_to_str(MULTI_MAC): {
                        # A key only counts for BTHome: this JSON peer is heard.
                        "payload_format": "json",
                        "bindkey": BINDKEY,
                        "lmk": BINDKEY,
                        "expected_interval": 60.0,
                    }
                },
            }
        ],
    ),
]


async def _populate(
    hass: HomeAssistant, gateway: PtyGateway, entry: MockConfigEntry
) -> None:
    await populate(hass, gateway, entry)
    runtime: EspNowGateway = entry.runtime_data
    runtime.table.remove(mac_to_str(IGNORED_MAC))
    gateway.gateway.packet(IGNORED_MAC, b'{"x":1}', -90)
    gateway.gateway.packet(PENDING_MAC, bytes(range(16)), -85)
    await frames_handled(hass, gateway, entry)


async def test_entry_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """The gateway's figures, options and peer table, keys redacted."""
    await _populate(hass, gateway, init_integration)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    assert BINDKEY not in str(diagnostics)
    # How many chunks the pty delivered the frames in is up to the kernel.
    assert diagnostics["gateway"]["link"]["reads"] >= 1
    assert diagnostics == snapshot(exclude=props("port", "reads"))


async def test_device_diagnostics(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """A peer's device: its options and figures; the gateway's: the whole entry."""
    entry = init_integration
    await _populate(hass, gateway, entry)
    peer = device_registry.async_get_device_by_identifier(
        (DOMAIN, unique_prefix(MULTI_MAC)), entry.entry_id
    )
    assert peer is not None
    diagnostics = await get_diagnostics_for_device(hass, hass_client, entry, peer)
    assert BINDKEY not in str(diagnostics)
    assert diagnostics == snapshot(name="peer")

    gateway_device = device_registry.async_get_device_by_identifier(
        (DOMAIN, unique_prefix()), entry.entry_id
    )
    assert gateway_device is not None
    assert await get_diagnostics_for_device(
        hass, hass_client, entry, gateway_device
    ) == await get_diagnostics_for_config_entry(hass, hass_client, entry)
