"""strings.json is complete: every key the code uses has its text (hassfest's job in core)."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest
import yaml

from custom_components.espnow_gateway import (
    binary_sensor,
    const,
    device_action,
    event,
    events,
    select,
    sensor,
    services,
)
from espnowgw.connection import ConnectErrorReason

INTEGRATION = (
    Path(__file__).resolve().parents[1] / "custom_components" / "espnow_gateway"
)
STRINGS: dict[str, Any] = json.loads((INTEGRATION / "strings.json").read_text())
ICONS: dict[str, Any] = json.loads((INTEGRATION / "icons.json").read_text())
EVENT_KEYS = ("button", "button_2", "dimmer", "dimmer_2", "command", "command_2")


def test_english_translation_is_strings_json() -> None:
    assert (INTEGRATION / "translations" / "en.json").read_text() == (
        INTEGRATION / "strings.json"
    ).read_text()


def test_every_literal_translation_key_exists() -> None:
    """Each translation_key="..." in the code names an exception, issue or entity text."""
    known = set(STRINGS["exceptions"]) | set(STRINGS["issues"])
    known |= {key for platform in STRINGS["entity"].values() for key in platform}
    for path in INTEGRATION.glob("*.py"):
        for key in re.findall(r'translation_key="([a-z0-9_]+)"', path.read_text()):
            assert key in known, f"{path.name}: {key}"


@pytest.mark.parametrize("reason", list(ConnectErrorReason))
def test_connection_errors_are_translated_everywhere(
    reason: ConnectErrorReason,
) -> None:
    """Setup raises them as exceptions; the flows show them as errors."""
    assert reason.value in STRINGS["exceptions"]
    assert reason.value in STRINGS["config"]["error"]
    connection = STRINGS["entity"]["binary_sensor"]["connection"]
    assert reason.value in connection["state_attributes"]["connect_error"]["state"]
    assert reason.value in STRINGS["issues"]["port_missing"]["fix_flow"]["error"]


def test_entity_names_and_icons() -> None:
    entity = STRINGS["entity"]
    for description in (*sensor.GATEWAY_SENSORS, *sensor.PEER_SENSORS):
        if description.translation_key:
            assert description.translation_key in entity["sensor"]
    assert binary_sensor.CONNECTION.translation_key in entity["binary_sensor"]
    assert "measurement" in entity["sensor"]
    assert "measurement" in entity["binary_sensor"]
    for platform, keys in ICONS["entity"].items():
        for key in keys:
            assert key in entity[platform], f"icon for unknown {platform}.{key}"


@pytest.mark.parametrize("key", EVENT_KEYS)
def test_event_entities_have_names_and_event_type_texts(key: str) -> None:
    description = event.event_description(key)
    texts = STRINGS["entity"]["event"][description.translation_key]
    assert "name" in texts
    states = texts["state_attributes"]["event_type"]["state"]
    assert description.event_types is not None
    assert set(description.event_types) <= set(states)


@pytest.mark.parametrize("key", EVENT_KEYS)
def test_device_trigger_types_are_translated(key: str) -> None:
    triggers = STRINGS["device_automation"]["trigger_type"]
    assert set(events.trigger_types_for(key)) <= set(triggers)
    assert key in STRINGS["device_automation"]["trigger_subtype"]


def test_issues_have_titles() -> None:
    for kind in const.ISSUE_KINDS:
        assert "title" in STRINGS["issues"][kind]


def test_every_translated_error_key_exists() -> None:
    """Keys given to the action's error helper and to translation_key= variables."""
    known = set(STRINGS["exceptions"])
    for path in INTEGRATION.glob("*.py"):
        text = path.read_text()
        for key in re.findall(r'_invalid\(\s*"([a-z0-9_]+)"', text):
            assert key in known, f"{path.name}: {key}"
        for key in re.findall(r'translation_key="([a-z0-9_]+)"', text):
            assert key in known | set(STRINGS["issues"]) | {
                k for platform in STRINGS["entity"].values() for k in platform
            }, f"{path.name}: {key}"


def test_actions_are_described_and_have_icons() -> None:
    """services.yaml, strings.json and icons.json agree (hassfest's checks)."""
    described = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    assert set(described) == set(STRINGS["services"]) == set(ICONS["services"])
    assert set(described) == {services.SERVICE_SEND}
    for name, service in described.items():
        texts = STRINGS["services"][name]
        assert texts["name"]
        assert texts["description"]
        assert set(service["fields"]) == set(texts["fields"])
        assert set(service["fields"]) == {
            str(key) for key in services.SEND_SCHEMA.schema
        }
        for field in texts["fields"].values():
            assert field["name"]
            assert field["description"]
    encoding = described["send"]["fields"]["encoding"]["selector"]["select"]
    assert encoding["options"] == [e.value for e in services.PayloadEncoding]
    assert set(STRINGS["selector"][encoding["translation_key"]]["options"]) == set(
        encoding["options"]
    )


def test_device_action_and_select_texts() -> None:
    automation = STRINGS["device_automation"]
    assert device_action.ACTION_SEND in automation["action_type"]
    assert {"payload", "encoding"} <= set(automation["extra_fields"])
    assert select.CHANNEL.translation_key in STRINGS["entity"]["select"]
