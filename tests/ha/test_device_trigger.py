"""Tests of the device triggers of button, dimmer and command events."""

from __future__ import annotations

from typing import Any

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import probatio as vol
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
)

from custom_components.espnow_gateway import device_trigger
from custom_components.espnow_gateway.const import DOMAIN
from custom_components.espnow_gateway.events import (
    BUTTON_TRIGGER_TYPES,
    COMMAND_EVENT_TYPES,
    DIMMER_EVENT_TYPES,
)
from devtools.simulator import PtyGateway, SimulatorConfig

from .conftest import (
    MULTI_MAC,
    REMOTE_MAC,
    REMOTE_PAYLOAD,
    frames_handled,
    send_frame,
    unique_prefix,
    warm_up,
)


def device_of(
    device_registry: dr.DeviceRegistry, entry: MockConfigEntry, mac: bytes | None
) -> dr.DeviceEntry:
    """Return the device of a peer, or of the gateway."""
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, unique_prefix(mac)), entry.entry_id
    )
    assert device is not None
    return device


async def own_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """Return this integration's triggers of a device (sensors add their own)."""
    triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, device_id
    )
    return [trigger for trigger in triggers if trigger["domain"] == DOMAIN]


async def test_get_triggers(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A peer offers every event type of every button it has reported."""
    entry = init_integration
    warm_up(gateway.gateway, REMOTE_MAC)
    await send_frame(hass, gateway, entry, REMOTE_MAC, REMOTE_PAYLOAD)
    await send_frame(hass, gateway, entry, MULTI_MAC, b'{"temperature":20}')
    remote = device_of(device_registry, entry, REMOTE_MAC)
    triggers = await own_triggers(hass, remote.id)
    found = {(t["type"], t["subtype"]) for t in triggers}
    expected = (
        {(t, "button") for t in BUTTON_TRIGGER_TYPES}
        | {(t, "command") for t in COMMAND_EVENT_TYPES}
        | {(t, "dimmer") for t in DIMMER_EVENT_TYPES}
    )
    assert found == expected
    assert len(triggers) == len(expected)
    for trigger in triggers:
        assert trigger["platform"] == "device"
        assert trigger["device_id"] == remote.id

    # No buttons, or no peer at all: no triggers.
    for device in (
        device_of(device_registry, entry, MULTI_MAC),
        device_of(device_registry, entry, None),
    ):
        assert await own_triggers(hass, device.id) == []


@pytest.mark.parametrize(
    "sim_config",
    [SimulatorConfig(peers=2, kinds=("bthome", "json"), seed=5, repeats=6)],
)
async def test_trigger_fires(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    service_calls: list[ServiceCall],
) -> None:
    """A press fires its trigger once, however often the remote repeats it."""
    entry = init_integration
    sim = gateway.gateway
    bthome = sim.peers[0]
    warm_up(sim, bthome.mac)
    sim.emit_from(bthome, press=True)
    warm_up(sim, REMOTE_MAC)
    await send_frame(hass, gateway, entry, REMOTE_MAC, REMOTE_PAYLOAD)
    device = device_of(device_registry, entry, bthome.mac)
    remote = device_of(device_registry, entry, REMOTE_MAC)

    def automation_for(
        device_id: str, trigger_type: str, subtype: str
    ) -> dict[str, Any]:
        return {
            "triggers": {
                "platform": "device",
                "domain": DOMAIN,
                "device_id": device_id,
                "type": trigger_type,
                "subtype": subtype,
            },
            "actions": {
                "action": "test.automation",
                "data": {"what": f"{trigger_type} {subtype}"},
            },
        }

    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                automation_for(device.id, "press", "button"),
                automation_for(device.id, "double_press", "button"),
                automation_for(remote.id, "toggle", "command"),
                automation_for(remote.id, "rotate_left", "dimmer"),
            ]
        },
    )
    await hass.async_block_till_done()

    def fired() -> list[str]:
        return [call.data["what"] for call in service_calls if call.domain == "test"]

    sim.emit_from(bthome, press=True)
    await frames_handled(hass, gateway, entry)
    assert fired() == ["press button"]

    # The remote's next frame (a new packet id) toggles and turns the dimmer.
    await send_frame(
        hass,
        gateway,
        entry,
        REMOTE_MAC,
        REMOTE_PAYLOAD.replace(b"\x00\x05", b"\x00\x06"),
    )
    assert fired() == ["press button", "toggle command", "rotate_left dimmer"]


async def test_validate_trigger_config(hass: HomeAssistant) -> None:
    """A trigger type must belong to its subtype."""
    config = {
        "platform": "device",
        "domain": DOMAIN,
        "device_id": "abc",
        "type": "press",
        "subtype": "button_2",
    }
    assert await device_trigger.async_validate_trigger_config(hass, config) == config
    for trigger_type, subtype in (("rotate_left", "button"), ("press", "dimmer")):
        with pytest.raises(InvalidDeviceAutomationConfig) as err:
            await device_trigger.async_validate_trigger_config(
                hass, config | {"type": trigger_type, "subtype": subtype}
            )
        assert err.value.translation_key == "invalid_trigger"
    with pytest.raises(vol.Invalid, match="value must be one of"):
        await device_trigger.async_validate_trigger_config(
            hass, config | {"type": "squeeze"}
        )
