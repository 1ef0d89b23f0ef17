"""Every automation example of the README and docs/ loads and does what its text says.

The examples are read from the Markdown files: each YAML block with ``triggers:`` is
named by the comment before it (``<!-- example: NAME -->``), and each name has a test
here that sets the block up as an automation in a Home Assistant with the integration
loaded on a simulated gateway behind a real pty, makes its trigger happen for real (a
button frame, a low battery reading, silence, an unplugged gateway, a light switched)
and looks at the outcome (the light toggled, the notification created, the SEND the
gateway received). The light stands for the reader's own (a template light named
``light.hallway``); notifications are persistent ones, so everything runs offline.
"""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, callback
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from devtools.simulator import PtyGateway

from .conftest import GatewayClock, send_frame, tick, wait_until
from .send_helpers import sends

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
NAMED = re.compile(
    r"^<!-- example: ([a-z0-9-]+) -->\n```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL
)
FROZEN = "2026-06-01 12:00:00+00:00"
# The peer of the examples, ESP-NOW E6:52:00, and the relay they send to.
PEER_MAC = bytes.fromhex("024eb4e65200")
RELAY_MAC = bytes.fromhex("84f703123456")


def _automations() -> tuple[int, dict[str, dict[str, Any]]]:
    """Count the automation blocks of the docs; return them with the named ones."""
    count = 0
    named: dict[str, dict[str, Any]] = {}
    for path in DOCS:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            loaded = yaml.safe_load(match[1])
            count += isinstance(loaded, dict) and "triggers" in loaded
        for match in NAMED.finditer(text):
            assert match[1] not in named, f"{path.name}: example {match[1]} twice"
            named[match[1]] = yaml.safe_load(match[2])
    return count, named


COUNT, EXAMPLES = _automations()
TESTED = {
    "button-light",
    "low-battery",
    "device-silent",
    "gateway-disconnected",
    "send-relay",
    "send-failed",
}


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Every value written at once: the examples react to single frames."""
    return {"update_interval": 0.0, "slow_update_interval": 0.0}


def test_every_example_is_named_and_tested() -> None:
    assert set(EXAMPLES) == TESTED
    assert len(EXAMPLES) == COUNT, "an automation block without <!-- example: -->"
    for name, automation in EXAMPLES.items():
        assert isinstance(automation, dict), name
        assert "triggers" in automation, name


class Notifications:
    """The persistent notifications created while a test runs."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Listen to the notifications of ``hass``."""
        self.created: list[dict[str, Any]] = []

        @callback
        def changed(
            update: persistent_notification.UpdateType,
            notifications: dict[str, persistent_notification.Notification],
        ) -> None:
            if update is persistent_notification.UpdateType.ADDED:
                self.created.extend(dict(n) for n in notifications.values())

        persistent_notification.async_register_callback(hass, changed)

    def messages(self) -> list[str]:
        """Return the messages created so far."""
        return [str(n["message"]) for n in self.created]


async def _set_up(hass: HomeAssistant, name: str) -> Notifications:
    """Set example ``name`` up as an automation, with a light and notifications."""
    assert await async_setup_component(hass, "persistent_notification", {})
    notifications = Notifications(hass)
    assert await async_setup_component(
        hass,
        "template",
        {"template": [{"light": [{"name": "Hallway", "turn_on": [], "turn_off": []}]}]},
    )
    config = {"id": name, "alias": name, **EXAMPLES[name]}
    assert await async_setup_component(hass, "automation", {"automation": [config]})
    await hass.async_block_till_done()
    state = hass.states.get(f"automation.{name.replace('-', '_')}")
    assert state is not None, f"{name} did not load"
    assert state.state == "on", f"{name}: {state}"
    return notifications


def _frame(**members: Any) -> bytes:
    return json.dumps(members).encode()


def _no_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert not errors


