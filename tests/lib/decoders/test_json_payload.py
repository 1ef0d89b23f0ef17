"""JSON payloads: ``decoders.json_payload``."""

from __future__ import annotations

import json
import math
import re

from hypothesis import given, strategies as st
import pytest

from espnowgw.decoders.json_payload import BINARY_SPECS, MAX_EVENTS, MAX_KEY_LENGTH, MAX_MEASUREMENTS, MAX_MEMBERS, MAX_PAYLOAD, MAX_TEXT_LENGTH, SENSOR_SPECS, decode_json, decode_json_object, normalize_key, parse_json_object
from espnowgw.model import ButtonEvent, DecodedPayload, Measurement, PayloadKind

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9_]*[a-z0-9])?")


def decode(obj: object) -> DecodedPayload:
    return decode_json(json.dumps(obj).encode())


def only(obj: object) -> Measurement:
    (measurement,) = decode(obj).measurements
    return measurement


# --- well-known names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "device_class", "unit", "state_class"),
    [
        ("temperature", "temperature", "°C", "measurement"),
        ("temp", "temperature", "°C", "measurement"),
        ("tempF", "temperature", "°F", "measurement"),
        ("dewpoint", "temperature", "°C", "measurement"),
        ("humidity", "humidity", "%", "measurement"),
        ("hum", "humidity", "%", "measurement"),
        ("pressure", "pressure", "hPa", "measurement"),
        ("battery", "battery", "%", "measurement"),
        ("bat", "battery", "%", "measurement"),
        ("voltage", "voltage", "V", "measurement"),
        ("battery_voltage", "voltage", "V", "measurement"),
        ("batteryVoltage", "voltage", "V", "measurement"),
        ("illuminance", "illuminance", "lx", "measurement"),
        ("lux", "illuminance", "lx", "measurement"),
        ("co2", "carbon_dioxide", "ppm", "measurement"),
        ("CO2", "carbon_dioxide", "ppm", "measurement"),
        ("pm25", "pm25", "\u03bcg/m³", "measurement"),
        ("pm2_5", "pm25", "\u03bcg/m³", "measurement"),
        ("PM2.5", "pm25", "\u03bcg/m³", "measurement"),
        ("pm10", "pm10", "\u03bcg/m³", "measurement"),
        ("pm1", "pm1", "\u03bcg/m³", "measurement"),
        ("power", "power", "W", "measurement"),
        ("energy", "energy", "kWh", "total_increasing"),
        ("current", "current", "A", "measurement"),
        ("moisture", "moisture", "%", "measurement"),
        ("distance", "distance", "mm", "measurement"),
        ("distance_cm", "distance", "cm", "measurement"),
        ("rssi", "signal_strength", "dBm", "measurement"),
        ("uptime", "duration", "s", "total_increasing"),
        ("tvoc", "volatile_organic_compounds_parts", "ppb", "measurement"),
        ("uv", None, None, "measurement"),
        ("temp2", "temperature", "°C", "measurement"),
        ("temperature_3", "temperature", "°C", "measurement"),
        ("whatever", None, None, "measurement"),
        ("pm", None, None, "measurement"),
    ],
)
def test_numeric_names(
    key: str, device_class: str | None, unit: str | None, state_class: str
) -> None:
    m = only({key: 21})
    assert (m.device_class, m.unit, m.state_class, m.binary) == (
        device_class,
        unit,
        state_class,
        False,
    )
    assert m.value == 21


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            {"motion": True},
            Measurement("motion", True, "motion", None, None, binary=True),
        ),
        (
            {"motion": 0},
            Measurement("motion", False, "motion", None, None, binary=True),
        ),
        ({"pir": 1}, Measurement("pir", True, "motion", None, None, binary=True)),
        ({"door": False}, Measurement("door", False, "door", None, None, binary=True)),
        (
            {"window2": 1.0},
            Measurement("window2", True, "window", None, None, binary=True),
        ),
        (
            {"leak": True},
            Measurement("leak", True, "moisture", None, None, binary=True),
        ),
        (
            {"moisture_detected": 1},
            Measurement("moisture_detected", True, "moisture", None, None, binary=True),
        ),
        (
            {"presence": True},
            Measurement("presence", True, "presence", None, None, binary=True),
        ),
        (
            {"occupancy": True},
            Measurement("occupancy", True, "occupancy", None, None, binary=True),
        ),
        # contact: true = contact made = closed (Zigbee2MQTT), HA opening: on = open
        (
            {"contact": True},
            Measurement("contact", False, "opening", None, None, binary=True),
        ),
        (
            {"contact": 0},
            Measurement("contact", True, "opening", None, None, binary=True),
        ),
        # number and boolean names that are also sensors
        (
            {"moisture": True},
            Measurement("moisture", True, "moisture", None, None, binary=True),
        ),
        ({"power": True}, Measurement("power", True, "power", None, None, binary=True)),
        ({"power": 1}, Measurement("power", 1, "power", "W", "measurement")),
        ({"light": 1}, Measurement("light", 1, None, None, "measurement")),
        ({"light": True}, Measurement("light", True, "light", None, None, binary=True)),
        ({"motion": 2}, Measurement("motion", True, "motion", None, None, binary=True)),
        # unknown boolean: binary sensor without a device class
        ({"relay": True}, Measurement("relay", True, None, None, None, binary=True)),
    ],
)
def test_binary(obj: dict[str, object], expected: Measurement) -> None:
    assert decode(obj).measurements == (expected,)


