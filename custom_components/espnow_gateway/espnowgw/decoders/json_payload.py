"""JSON payloads: a UTF-8 JSON object of readings, the most common self-describing format.

Parsing: optional leading JSON whitespace, trailing NUL bytes (a C string's
terminator) ignored, at most :data:`MAX_PAYLOAD` bytes, UTF-8. Anything but an
object is an error (``DecodedPayload(kind=JSON, error=...)``).

Members, in document order:

* ``packet_id``, ``seq`` or ``id`` (top level, first of these present in that
  priority whose value is a non-negative integer) becomes
  ``DecodedPayload.packet_id`` and no measurement.
* ``button``, ``event``, ``action`` or ``button_N``/``buttonN`` (top level) with a
  string value naming a BTHome button event (``press``, ``double_press``,
  ``triple_press``, ``long_press``, ``long_double_press``, ``long_triple_press``,
  ``hold_press``, ``release``) or an alias (``single``/``click`` -> ``press``,
  ``double`` -> ``double_press``, ``triple`` -> ``triple_press``, ``long`` ->
  ``long_press``, ``hold`` -> ``hold_press``) becomes a :class:`ButtonEvent` with
  key ``button`` (``button_N`` for the numbered forms). Other strings there are
  text measurements.
* A nested object is flattened one level: ``{"env": {"temp": 1}}`` gives the key
  ``env_temp``, described by its inner name ``temp``. Deeper objects, arrays and
  ``null`` are ignored.
* ``true``/``false`` give a binary sensor; for the binary names below marked
  ``#`` numbers too (zero is off, anything else on). The others keep numbers as
  sensors (``"light": 523`` is more likely a light level than a light detector),
  so a key's entity type never depends on its value.
* Numbers give a sensor; NaN and infinities are ignored.
* Strings give a text sensor (no device class, unit or state class), cut to
  :data:`MAX_TEXT_LENGTH` characters.

Keys are normalised to snake_case slugs (``batteryVoltage`` -> ``battery_voltage``,
``PM2.5`` -> ``pm2_5``): ``[a-z0-9_]``, at most :data:`MAX_KEY_LENGTH` characters;
when two members normalise to the same key the first wins. At most
:data:`MAX_MEASUREMENTS` measurements and :data:`MAX_EVENTS` events per payload;
the rest is ignored.

Well-known sensor names (a trailing number, ``temp2`` or ``temp_2``, is ignored
for the lookup; unknown names: no device class, no unit, ``measurement``):

====================================================  ================================  ===========  ==================
name                                                  device class                      unit         state class
====================================================  ================================  ===========  ==================
temperature, temp, temperature_c, temp_c              temperature                       °C           measurement
temperature_f, temp_f                                 temperature                       °F           measurement
dew_point, dewpoint                                   temperature                       °C           measurement
humidity, hum, rh                                     humidity                          %            measurement
pressure, baro                                        pressure                          hPa          measurement
battery, bat, batt, battery_level                     battery                           %            measurement
voltage, volt, battery_voltage, vbat, vcc             voltage                           V            measurement
current                                               current                           A            measurement
power                                                 power                             W            measurement
energy                                                energy                            kWh          total_increasing
illuminance, lux                                      illuminance                       lx           measurement
co2, eco2                                             carbon_dioxide                    ppm          measurement
co                                                    carbon_monoxide                   ppm          measurement
tvoc, voc                                             volatile_organic_compounds_parts  ppb          measurement
pm1, pm1_0                                            pm1                               μg/m³        measurement
pm25, pm2_5                                           pm25                              μg/m³        measurement
pm10                                                  pm10                              μg/m³        measurement
moisture, soil_moisture                               moisture                          %            measurement
distance, distance_mm                                 distance                          mm           measurement
distance_cm                                           distance                          cm           measurement
distance_m                                            distance                          m            measurement
rssi                                                  signal_strength                   dBm          measurement
uptime                                                duration                          s            total_increasing
weight                                                weight                            kg           measurement
speed                                                 speed                             m/s          measurement
wind_speed                                            wind_speed                        m/s          measurement
frequency, freq                                       frequency                         Hz           measurement
noise, sound_level                                    sound_pressure                    dB           measurement
gas                                                   gas                               m³           total_increasing
water                                                 water                             L            total_increasing
uv, uv_index                                          (none)                            (none)       measurement
====================================================  ================================  ===========  ==================

Well-known binary names (HA ``BinarySensorDeviceClass`` values; on = true):

======================================================  ===================
name                                                    device class
======================================================  ===================
motion#, pir#                                           motion
occupancy#, occupied#                                   occupancy
presence#                                               presence
door#                                                   door
opening#, open#                                         opening
contact# (inverted: ``true`` = contact made = closed,   opening
as in Zigbee2MQTT)
window#                                                 window
leak#, water_leak#, moisture_detected#, wet#, moisture  moisture
smoke#                                                  smoke
tamper#                                                 tamper
battery_low#, low_battery#                              battery
charging#                                               battery_charging
problem#                                                problem
running#                                                running
moving#                                                 moving
connected#                                              connectivity
plug#                                                   plug
vibration                                               vibration
sound                                                   sound
light                                                   light
heat                                                    heat
cold                                                    cold
power                                                   power
gas                                                     gas
======================================================  ===================

Other booleans are binary sensors without a device class.

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
import json
import math
import re
from typing import Any, Final

from .. import model

MAX_PAYLOAD: Final = 4096
MAX_MEASUREMENTS: Final = 32
MAX_EVENTS: Final = 8
MAX_KEY_LENGTH: Final = 32
MAX_TEXT_LENGTH: Final = 255
MAX_MEMBERS: Final = 256
"""Members looked at per payload (top level and flattened together)."""

_MEASUREMENT: Final = "measurement"
_TOTAL_INCREASING: Final = "total_increasing"

type _SensorSpec = tuple[str | None, str | None, str | None]
"""(device class, unit, state class)."""


def _sensor_specs() -> dict[str, _SensorSpec]:
    specs: dict[str, _SensorSpec] = {}

    def add(names: str, device_class: str | None, unit: str | None, state: str) -> None:
        for name in names.split():
            specs[name] = (device_class, unit, state)

    add("temperature temp temperature_c temp_c", "temperature", "°C", _MEASUREMENT)
    add("temperature_f temp_f", "temperature", "°F", _MEASUREMENT)
    add("dew_point dewpoint", "temperature", "°C", _MEASUREMENT)
    add("humidity hum rh", "humidity", "%", _MEASUREMENT)
    add("pressure baro", "pressure", "hPa", _MEASUREMENT)
    add("battery bat batt battery_level", "battery", "%", _MEASUREMENT)
    add("voltage volt battery_voltage vbat vcc", "voltage", "V", _MEASUREMENT)
    add("current", "current", "A", _MEASUREMENT)
    add("power", "power", "W", _MEASUREMENT)
    add("energy", "energy", "kWh", _TOTAL_INCREASING)
    add("illuminance lux", "illuminance", "lx", _MEASUREMENT)
    add("co2 eco2", "carbon_dioxide", "ppm", _MEASUREMENT)
    add("co", "carbon_monoxide", "ppm", _MEASUREMENT)
    add("tvoc voc", "volatile_organic_compounds_parts", "ppb", _MEASUREMENT)
    add("pm1 pm1_0", "pm1", "\u03bcg/m³", _MEASUREMENT)
    add("pm25 pm2_5", "pm25", "\u03bcg/m³", _MEASUREMENT)
    add("pm10", "pm10", "\u03bcg/m³", _MEASUREMENT)
    add("moisture soil_moisture", "moisture", "%", _MEASUREMENT)
    add("distance distance_mm", "distance", "mm", _MEASUREMENT)
    add("distance_cm", "distance", "cm", _MEASUREMENT)
    add("distance_m", "distance", "m", _MEASUREMENT)
    add("rssi", "signal_strength", "dBm", _MEASUREMENT)
    add("uptime", "duration", "s", _TOTAL_INCREASING)
    add("weight", "weight", "kg", _MEASUREMENT)
    add("speed", "speed", "m/s", _MEASUREMENT)
    add("wind_speed", "wind_speed", "m/s", _MEASUREMENT)
    add("frequency freq", "frequency", "Hz", _MEASUREMENT)
    add("noise sound_level", "sound_pressure", "dB", _MEASUREMENT)
    add("gas", "gas", "m³", _TOTAL_INCREASING)
    add("water", "water", "L", _TOTAL_INCREASING)
    add("uv uv_index", None, None, _MEASUREMENT)
    return specs


SENSOR_SPECS: Final[Mapping[str, _SensorSpec]] = _sensor_specs()
_GENERIC_SENSOR: Final[_SensorSpec] = (None, None, _MEASUREMENT)

# name -> (binary device class, inverted, numbers are binary too)
BINARY_SPECS: Final[Mapping[str, tuple[str, bool, bool]]] = {
    "motion": ("motion", False, True),
    "pir": ("motion", False, True),
    "occupancy": ("occupancy", False, True),
    "occupied": ("occupancy", False, True),
    "presence": ("presence", False, True),
    "door": ("door", False, True),
    "opening": ("opening", False, True),
    "open": ("opening", False, True),
    "contact": ("opening", True, True),
    "window": ("window", False, True),
    "leak": ("moisture", False, True),
    "water_leak": ("moisture", False, True),
    "moisture_detected": ("moisture", False, True),
    "wet": ("moisture", False, True),
    "smoke": ("smoke", False, True),
    "tamper": ("tamper", False, True),
    "battery_low": ("battery", False, True),
    "low_battery": ("battery", False, True),
    "charging": ("battery_charging", False, True),
    "problem": ("problem", False, True),
    "running": ("running", False, True),
    "moving": ("moving", False, True),
    "connected": ("connectivity", False, True),
    "plug": ("plug", False, True),
    # Booleans only: a number under these names is a level or a reading.
    "moisture": ("moisture", False, False),
    "vibration": ("vibration", False, False),
    "sound": ("sound", False, False),
    "light": ("light", False, False),
    "heat": ("heat", False, False),
    "cold": ("cold", False, False),
    "power": ("power", False, False),
    "gas": ("gas", False, False),
}

PACKET_ID_KEYS: Final = ("packet_id", "seq", "id")
EVENT_KEYS: Final = frozenset({"button", "event", "action"})
BUTTON_EVENTS: Final = frozenset(model.BUTTON_EVENT_NAMES)
EVENT_ALIASES: Final[Mapping[str, str]] = {
    "single": "press",
    "click": "press",
    "double": "double_press",
    "triple": "triple_press",
    "long": "long_press",
    "hold": "hold_press",
}

_CAMEL_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")
_TRAILING_NUMBER: Final = re.compile(r"_?\d+$")
_NUMBERED_BUTTON: Final = re.compile(r"button_?(\d+)")
_EVENT_VALUE_SEPARATORS: Final = re.compile(r"[\s-]+")


@lru_cache(maxsize=1024)
def _urgent_tokens() -> tuple[bytes, ...]:
    words = {*BINARY_SPECS, *EVENT_KEYS, "true", "false"}
    return tuple(sorted({word.replace("_", "").encode() for word in words}))


URGENT_TOKENS: Final = _urgent_tokens()
_NOT_ALNUM: Final = bytes(
    b for b in range(256) if not chr(b).isascii() or not chr(b).isalnum()
)
_URGENT: Final = re.compile(b"|".join(re.escape(token) for token in URGENT_TOKENS))
# What can hide a name from that search: a ``\\u`` escape (``"\\u0064oor"`` is
# ``door``) and the only two characters whose lower case holds an ASCII letter or
# digit, U+0130 (İ, lower ``i̇``) and U+212A (the Kelvin sign, lower ``k``), in UTF-8.
# tests/lib/decoders/test_scan_agreement.py derives the two from Unicode.
CASE_FOLDING_TO_ASCII: Final = ("\u0130", "\u212a")
_HIDING: Final = re.compile(
    b"|".join(
        [re.escape(b"\\u"), *(re.escape(c.encode()) for c in CASE_FOLDING_TO_ASCII)]
    )
)


# Every digit as 0: what ``may_be_urgent`` cannot tell apart (no urgent name holds a
# digit, tested), so frames whose numbers alone change share one answer.
_DIGITS_AS_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")


def urgency_shape(payload: bytes) -> bytes:
    """Return what ``may_be_urgent`` depends on: ``payload`` with every digit as 0."""
    return payload.translate(_DIGITS_AS_ZERO)


def may_be_urgent(payload: bytes) -> bool:
    """Whether a JSON payload may carry a binary state or an event (decode it now).

    A conservative byte search, in the lower-cased payload stripped of everything
    but letters and digits, for every name of a binary sensor or an event and for
    JSON booleans: a member whose key normalises to such a name always matches.
    A payload with anything that could hide such a name from the search (a
    unicode escape, a non-ASCII character whose lower case is ASCII) is urgent too.
    False positives only cost an early decode; there are no false negatives.
    """
    return (
        _URGENT.search(payload.lower().translate(None, _NOT_ALNUM)) is not None
        or _HIDING.search(payload) is not None
    )


def normalize_key(raw: str) -> str:
    """Return ``raw`` as a snake_case slug of ``[a-z0-9_]``, empty if nothing is left."""
    slug = _NOT_SLUG.sub("_", _CAMEL_BOUNDARY.sub("_", raw).lower()).strip("_")
    return slug[:MAX_KEY_LENGTH].rstrip("_")


def lookup_spec[T](table: Mapping[str, T], name: str) -> T | None:
    """Look ``name`` up in :data:`SENSOR_SPECS` or :data:`BINARY_SPECS` (trailing number ignored)."""
    found = table.get(name)
    if found is None:
        stripped = _TRAILING_NUMBER.sub("", name)
        if stripped != name:
            found = table.get(stripped)
    return found


def _reject_constant(_name: str) -> None:
    """Turn NaN, Infinity and -Infinity into ``null`` (ignored)."""


def parse_json_object(payload: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Parse ``payload`` as a JSON object: ``(object, None)`` or ``(None, error)``."""
    if len(payload) > MAX_PAYLOAD:
        return None, f"json payload larger than {MAX_PAYLOAD} bytes"
    try:
        text = payload.rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError:
        return None, "json payload is not valid UTF-8"
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        return None, f"invalid json: {err}"[:120]
    if not isinstance(obj, dict):
        return None, "json payload is not an object"
    return obj, None


