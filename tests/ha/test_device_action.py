"""The "Send payload" device action, and the send automations of docs/automations.md."""

from __future__ import annotations

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.setup import async_setup_component
import probatio as vol
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
)

from custom_components.espnow_gateway import device_action
from custom_components.espnow_gateway.const import DOMAIN
from custom_components.espnow_gateway.coordinator import EspNowGateway
from devtools.simulator import PtyGateway

from .conftest import wait_until
from .send_helpers import heard, node, sends


async def test_actions_of_a_peer_device(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """A peer device offers "Send payload"; the gateway's own device does not."""
    device_id = await heard(hass, gateway, init_integration)
    actions = await async_get_device_automations(
        hass, DeviceAutomationType.ACTION, device_id
    )
    own = [a for a in actions if a["domain"] == DOMAIN]
    assert own == [
        {
            "device_id": device_id,
            "domain": DOMAIN,
            "type": "send_payload",
            "metadata": {},
        }
    ]
    runtime: EspNowGateway = init_integration.runtime_data
    assert runtime.device_id is not None
    assert await device_action.async_get_actions(hass, runtime.device_id) == []
    capabilities = await device_action.async_get_action_capabilities(hass, own[0])
    fields = capabilities["extra_fields"]
    assert fields({"payload": "on"}) == {"payload": "on", "encoding": "text"}
    with pytest.raises(vol.Invalid):
        fields({"payload": "on", "encoding": "morse"})


async def test_device_action_in_an_automation(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """An automation switches a relay node: the payload is rendered and sent."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "triggers": [{"trigger": "event", "event_type": "relay"}],
                    "actions": [
                        {
                            "domain": DOMAIN,
                            "device_id": device_id,
                            "type": "send_payload",
                            "payload": '{"relay": "{{ trigger.event.data.state }}"}',
                            "encoding": "json",
                        }
                    ],
                }
            ]
        },
    )
    hass.bus.async_fire("relay", {"state": "on"})
    await wait_until(hass, lambda: len(sends(sim)) == 1)
    assert sends(sim)[0].dst == node(sim).mac
    assert sends(sim)[0].payload == b'{"relay":"on"}'


async def test_reacting_to_a_failed_delivery(
    hass: HomeAssistant, gateway: PtyGateway, init_integration: MockConfigEntry
) -> None:
    """As docs/automations.md: wait for the result and act when it failed."""
    sim = gateway.gateway
    device_id = await heard(hass, gateway, init_integration)
    sim.in_range.clear()  # the relay is out of range
    failures: list[Event] = []

    @callback
    def failed(event: Event) -> None:
        failures.append(event)

    hass.bus.async_listen("relay_unreachable", failed)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "triggers": [{"trigger": "event", "event_type": "relay"}],
                    "actions": [
                        {
                            "action": "espnow_gateway.send",
                            "data": {
                                "device_id": device_id,
                                "payload": {"relay": "on"},
                                "wait": True,
                                "retries": 0,
                            },
                            "response_variable": "result",
                        },
                        {
                            "if": [
                                {
                                    "condition": "template",
                                    "value_template": "{{ result.failed > 0 }}",
                                }
                            ],
                            "then": [
                                {
                                    "event": "relay_unreachable",
                                    "event_data": {
                                        "outcome": "{{ result.results[0].outcome }}"
                                    },
                                }
                            ],
                        },
                    ],
                }
            ]
        },
    )
    hass.bus.async_fire("relay", {})
    await wait_until(hass, lambda: bool(failures))
    assert failures[0].data == {"outcome": "not_acknowledged"}
    assert sends(sim)[0].payload == b'{"relay":"on"}'
