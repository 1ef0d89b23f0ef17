"""The generated tables of docs/entities.md are the code's (devtools/docs_tables.py)."""

from __future__ import annotations

import pytest

from custom_components.espnow_gateway.espnowgw.model import ButtonEvent
from custom_components.espnow_gateway.events import map_event
from devtools import docs_tables
from espnowgw.decoders import json_payload


def test_the_tables_in_the_doc_are_current() -> None:
    text = docs_tables.DOC.read_text()
    assert docs_tables.render(text) == text, (
        "docs/entities.md is out of date: run python -m devtools.docs_tables"
    )
    assert docs_tables.main(["--check"]) == 0


def test_a_changed_table_is_found_stale() -> None:
    text = docs_tables.DOC.read_text()
    stale = text.replace("| `co` | carbon_monoxide | ppm | measurement |", "", 1)
    assert stale != text
    assert docs_tables.render(stale) == text


def test_a_missing_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="json-sensors"):
        docs_tables.render("no tables here")


@pytest.mark.parametrize("name", sorted(json_payload.SENSOR_SPECS))
def test_every_json_sensor_name_is_in_the_doc(name: str) -> None:
    device_class, unit, state_class = json_payload.SENSOR_SPECS[name]
    row = next(
        line
        for line in docs_tables.json_sensors().splitlines()
        if f"`{name}`" in line.split(" | ")[0]
    )
    assert row.split(" | ")[1:] == [
        device_class or "(none)",
        unit or "(none)",
        f"{state_class} |",
    ]


def test_every_event_in_the_doc_is_what_the_entity_fires() -> None:
    rows = [line.split(" | ") for line in docs_tables.button_events().splitlines()[2:]]
    assert len(rows) == 16
    for row in rows:
        kind, decoded, event_type = row[0].strip("| "), row[1].strip("`"), row[2]
        assert f"`{map_event(ButtonEvent(kind, decoded))[0]}`" == event_type
