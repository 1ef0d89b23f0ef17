"""Fixtures for the Home Assistant side: a real hass, the simulator on a real pty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.espnow_gateway.const import CONF_BAUDRATE, DOMAIN
from custom_components.espnow_gateway.link.messages import mac_to_str
from custom_components.espnow_gateway.link.simulator import PtyGateway, SimulatorConfig

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
    """Options of the config entry."""
    return {}


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