async def test_button_toggles_a_light(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = init_integration
    await _set_up(hass, "button-light")
    light = hass.states.get("light.hallway")
    assert light is not None
    before = light.state
    assert before != "on"
    # The first frame makes the device and its Button entity; a single press is no
    # double press.
    await send_frame(hass, gateway, entry, PEER_MAC, _frame(button="press", seq=1))
    button = hass.states.get("event.esp_now_e6_52_00_button")
    assert button is not None
    assert button.attributes["event_type"] == "multi_press_end"
    assert hass.states.get("light.hallway").state == before
    await send_frame(hass, gateway, entry, PEER_MAC, _frame(button="double", seq=3))
    await wait_until(hass, lambda: hass.states.get("light.hallway").state == "on")
    await send_frame(hass, gateway, entry, PEER_MAC, _frame(button="double", seq=4))
    await wait_until(hass, lambda: hass.states.get("light.hallway").state == "off")
    _no_errors(caplog)


async def test_low_battery_notifies(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = init_integration
    notifications = await _set_up(hass, "low-battery")
    await send_frame(hass, gateway, entry, PEER_MAC, _frame(battery=90, seq=1))
    assert hass.states.get("sensor.esp_now_e6_52_00_battery").state == "90"
    await send_frame(hass, gateway, entry, PEER_MAC, _frame(battery=40, seq=2))
    assert notifications.created == []
    await send_frame(hass, gateway, entry, PEER_MAC, _frame(battery=15, seq=3))
    await wait_until(hass, lambda: bool(notifications.created))
    assert notifications.messages() == [
        "ESP-NOW E6:52:00 Battery is at 15 %: time for a new battery."
    ]
    _no_errors(caplog)


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_silent_device_notifies(
    hass: HomeAssistant,
    gateway: PtyGateway,
    gateway_clock: GatewayClock,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = init_integration
    notifications = await _set_up(hass, "device-silent")
    for number in range(4):  # every 40 s: unavailable after 120 s of silence
        payload = _frame(temperature=20 + number, seq=number)
        await send_frame(hass, gateway, entry, PEER_MAC, payload)
        gateway_clock.advance(40)
        freezer.tick(timedelta(seconds=40))
    temperature = "sensor.esp_now_e6_52_00_temperature"
    await tick(hass, freezer, 50)
    assert hass.states.get(temperature).state == "23"
    assert notifications.created == []
    await tick(hass, freezer, 31)
    assert hass.states.get(temperature).state == STATE_UNAVAILABLE
    await wait_until(hass, lambda: bool(notifications.created))
    assert notifications.messages() == [
        "The garden sensor has not reported for a while."
    ]
    _no_errors(caplog)


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_silence_of_a_disconnected_gateway_is_not_the_device(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
) -> None:
    """The condition of device-silent: the gateway going away is not reported."""
    entry = init_integration
    notifications = await _set_up(hass, "device-silent")
    await send_frame(hass, gateway, entry, PEER_MAC, _frame(temperature=20))
    gateway.unplug()
    temperature = "sensor.esp_now_e6_52_00_temperature"
    await wait_until(hass, lambda: hass.states.get(temperature).state == "unavailable")
    assert notifications.created == []


@pytest.mark.freeze_time(FROZEN)
@pytest.mark.usefixtures("frozen_time_link")
async def test_disconnected_gateway_notifies(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifications = await _set_up(hass, "gateway-disconnected")
    connection = "binary_sensor.esp_now_gateway_connection"
    assert hass.states.get(connection).state == "on"
    gateway.unplug()
    await wait_until(hass, lambda: hass.states.get(connection).state == "off")
    await tick(hass, freezer, 100)
    assert notifications.created == []  # not two minutes yet
    await tick(hass, freezer, 21)
    await wait_until(hass, lambda: bool(notifications.created))
    message = notifications.messages()[0]
    assert message.startswith("The ESP-NOW gateway is disconnected (")
    _no_errors(caplog)


async def test_light_switches_the_relay(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = gateway.gateway
    await _set_up(hass, "send-relay")
    await hass.services.async_call(
        "light", "turn_on", {"entity_id": "light.hallway"}, blocking=True
    )
    await wait_until(hass, lambda: len(sends(sim)) >= 1)
    assert sends(sim)[0].dst == RELAY_MAC
    assert sends(sim)[0].payload == b'{"relay":"on"}'
    count = len(sends(sim))
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.hallway"}, blocking=True
    )
    await wait_until(
        hass, lambda: any(s.payload == b'{"relay":"off"}' for s in sends(sim)[count:])
    )
    _no_errors(caplog)


async def test_failed_delivery_notifies(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
) -> None:
    sim = gateway.gateway
    assert RELAY_MAC not in sim.in_range  # the relay is unplugged
    notifications = await _set_up(hass, "send-failed")
    await hass.services.async_call(
        "light", "turn_on", {"entity_id": "light.hallway"}, blocking=True
    )
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.hallway"}, blocking=True
    )
    await wait_until(hass, lambda: bool(notifications.created))
    assert notifications.messages() == [
        "The relay did not switch off: not_acknowledged after 4 attempts."
    ]
    assert [s.payload for s in sends(sim)] == [b'{"relay":"off"}'] * 4
    assert {s.dst for s in sends(sim)} == {RELAY_MAC}


async def test_a_delivered_send_does_not_notify(
    hass: HomeAssistant,
    gateway: PtyGateway,
    init_integration: MockConfigEntry,
) -> None:
    """The other branch of send-failed: the relay acknowledges."""
    sim = gateway.gateway
    sim.in_range.add(RELAY_MAC)
    notifications = await _set_up(hass, "send-failed")
    await hass.services.async_call(
        "light", "turn_on", {"entity_id": "light.hallway"}, blocking=True
    )
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.hallway"}, blocking=True
    )
    counters = init_integration.runtime_data.sender.counters
    await wait_until(hass, lambda: counters.acknowledged == 1)
    await hass.async_block_till_done()  # the automation's if: after the response
    assert len(sends(sim)) == 1
    assert notifications.created == []
