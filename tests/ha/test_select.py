"""The channel select: SET_CHANNEL confirmed by the gateway, kept across restarts."""

from __future__ import annotations

import dataclasses

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import (
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_OPTION,
    STATE_UNAVAILABLE,
    EntityCategory,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.espnow_gateway.const import CONF_CHANNEL, DOMAIN
from custom_components.espnow_gateway.coordinator import EspNowGateway
from devtools.simulator import CAPABILITIES_1_0, PtyGateway, SimulatorConfig
from espnowgw.messages import Capability, SetChannel, Status

from .conftest import entity_id_of, unique_prefix, wait_until
from .send_helpers import advance, received

FROZEN = "2026-06-01 12:00:00+00:00"
pytestmark = [
    pytest.mark.freeze_time(FROZEN),
    pytest.mark.usefixtures("frozen_time_link"),
]


async def select(hass: HomeAssistant, option: str) -> None:
    """Choose a channel with the select."""
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {
            ATTR_ENTITY_ID: entity_id_of(hass, "select", "radio_channel"),
            ATTR_OPTION: option,
        },
        blocking=True,
    )


def shown(hass: HomeAssistant) -> str:
    """The channel the select shows."""
    state = hass.states.get(entity_id_of(hass, "select", "radio_channel"))
    assert state is not None
    return state.state


async def test_channel_change_confirmed_and_kept(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The gateway's answer confirms the channel; a restart gets it back."""
    sim = gateway.gateway
    entity_id = entity_id_of(hass, "select", "radio_channel")
    entry = entity_registry.async_get(entity_id)
    assert entry is not None
    assert entry.entity_category is EntityCategory.CONFIG
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == "1"
    assert state.attributes["options"] == [str(c) for c in range(1, 15)]
    await select(hass, "6")
    assert sim.channel == 6
    assert shown(hass) == "6"
    assert init_integration.options[CONF_CHANNEL] == 6
    sim.boot()  # restarts on its own channel, 1: the host moves it back
    await wait_until(
        hass, lambda: sim.channel == 6 and len(received(sim, SetChannel)) == 2
    )
    await wait_until(hass, lambda: shown(hass) == "6")
    # Reloaded (Home Assistant restarts): the choice is kept in the options.
    sim.channel = 1
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await wait_until(hass, lambda: sim.channel == 6)
    gateway.unplug()
    runtime: EspNowGateway = init_integration.runtime_data
    await wait_until(hass, lambda: not runtime.connected)
    assert shown(hass) == STATE_UNAVAILABLE


async def test_channel_refused(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A channel the radio does not accept (14 outside Japan): a translated error."""
    with pytest.raises(HomeAssistantError) as err:
        await select(hass, "14")
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "channel_refused"
    assert err.value.translation_placeholders["status"] == "invalid_argument"
    assert shown(hass) == "1"
    assert CONF_CHANNEL not in init_integration.options
    gateway.gateway.command_script.append(Status.BUSY)
    with pytest.raises(HomeAssistantError) as err:
        await select(hass, "3")
    assert err.value.translation_placeholders["status"] == "busy"


async def test_channel_not_answered(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No answer within the link's 5 s: a translated error, the channel unchanged."""
    gateway.gateway.command_script.append(None)
    component = hass.data["entity_components"][SELECT_DOMAIN]
    entity = component.get_entity(entity_id_of(hass, "select", "radio_channel"))
    # A background task: waiting for Home Assistant must not wait for the answer.
    task = hass.async_create_background_task(
        entity.async_select_option("6"), "test select"
    )
    await wait_until(hass, lambda: bool(received(gateway.gateway, SetChannel)))
    await advance(hass, freezer, 5)
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert err.value.translation_key == "channel_no_answer"
    assert shown(hass) == "1"


async def test_channel_while_disconnected(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """The entity's own method, called while the link is down: a translated error."""
    runtime: EspNowGateway = init_integration.runtime_data
    component = hass.data["entity_components"][SELECT_DOMAIN]
    entity = component.get_entity(entity_id_of(hass, "select", "radio_channel"))
    gateway.unplug()
    await wait_until(hass, lambda: not runtime.connected)
    with pytest.raises(HomeAssistantError) as err:
        await entity.async_select_option("6")
    assert err.value.translation_key == "gateway_not_connected"


@pytest.mark.parametrize(
    "sim_config",
    [
        SimulatorConfig(
            peers=0,
            capabilities=int(CAPABILITIES_1_0 & ~Capability.SET_CHANNEL),
            channel=11,
        )
    ],
)
async def test_gateway_that_cannot_change_channel(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """No select; the channel is a diagnostic sensor instead."""
    assert (
        entity_registry.async_get_entity_id(
            "select", DOMAIN, f"{unique_prefix()}-radio_channel"
        )
        is None
    )
    assert hass.states.get(entity_id_of(hass, "sensor", "channel")).state == "11"


async def test_a_channel_change_leaves_no_entity_behind(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """docs/troubleshooting.md: every entity of the entry is still provided."""
    entry = init_integration
    before = {
        e.entity_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    await select(hass, "6")
    assert await hass.config_entries.async_reload(entry.entry_id)
    await wait_until(hass, lambda: shown(hass) == "6")
    after = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert {e.entity_id for e in after} == before
    enabled = [e.entity_id for e in after if not e.disabled]
    assert enabled
    assert all(hass.states.get(entity_id) is not None for entity_id in enabled)
    assert not any(
        hass.states.get(entity_id).attributes.get("restored") for entity_id in enabled
    )


async def test_new_firmware_that_can_change_channel_leaves_the_channel_sensor(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """docs/troubleshooting.md: the old Channel sensor stays, no longer provided."""
    entry = init_integration
    sim = gateway.gateway
    sim.config = dataclasses.replace(
        sim.config,
        capabilities=int(CAPABILITIES_1_0 & ~Capability.SET_CHANNEL),
    )
    sim.boot()  # the gateway restarts with firmware that cannot change channel
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    sensor = entity_id_of(hass, "sensor", "channel")
    assert hass.states.get(sensor).state == "1"
    # The select is no longer provided: in the registry, unavailable, "restored".
    select_id = entity_id_of(hass, "select", "radio_channel")
    assert entity_registry.async_get(select_id) is not None
    state = hass.states.get(select_id)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE
    assert state.attributes["restored"] is True
