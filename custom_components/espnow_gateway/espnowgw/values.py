"""What a measurement's value may be: the limits every state made from it obeys.

A decoder reports what a frame holds; not everything a frame can hold is a state a
home automation system can show. A JSON number of 400 digits does not fit a float,
a BTHome raw object of 200 bytes is 400 hexadecimal characters, a member that was a
number may be a string in the next frame. :func:`refusal` tells, for one value and
the :class:`ValueShape` of the entity it is for, why the value cannot be shown (the
caller refuses it and counts it), or ``None`` when it can.

The limits are Home Assistant's (a state is at most 255 characters; a sensor with a
unit, a state class, a display precision or a numeric device class shows finite
numbers only; a timestamp has a time zone) and one of this library's: numbers are
within ``±MAX_NUMBER`` (2**53, the integers a JavaScript frontend shows exactly).
Inside that range every number is a float without loss of range, its text is short,
and no unit conversion can overflow it; outside it a reading is garbage.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
import math
from typing import Final, Protocol

MAX_STATE_LENGTH: Final = 255
"""Characters in a state (Home Assistant's ``MAX_LENGTH_STATE_STATE``)."""
MAX_NUMBER: Final = 2**53
"""Largest magnitude of a number (ints and floats alike)."""

# Device classes whose states are not numbers (Home Assistant's
# NON_NUMERIC_DEVICE_CLASSES); the decoders only ever report "timestamp".
_TIMESTAMP: Final = "timestamp"
_NOT_NUMERIC: Final = frozenset({"date", "enum", _TIMESTAMP})


class ValueShape(StrEnum):
    """What kind of value an entity shows."""

    BINARY = "binary"  # a bool
    NUMBER = "number"  # an int or a float, finite, within ±MAX_NUMBER
    TIMESTAMP = "timestamp"  # an ISO 8601 string with a time zone
    TEXT = "text"  # a string of at most MAX_STATE_LENGTH characters, or a number


class Described(Protocol):
    """What describes a measurement's entity (``Measurement`` and its stored form)."""

    @property
    def device_class(self) -> str | None:
        """Home Assistant's device class value, or None."""

    @property
    def unit(self) -> str | None:
        """The unit, or None."""

    @property
    def state_class(self) -> str | None:
        """Home Assistant's state class value, or None."""

    @property
    def precision(self) -> int | None:
        """The suggested display precision, or None."""

    @property
    def binary(self) -> bool:
        """Whether the entity is a binary sensor."""


def shape_of(described: Described) -> ValueShape:
    """Return the shape of the values an entity described so shows.

    The rule of Home Assistant's sensors: a unit, a state class, a display precision
    or a device class other than a non-numeric one make the sensor numeric.
    """
    if described.binary:
        return ValueShape.BINARY
    device_class = described.device_class
    if device_class == _TIMESTAMP:
        return ValueShape.TIMESTAMP
    if device_class in _NOT_NUMERIC:
        return ValueShape.TEXT
    if (
        device_class is not None
        or described.unit is not None
        or described.state_class is not None
        or described.precision is not None
    ):
        return ValueShape.NUMBER
    return ValueShape.TEXT


def _number_refusal(value: float) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number"
    if abs(value) > MAX_NUMBER:  # exact for ints of any size: no float conversion
        return f"beyond ±2**53: {str(value)[:24]}"
    return None


def _timestamp_refusal(value: str) -> str | None:
    if len(value) > MAX_STATE_LENGTH:
        return "timestamp too long"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "not an ISO 8601 timestamp"
    return None if parsed.tzinfo is not None else "timestamp without a time zone"


def refusal(value: object, shape: ValueShape) -> str | None:
    """Return why ``value`` cannot be shown by an entity of ``shape``, or None.

    ``None`` (no value: the state is unknown) is always accepted.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return None if shape is ValueShape.BINARY else "a boolean"
    if shape is ValueShape.BINARY:
        return "not a boolean"
    if isinstance(value, int | float):
        if shape is ValueShape.TIMESTAMP:
            return "not a timestamp"
        return _number_refusal(value)
    if shape is ValueShape.NUMBER or not isinstance(value, str):
        return "not a number" if shape is ValueShape.NUMBER else "not a text"
    if shape is ValueShape.TIMESTAMP:
        return _timestamp_refusal(value)
    if len(value) > MAX_STATE_LENGTH:
        return f"text of {len(value)} characters"
    return None
