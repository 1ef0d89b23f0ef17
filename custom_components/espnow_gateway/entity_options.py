"""What the user tells about an entity its sender does not describe.

An ESPHome node sends its sensors' ids and values, never a unit, a device class or
a friendly name (``docs/senders.md``); the decoder guesses from the id. The user can
set them per entity in the device's options; they are stored with the peer's
settings (``entities``: key -> name, device class, unit) and applied here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorDeviceClass
from homeassistant.components.sensor import DEVICE_CLASS_UNITS, SensorDeviceClass
from homeassistant.const import CONF_DEVICE_CLASS, CONF_NAME, CONF_UNIT_OF_MEASUREMENT
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
import probatio as vol

from .models import MeasurementInfo

MAX_NAME_LENGTH = 64
MAX_UNIT_LENGTH = 16


def entity_schema(binary: bool) -> vol.Schema:
    """Return the form: a name, a device class (of the platform's) and a unit."""
    classes = sorted(
        c.value for c in (BinarySensorDeviceClass if binary else SensorDeviceClass)
    )
    fields: dict[Any, Any] = {
        vol.Optional(CONF_NAME): TextSelector(),
        vol.Optional(CONF_DEVICE_CLASS): SelectSelector(
            SelectSelectorConfig(options=classes, mode=SelectSelectorMode.DROPDOWN)
        ),
    }
    if not binary:
        fields[vol.Optional(CONF_UNIT_OF_MEASUREMENT)] = TextSelector()
    return vol.Schema(fields)


def describe_entity_input(
    binary: bool, user_input: dict[str, Any]
) -> dict[str, str] | str:
    """Return what to store (empty: the decoder's own guess), or an error key."""
    name = str(user_input.get(CONF_NAME) or "").strip()
    device_class = str(user_input.get(CONF_DEVICE_CLASS) or "").strip()
    unit = "" if binary else str(user_input.get(CONF_UNIT_OF_MEASUREMENT) or "").strip()
    if len(name) > MAX_NAME_LENGTH or len(unit) > MAX_UNIT_LENGTH:
        return "too_long"
    if device_class and not binary:
        units = DEVICE_CLASS_UNITS.get(SensorDeviceClass(device_class))
        if units is not None and (unit or None) not in units:
            return "invalid_unit"
    stored = {
        CONF_NAME: name,
        CONF_DEVICE_CLASS: device_class,
        CONF_UNIT_OF_MEASUREMENT: unit,
    }
    return {key: value for key, value in stored.items() if value}


def apply_entity_options(
    info: MeasurementInfo, options: dict[str, str] | None
) -> tuple[MeasurementInfo, str | None]:
    """Return the measurement as the user described it, and the name they gave."""
    if not options:
        return info, None
    if CONF_DEVICE_CLASS in options:
        info = replace(info, device_class=options[CONF_DEVICE_CLASS])
    if CONF_UNIT_OF_MEASUREMENT in options or CONF_DEVICE_CLASS in options:
        info = replace(info, unit=options.get(CONF_UNIT_OF_MEASUREMENT))
    return info, options.get(CONF_NAME)
