"""What a measurement's value may be to become a state: ``espnowgw.values``."""

from __future__ import annotations

import math

import pytest

from espnowgw.model import Measurement
from espnowgw.values import MAX_NUMBER, MAX_STATE_LENGTH, ValueShape, refusal, shape_of


def _m(
    device_class: str | None = None,
    unit: str | None = None,
    state_class: str | None = None,
    *,
    binary: bool = False,
    precision: int | None = None,
) -> Measurement:
    return Measurement("k", None, device_class, unit, state_class, binary, precision)


@pytest.mark.parametrize(
    ("described", "shape"),
    [
        (_m(binary=True), ValueShape.BINARY),
        (_m("door", binary=True), ValueShape.BINARY),
        (_m("timestamp"), ValueShape.TIMESTAMP),
        (_m("enum"), ValueShape.TEXT),
        (_m("date"), ValueShape.TEXT),
        (_m(), ValueShape.TEXT),
        # Home Assistant's rule: any of these make a sensor numeric.
        (_m("temperature"), ValueShape.NUMBER),
        (_m(unit="°C"), ValueShape.NUMBER),
        (_m(state_class="measurement"), ValueShape.NUMBER),
        (_m(precision=1), ValueShape.NUMBER),
    ],
)
def test_shape_of(described: Measurement, shape: ValueShape) -> None:
    assert shape_of(described) is shape


@pytest.mark.parametrize(
    ("value", "shape", "refused"),
    [
        (None, ValueShape.NUMBER, False),  # unknown is always a state
        (None, ValueShape.BINARY, False),
        (True, ValueShape.BINARY, False),
        (1, ValueShape.BINARY, True),
        ("on", ValueShape.BINARY, True),
        (21.5, ValueShape.NUMBER, False),
        (-7, ValueShape.NUMBER, False),
        (MAX_NUMBER, ValueShape.NUMBER, False),
        (-MAX_NUMBER, ValueShape.NUMBER, False),
        (MAX_NUMBER + 1, ValueShape.NUMBER, True),
        (10**400, ValueShape.NUMBER, True),  # float() would raise OverflowError
        (-(10**400), ValueShape.TEXT, True),
        (1e300, ValueShape.NUMBER, True),
        (math.inf, ValueShape.NUMBER, True),
        (math.nan, ValueShape.TEXT, True),
        (True, ValueShape.NUMBER, True),  # a boolean is no reading
        (False, ValueShape.TEXT, True),
        ("21.5", ValueShape.NUMBER, True),  # a string where a number was
        ("ok", ValueShape.TEXT, False),
        (5, ValueShape.TEXT, False),
        ("x" * MAX_STATE_LENGTH, ValueShape.TEXT, False),
        ("x" * (MAX_STATE_LENGTH + 1), ValueShape.TEXT, True),
        ("00" * 128, ValueShape.TEXT, True),  # a BTHome raw object of 128 bytes
        (b"bytes", ValueShape.TEXT, True),
        ([1], ValueShape.NUMBER, True),
        ("2026-06-01T11:00:00+00:00", ValueShape.TIMESTAMP, False),
        ("2026-06-01T11:00:00", ValueShape.TIMESTAMP, True),  # no zone
        ("yesterday", ValueShape.TIMESTAMP, True),
        ("2026-06-01T11:00:00+00:00" + " " * 300, ValueShape.TIMESTAMP, True),
        (12, ValueShape.TIMESTAMP, True),
        (b"x", ValueShape.TIMESTAMP, True),
    ],
)
def test_refusal(value: object, shape: ValueShape, refused: bool) -> None:
    reason = refusal(value, shape)
    assert (reason is not None) is refused, reason
    if reason is not None:
        assert len(reason) < 80  # fit for a debug line, never the whole value