def test_strings_are_text_sensors() -> None:
    assert only({"status": "ok"}) == Measurement("status", "ok", None, None, None)
    assert only({"door": "open"}) == Measurement("door", "open", None, None, None)
    long_text = "x" * 1000
    assert only({"msg": long_text}).value == "x" * MAX_TEXT_LENGTH


# --- events ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "event"),
    [
        ({"button": "press"}, ButtonEvent("button", "press")),
        ({"button": "single"}, ButtonEvent("button", "press")),
        ({"button": "click"}, ButtonEvent("button", "press")),
        ({"button": "double"}, ButtonEvent("button", "double_press")),
        ({"button": "Double Press"}, ButtonEvent("button", "double_press")),
        ({"button": "triple"}, ButtonEvent("button", "triple_press")),
        ({"event": "long"}, ButtonEvent("button", "long_press")),
        ({"action": "hold"}, ButtonEvent("button", "hold_press")),
        ({"action": "long-double-press"}, ButtonEvent("button", "long_double_press")),
        ({"button": "long_triple_press"}, ButtonEvent("button", "long_triple_press")),
        ({"button": "release"}, ButtonEvent("button", "release")),
        ({"button_2": "press"}, ButtonEvent("button_2", "press")),
        ({"button2": "press"}, ButtonEvent("button_2", "press")),
        ({"Button02": "press"}, ButtonEvent("button_2", "press")),
    ],
)
def test_events(obj: dict[str, object], event: ButtonEvent) -> None:
    result = decode(obj)
    assert result.events == (event,)
    assert result.measurements == ()


def test_non_event_strings_and_numbers_under_event_names() -> None:
    result = decode({"action": "open_door", "button": 1, "buttons": "press"})
    assert result.events == ()
    assert result.measurements == (
        Measurement("action", "open_door", None, None, None),
        Measurement("button", 1, None, None, "measurement"),
        Measurement("buttons", "press", None, None, None),
    )


def test_one_event_per_key_and_at_most_max_events() -> None:
    result = decode({"button": "press", "event": "double"})
    assert result.events == (ButtonEvent("button", "press"),)
    many = decode({f"button_{i}": "press" for i in range(MAX_EVENTS + 5)})
    assert len(many.events) == MAX_EVENTS


