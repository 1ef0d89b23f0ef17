"""The generated tables of docs/entities.md, made from the code that decides them.

``python -m devtools.docs_tables`` rewrites every table between its markers
(``<!-- generated: NAME -->`` ... ``<!-- end generated: NAME -->``) in
docs/entities.md; ``--check`` only says whether they are current (exit 1 if not).
tests/test_docs_tables.py runs the check, so the document cannot drift from:

* ``json-sensors``, ``json-binary-sensors``, ``json-events``: the JSON decoder's
  tables (``espnowgw.decoders.json_payload``: ``SENSOR_SPECS``, ``BINARY_SPECS``,
  ``EVENT_KEYS``, ``EVENT_ALIASES``);
* ``bthome-binary-keys``: the keys of BTHome binary sensors whose name a sensor has
  too (``espnowgw.decoders.bthome.binary_key``);
* ``button-events``: what each decoded button, dimmer and command event becomes
  (``custom_components.espnow_gateway.events``: the event entity's type and
  attributes, the device trigger and the ``espnow_gateway_button`` event's type).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
import re
import sys

from custom_components.espnow_gateway.espnowgw.model import (
    BUTTON_EVENT_NAMES,
    ButtonEvent,
)
from custom_components.espnow_gateway.events import (
    COMMAND_EVENT_TYPES,
    DIMMER_EVENT_TYPES,
    map_event,
)
from espnowgw.decoders import bthome, json_payload

DOC = Path(__file__).resolve().parents[1] / "docs" / "entities.md"


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _or_none(value: str | None) -> str:
    return value if value is not None else "(none)"


def json_sensors() -> str:
    """Tabulate the well-known JSON sensor names, grouped by what they get."""
    groups: dict[tuple[str | None, str | None, str | None], list[str]] = {}
    for name, spec in json_payload.SENSOR_SPECS.items():
        groups.setdefault(spec, []).append(name)
    return _table(
        ("JSON keys", "device class", "unit", "state class"),
        (
            (_code(names), _or_none(device), _or_none(unit), _or_none(state))
            for (device, unit, state), names in groups.items()
        ),
    )


def json_binary_sensors() -> str:
    """Tabulate the well-known JSON binary-sensor names, grouped by what they get."""
    groups: dict[tuple[str, bool, bool], list[str]] = {}
    for name, spec in json_payload.BINARY_SPECS.items():
        groups.setdefault(spec, []).append(name)
    return _table(
        ("JSON keys", "device class", "numbers too (0 off, other on)", "on means"),
        (
            (
                _code(names),
                device,
                "yes" if numbers else "no: a number is a sensor",
                "`false` (inverted: contact made, closed)" if inverted else "`true`",
            )
            for (device, inverted, numbers), names in groups.items()
        ),
    )


def json_events() -> str:
    """Tabulate the JSON members that are button events, and their values."""
    aliases: dict[str, list[str]] = {}
    for alias, name in json_payload.EVENT_ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    keys = sorted(json_payload.EVENT_KEYS)
    header = (
        f"Keys {_code(keys)} (event entity **Button**) and `button_N` or `buttonN` "
        "(**Button N**), with one of these text values; any other text there is a "
        "text sensor:"
    )
    rows = (
        (f"`{name}`", _code(aliases.get(name, ())) or "")
        for name in BUTTON_EVENT_NAMES
        if name in json_payload.BUTTON_EVENTS
    )
    return header + "\n\n" + _table(("value", "also accepted"), rows)


def _bthome_binary_names() -> list[str]:
    from bthome_ble.const import MEAS_TYPES  # noqa: PLC0415 - only here
    from sensor_state_data.description import BaseBinarySensorDescription  # noqa: PLC0415

    return sorted(
        {
            str(meas.meas_format.device_class)
            for meas in MEAS_TYPES.values()
            if isinstance(meas.meas_format, BaseBinarySensorDescription)
        }
    )


def bthome_binary_keys() -> str:
    """Tabulate the keys of BTHome binary sensors named like a sensor."""
    return _table(
        ("BTHome binary sensor", "its key here"),
        (
            (f"`{name}`", f"`{bthome.binary_key(name)}`")
            for name in _bthome_binary_names()
            if bthome.binary_key(name) != name
        ),
    )


def button_events() -> str:
    """Tabulate what each decoded event becomes (event entity, trigger, bus event)."""
    rows: list[tuple[str, ...]] = []
    for kind, names in (
        ("button", BUTTON_EVENT_NAMES),
        ("dimmer", DIMMER_EVENT_TYPES),
        ("command", COMMAND_EVENT_TYPES),
    ):
        for name in names:
            value = 3 if kind == "dimmer" else None
            event_type, attributes = map_event(
                ButtonEvent(key=kind, event_type=name, value=value)
            )
            shown = ", ".join(
                "`steps`: the number of steps" if key == "steps" else f"`{key}: {v}`"
                for key, v in attributes.items()
            )
            rows.append((kind, f"`{name}`", f"`{event_type}`", shown))
    return _table(
        (
            "entity",
            "decoded event: `type` of `espnow_gateway_button`, device trigger",
            "event entity's `event_type`",
            "event entity's attributes",
        ),
        rows,
    )


TABLES: dict[str, Callable[[], str]] = {
    "json-sensors": json_sensors,
    "json-binary-sensors": json_binary_sensors,
    "json-events": json_events,
    "bthome-binary-keys": bthome_binary_keys,
    "button-events": button_events,
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated: {name} -->\n)(.*?)(<!-- end generated: {name} -->)",
        re.DOTALL,
    )


def render(text: str) -> str:
    """Return ``text`` with every generated table made again."""
    for name, make in TABLES.items():
        pattern = _block(name)
        found = pattern.search(text)
        if found is None:
            raise ValueError(f"docs/entities.md has no generated block {name!r}")
        text = text[: found.start(2)] + make() + "\n" + text[found.end(2) :]
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite docs/entities.md's tables, or ``--check`` them."""
    parser = argparse.ArgumentParser(prog="python -m devtools.docs_tables")
    parser.add_argument(
        "--check", action="store_true", help="only check, exit 1 if stale"
    )
    args = parser.parse_args(argv)
    text = DOC.read_text()
    made = render(text)
    if made == text:
        return 0
    if args.check:
        print(
            f"{DOC} is out of date: run python -m devtools.docs_tables", file=sys.stderr
        )
        return 1
    DOC.write_text(made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
