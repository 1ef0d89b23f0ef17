"""Tests of the event entities: buttons, dimmers and commands, delivered at once."""

from __future__ import annotations

import json
from typing import Any

from homeassistant.components.event import ATTR_EVENT_TYPE, ATTR_EVENT_TYPES
from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    mock_restore_cache_with_extra_data,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.espnow_gateway.const import DOMAIN, EVENT_BUTTON
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.model import ButtonEvent
from devtools.simulator import PtyGateway

from .conftest import (
    MULTI_MAC,
    REMOTE_MAC,
    REMOTE_PAYLOAD,
    entity_id_of,
    populate,
    send_frame,
    warm_up,
)

FROZEN = "2026-06-01 12:00:00+00:00"


PLATFORM = Platform.EVENT
pytestmark = pytest.mark.usefixtures("single_platform")


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "frozen_time_link")
async def test_entities(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every event entity, its registry entry and its state."""
    await populate(hass, gateway, init_integration)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.parametrize(
    ("sent", "decoded", "event_type", "attributes"),
    [
        ("press", "press", "multi_press_end", {"multi_press_count": 1}),
        ("single", "press", "multi_press_end", {"multi_press_count": 1}),
        ("double_press", "double_press", "multi_press_end", {"multi_press_count": 2}),
        ("triple", "triple_press", "multi_press_end", {"multi_press_count": 3}),
        ("hold", "hold_press", "long_press_start", {}),
        ("release", "release", "press_end", {}),
        ("hold_release", "hold_release", "long_press_end", {}),
        ("long_press", "long_press", "long_press", {}),
        ("long_double_press", "long_double_press", "long_double_press", {}),
        ("long_triple_press", "long_triple_press", "long_triple_press", {}),
    ],
)
async def test_button_event_types(
    hass: HomeAssistant,
    *,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    sent: str,
    decoded: str,
    event_type: str,
    attributes: dict[str, Any],
) -> None:
    """Decoded presses map to Home Assistant's standard button event types."""
    bus = async_capture_events(hass, EVENT_BUTTON)
    payload = json.dumps({"button_3": sent}).encode()
    await send_frame(hass, gateway, init_integration, MULTI_MAC, payload)
    state = hass.states.get(entity_id_of(hass, "event", "button_3", MULTI_MAC))
    assert state is not None
    assert state.attributes[ATTR_EVENT_TYPE] == event_type
    assert state.attributes.get("multi_press_count") == attributes.get(
        "multi_press_count"
    )
    assert state.attributes["friendly_name"] == "ESP-NOW 00:00:04 Button 3"
    assert state.attributes["device_class"] == "button"
    # The bus event (and so the device triggers) keeps the decoder's name.
    [event] = bus
    assert event.data["type"] == decoded
    assert event.data["subtype"] == "button_3"


async def test_dimmer_and_command(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A dimmer reports its steps; a BTHome command is an event entity of its own."""
    warm_up(gateway.gateway, REMOTE_MAC)
    await send_frame(hass, gateway, init_integration, REMOTE_MAC, REMOTE_PAYLOAD)
    dimmer = hass.states.get(entity_id_of(hass, "event", "dimmer", REMOTE_MAC))
    assert dimmer.attributes[ATTR_EVENT_TYPE] == "rotate_left"
    assert dimmer.attributes["steps"] == 3
    assert dimmer.attributes[ATTR_EVENT_TYPES] == ["rotate_left", "rotate_right"]
    assert "device_class" not in dimmer.attributes
    command = hass.states.get(entity_id_of(hass, "event", "command", REMOTE_MAC))
    assert command.attributes[ATTR_EVENT_TYPE] == "toggle"
    assert command.attributes[ATTR_EVENT_TYPES] == [
        "off",
        "on",
        "toggle",
        "step_up",
        "step_down",
    ]
    assert command.attributes["friendly_name"] == "ESP-NOW 00:00:03 Command"
    button = hass.states.get(entity_id_of(hass, "event", "button", REMOTE_MAC))
    assert button.attributes[ATTR_EVENT_TYPE] == "multi_press_end"
    assert button.attributes["multi_press_count"] == 2


async def test_unknown_event_type_ignored(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An event type the entity does not declare is logged and ignored."""
    await send_frame(hass, gateway, init_integration, MULTI_MAC, b'{"button":"press"}')
    runtime: EspNowGateway = init_integration.runtime_data
    entity_id = entity_id_of(hass, "event", "button", MULTI_MAC)
    before = hass.states.get(entity_id)
    runtime.table.peers[MULTI_MAC]._fire(ButtonEvent("button", "squeeze"))
    await hass.async_block_till_done()
    assert hass.states.get(entity_id) == before
    assert f"Ignoring event squeeze of {entity_id}" in caplog.text


async def test_last_event_restored(
    hass: HomeAssistant,
    gateway: PtyGateway,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """After a restart the button exists before a press, with its last event."""
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}",
        "data": {
            "peers": {
                "0A:00:00:00:00:04": {
                    "kind": "json",
                    "measurements": [],
                    "events": ["button", "dimmer_2"],
                    "interval": None,
                }
            },
            "ignored": [],
        },
    }
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State("event.esp_now_00_00_04_button", "2026-06-01T11:00:00.000+00:00"),
                {
                    "last_event_type": "multi_press_end",
                    "last_event_attributes": {"multi_press_count": 2},
                },
            )
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    button = hass.states.get("event.esp_now_00_00_04_button")
    assert button.state == "2026-06-01T11:00:00.000+00:00"
    assert button.attributes[ATTR_EVENT_TYPE] == "multi_press_end"
    dimmer = hass.states.get("event.esp_now_00_00_04_dimmer_2")
    assert dimmer.state == STATE_UNKNOWN
    assert dimmer.attributes["friendly_name"] == "ESP-NOW 00:00:04 Dimmer 2"
    await send_frame(hass, gateway, config_entry, MULTI_MAC, b'{"button":"press"}')
    assert (
        hass.states.get("event.esp_now_00_00_04_button").attributes["multi_press_count"]
        == 1
    )
    await hass.config_entries.async_unload(config_entry.entry_id)