def test_events_only_at_top_level() -> None:
    result = decode({"remote": {"button": "press"}})
    assert result.events == ()
    assert result.measurements == (
        Measurement("remote_button", "press", None, None, None),
    )


# --- packet id ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "packet_id", "keys"),
    [
        ({"packet_id": 7, "t": 1}, 7, ["t"]),
        ({"seq": 8}, 8, []),
        ({"id": 9}, 9, []),
        ({"packetId": 10}, 10, []),
        # priority packet_id > seq > id, whatever the order; the others are sensors
        ({"id": 1, "seq": 2, "packet_id": 3}, 3, ["id", "seq"]),
        ({"id": 1, "seq": 2}, 2, ["id"]),
        # not a non-negative integer: a normal member
        ({"seq": -1}, None, ["seq"]),
        ({"seq": 1.5}, None, ["seq"]),
        ({"seq": True}, None, ["seq"]),
        ({"id": "node-7"}, None, ["id"]),
        ({"id": "node-7", "ID": 4}, 4, []),
        # the same name twice after normalisation: the first valid one, no sensor
        ({"seq": 5, "Seq": 6}, 5, []),
    ],
)
def test_packet_id(
    obj: dict[str, object], packet_id: int | None, keys: list[str]
) -> None:
    result = decode(obj)
    assert result.packet_id == packet_id
    assert [m.key for m in result.measurements] == keys


def test_nested_packet_id_is_just_a_sensor() -> None:
    result = decode({"meta": {"seq": 3}})
    assert result.packet_id is None
    assert result.measurements[0].key == "meta_seq"


# --- structure ---------------------------------------------------------------------


def test_one_level_of_nesting_is_flattened() -> None:
    result = decode(
        {"env": {"temp": 21.5, "hum": 40, "deeper": {"x": 1}, "list": [1, 2]}, "a": [1]}
    )
    assert result.measurements == (
        Measurement("env_temp", 21.5, "temperature", "°C", "measurement"),
        Measurement("env_hum", 40, "humidity", "%", "measurement"),
    )


def test_nulls_arrays_and_non_finite_numbers_are_ignored() -> None:
    payload = b'{"a": null, "b": [1], "c": NaN, "d": Infinity, "e": -Infinity, "f": 1e999, "motion": NaN, "g": 2}'
    assert [m.key for m in decode_json(payload).measurements] == ["g"]


def test_keys_are_normalised() -> None:
    result = decode(
        {
            "Outdoor Temp": 1,
            "batteryVoltage": 2,
            "--x--": 3,
            "!!!": 4,
            "": 5,
            "k" * 40: 6,
            "a" * 31 + "_b": 7,
        }
    )
    assert [m.key for m in result.measurements] == [
        "outdoor_temp",
        "battery_voltage",
        "x",
        "k" * MAX_KEY_LENGTH,
        "a" * 31,
    ]


def test_flattened_keys_are_cut_to_the_maximum() -> None:
    result = decode({"o" * 30: {"temp": 1}})
    assert result.measurements[0].key == "o" * 30 + "_t"
    assert result.measurements[0].device_class == "temperature"


def test_first_of_colliding_keys_wins() -> None:
    result = decode({"Temp": 1, "temp": 2, "x": {"y": 3}, "x_y": 4})
    assert [(m.key, m.value) for m in result.measurements] == [
        ("temp", 1),
        ("x_y", 3),
    ]


def test_at_most_max_measurements() -> None:
    result = decode({f"v{i}": i for i in range(100)})
    assert len(result.measurements) == MAX_MEASUREMENTS
    assert result.measurements[-1].key == f"v{MAX_MEASUREMENTS - 1}"