def decode_json(payload: bytes) -> model.DecodedPayload:
    """Decode a JSON payload. Never raises."""
    obj, error = parse_json_object(payload)
    if obj is None:
        return model.DecodedPayload(kind=model.PayloadKind.JSON, error=error)
    return decode_json_object(obj)


def _event_type(value: str) -> str | None:
    name = _EVENT_VALUE_SEPARATORS.sub("_", value.strip().lower())
    if name in BUTTON_EVENTS:
        return name
    return EVENT_ALIASES.get(name)


def _event_key(key: str) -> str | None:
    if key in EVENT_KEYS:
        return "button"
    if match := _NUMBERED_BUTTON.fullmatch(key):
        return f"button_{int(match.group(1))}"
    return None


def _packet_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _binary(
    key: str, spec: tuple[str, bool, bool] | None, on: bool
) -> model.Measurement:
    device_class, inverted = (spec[0], spec[1]) if spec is not None else (None, False)
    return model.Measurement(
        key=key,
        value=on != inverted,
        device_class=device_class,
        unit=None,
        state_class=None,
        binary=True,
    )


def _measurement(key: str, name: str, value: object) -> model.Measurement | None:
    """Describe ``value`` (member ``key``, looked up as ``name``), or ``None`` to skip."""
    if isinstance(value, bool):
        return _binary(key, lookup_spec(BINARY_SPECS, name), value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        binary = lookup_spec(BINARY_SPECS, name)
        if binary is not None and binary[2]:
            return _binary(key, binary, value != 0)
        device_class, unit, state_class = (
            lookup_spec(SENSOR_SPECS, name) or _GENERIC_SENSOR
        )
        return model.Measurement(
            key=key,
            value=value,
            device_class=device_class,
            unit=unit,
            state_class=state_class,
        )
    if isinstance(value, str):
        return model.Measurement(
            key=key,
            value=value[:MAX_TEXT_LENGTH],
            device_class=None,
            unit=None,
            state_class=None,
        )
    return None  # null, arrays, objects nested too deep


def _find_packet_id(members: list[tuple[str, Any]]) -> tuple[int | None, int]:
    """Return the packet id and the index of its member (-1 if none)."""
    for candidate in PACKET_ID_KEYS:
        for index, (key, value) in enumerate(members):
            if key == candidate and (packet_id := _packet_id(value)) is not None:
                return packet_id, index
    return None, -1


class _Collector:
    """Measurements and events of one payload, with the limits applied."""

    __slots__ = ("budget", "event_keys", "events", "keys", "measurements")

    def __init__(self, reserved_key: str | None) -> None:
        self.measurements: list[model.Measurement] = []
        self.events: list[model.ButtonEvent] = []
        self.keys: set[str] = set() if reserved_key is None else {reserved_key}
        self.event_keys: set[str] = set()
        self.budget = MAX_MEMBERS

    def add_value(self, key: str, name: str, value: object) -> None:
        if key in self.keys or len(self.measurements) >= MAX_MEASUREMENTS:
            return
        if (measurement := _measurement(key, name, value)) is not None:
            self.keys.add(key)
            self.measurements.append(measurement)

    def add_event(self, key: str, event_type: str) -> None:
        if key not in self.event_keys and len(self.events) < MAX_EVENTS:
            self.event_keys.add(key)
            self.events.append(model.ButtonEvent(key=key, event_type=event_type))

    def add_member(self, key: str, value: object) -> None:
        if isinstance(value, dict):
            for inner_raw, inner_value in value.items():
                if self.budget <= 0:
                    return
                self.budget -= 1
                if inner := normalize_key(inner_raw):
                    flat = f"{key}_{inner}"[:MAX_KEY_LENGTH].rstrip("_")
                    self.add_value(flat, inner, inner_value)
        elif (
            isinstance(value, str)
            and (event_key := _event_key(key)) is not None
            and (event_type := _event_type(value)) is not None
        ):
            self.add_event(event_key, event_type)
        else:
            self.add_value(key, key, value)


def decode_json_object(obj: Mapping[str, Any]) -> model.DecodedPayload:
    """Decode an already parsed JSON object (see the module docstring)."""
    members: list[tuple[str, Any]] = []
    for raw_key, value in obj.items():
        if len(members) >= MAX_MEMBERS:
            break
        if key := normalize_key(raw_key):
            members.append((key, value))
    packet_id, packet_id_index = _find_packet_id(members)
    collector = _Collector(
        members[packet_id_index][0] if packet_id is not None else None
    )
    for index, (key, value) in enumerate(members):
        if collector.budget <= 0:
            break
        collector.budget -= 1
        if index != packet_id_index:
            collector.add_member(key, value)
    return model.DecodedPayload(
        kind=model.PayloadKind.JSON,
        measurements=tuple(collector.measurements),
        events=tuple(collector.events),
        packet_id=packet_id,
    )