def test_members_looked_at_are_bounded() -> None:
    obj = {f"n{i}": None for i in range(MAX_MEMBERS)} | {"late": 1}
    assert decode(obj).measurements == ()
    nested = {"a": {f"n{i}": None for i in range(MAX_MEMBERS)}, "late": 1}
    assert decode(nested).measurements == ()
    deep = {"a": {f"n{i}": None for i in range(MAX_MEMBERS - 3)}, "b": {"x": 1, "y": 2}}
    assert [m.key for m in decode(deep).measurements] == ["b_x"]


def test_decode_json_object_directly() -> None:
    assert decode_json_object({"t": 1}) == DecodedPayload(
        kind=PayloadKind.JSON,
        measurements=(Measurement("t", 1, None, None, "measurement"),),
    )


# --- parsing -----------------------------------------------------------------------


def test_whitespace_and_trailing_nul_are_accepted() -> None:
    assert decode_json(b' \r\n\t{"temp": 1}\x00\x00').measurements[0].key == "temp"


def test_empty_object() -> None:
    assert decode_json(b"{}") == DecodedPayload(kind=PayloadKind.JSON)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", "invalid json: Expecting value: line 1 column 1 (char 0)"),
        (b'{"a": 1', "invalid json: Expecting ',' delimiter: line 1 column 8 (char 7)"),
        (b"[1, 2]", "json payload is not an object"),
        (b'"x"', "json payload is not an object"),
        (b'{"a": "\xff"}', "json payload is not valid UTF-8"),
        (b"{" * 100_000, f"json payload larger than {MAX_PAYLOAD} bytes"),
    ],
)
def test_errors(payload: bytes, error: str) -> None:
    assert decode_json(payload) == DecodedPayload(kind=PayloadKind.JSON, error=error)


def test_deep_nesting_within_the_size_limit_does_not_crash() -> None:
    payload = b'{"a":' + b"[" * 2040 + b"]" * 2040 + b"}"
    assert len(payload) <= MAX_PAYLOAD
    assert decode_json(payload) == DecodedPayload(kind=PayloadKind.JSON)


def test_recursion_error_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_args: object, **_kwargs: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(json, "loads", explode)
    assert parse_json_object(b"{}") == (
        None,
        "invalid json: maximum recursion depth exceeded",
    )


def test_parse_json_object() -> None:
    assert parse_json_object(b'{"a": 1}') == ({"a": 1}, None)


# --- properties --------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
)
_names = st.text(max_size=40) | st.sampled_from(
    sorted(SENSOR_SPECS)
    + sorted(BINARY_SPECS)
    + ["button", "event", "action", "button_3", "seq", "id", "packet_id"]
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_names, children, max_size=6)
    ),
    max_leaves=40,
)


@given(st.dictionaries(_names, _values, max_size=60))
def test_any_object_gives_a_bounded_well_formed_result(obj: dict[str, object]) -> None:
    payload = json.dumps(obj).encode()
    result = decode_json(payload)
    assert result.kind is PayloadKind.JSON
    if result.error is not None:
        assert len(payload) > MAX_PAYLOAD
        return
    assert len(result.measurements) <= MAX_MEASUREMENTS
    assert len(result.events) <= MAX_EVENTS
    keys = [m.key for m in result.measurements]
    assert len(keys) == len(set(keys))
    for m in result.measurements:
        assert SLUG.fullmatch(m.key)
        assert len(m.key) <= MAX_KEY_LENGTH
        assert isinstance(m.value, bool) == m.binary
        if isinstance(m.value, float):
            assert math.isfinite(m.value)
        if isinstance(m.value, str):
            assert len(m.value) <= MAX_TEXT_LENGTH
    assert result.packet_id is None or result.packet_id >= 0


@given(st.binary(max_size=300))
def test_any_bytes_never_raise(payload: bytes) -> None:
    assert decode_json(payload).kind is PayloadKind.JSON


@given(st.text(max_size=60))
def test_normalize_key_gives_a_slug_or_nothing(raw: str) -> None:
    key = normalize_key(raw)
    assert key == "" or (SLUG.fullmatch(key) and len(key) <= MAX_KEY_LENGTH)
