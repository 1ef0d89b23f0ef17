"""BTHome v2 payloads received over ESP-NOW, decoded with bthome-ble.

The ESP-NOW payload holds what a BLE advertisement would carry as BTHome service
data: the device-info byte, an optional 6-byte MAC, and the objects (encrypted:
ciphertext, 4-byte counter, 4-byte MIC). :class:`BTHomeDecoder` wraps it in a
``habluetooth.BluetoothServiceInfoBleak`` whose ``address`` is the peer's ESP-NOW
source MAC (part of the AES-CCM nonce: MAC + ``D2 FC`` + device info + counter) and
feeds one ``bthome_ble.BTHomeBluetoothDeviceData`` per peer, which keeps the
packet-id and encryption-counter state.

How bthome-ble's behaviour is adapted (pitfalls found in bthome-ble 3.23.4):

* **Duplicate filter.** bthome-ble drops a packet whose packet id is not newer
  than the last one if it arrives within 4 s (``service_info.time``), and drops an
  encrypted packet identical to the previous one if it arrives more than 4 s
  later. Both checks compare against the parser's ``last_service_info``; the
  decoder clears it before every update, so every frame is decoded, repeats
  included. Duplicate suppression is the coordinator's job, using
  ``DecodedPayload.packet_id``. (Only faking ``time`` would not do: the two
  checks use opposite sides of the 4 s window.)
* **Accumulated values.** The ``SensorUpdate`` returned by ``update()`` holds every
  sensor value seen since the parser was created (only ``events`` is per update).
  The parser subclass takes each value, binary value and event as bthome-ble reports
  it (``update_sensor``, ``update_binary_sensor``, ``fire_event``, the hooks
  sensor-state-data gives its parsers) into plain records of the current update,
  and only those are mapped. It keeps nothing of a frame after its decode, neither
  those records nor bthome-ble's own objects for them (``DeviceKey``,
  ``SensorValue``, …) nor the frame's service info: what outlives a decode until the
  peer's next one (half a second and more) is promoted to the garbage collector's
  oldest generation, and enough of that (thousands of peers) makes Python run a
  full collection, which stops every thread, every few tens of seconds.
* ``supported()`` is never called: it runs a full parse that would consume the
  frame's events.
* Encrypted frames: the result is checked through the parser's public
  ``decryption_failed`` flag and ``encryption_counter`` (set to the frame's counter
  only on success, so a replayed, older counter is recognised too). A missing or
  wrong key and a replayed counter give ``decryption_failed=True`` with no values
  and no ``error`` (that is for malformed payloads); an equal counter is accepted,
  as bthome-ble does.
* Frames bthome-ble would reject with a log line on every frame (version other
  than 2, encrypted without a key, plaintext from a peer with a key, too short
  to decrypt) are answered here without calling it, and what it would still log
  about a frame being decoded (a wrong MIC, a replayed counter, unordered objects,
  a text that is not UTF-8) is dropped: any sender could flood the log with it.

Mapping to :class:`~.model.Measurement`: keys are bthome-ble's (``temperature``;
``temperature_1``, ``temperature_2`` when an object type occurs twice in one
packet; one measurement per key), except the binary sensors whose name a sensor
has too: ``battery_low``, ``gas_detected``, ``moisture_detected``, ``power_on``; device classes and units are Home Assistant's strings (bthome-ble's
``mass`` is HA's ``weight``, ``dew_point`` is a ``temperature``, the micro sign in
``µg/m³``/``µS/cm`` becomes HA's Greek mu ``μ``); state classes follow HA's
``bthome`` integration (``total`` for energy, gas, volume and water). Timestamps
become ISO 8601 strings. ``signal_strength`` is dropped (the gateway reports
RSSI) and ``packet_id`` goes to ``DecodedPayload.packet_id``.

No Home Assistant imports (bthome-ble, habluetooth and sensor-state-data are
plain libraries).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
import logging
import re
import threading
import time
from types import MappingProxyType
from typing import Final, override

from bthome_ble import BTHomeBluetoothDeviceData, SensorDeviceClass, SensorUpdate, Units
from bthome_ble.const import MEAS_TYPES
from habluetooth import BluetoothServiceInfoBleak
from sensor_state_data import BinarySensorDeviceClass
from sensor_state_data.description import BaseSensorDescription

from .. import model
from ..mac import mac_to_str

_LOGGER = logging.getLogger(__name__)

SERVICE_DATA_UUID: Final = "0000fcd2-0000-1000-8000-00805f9b34fb"
SERVICE_DATA_UUID_BYTES: Final = b"\xd2\xfc"  # 0xFCD2, little-endian

# Device-info byte.
FLAG_ENCRYPTED: Final = 0x01
FLAG_MAC_INCLUDED: Final = 0x02
FLAG_TRIGGER_BASED: Final = 0x04
_RESERVED_AND_VERSION_MASK: Final = 0xF8  # bits 3-7
_VERSION_2_NO_RESERVED: Final = 0x40  # version 2 in bits 5-7, bits 3-4 clear
_VERSION_SHIFT: Final = 5
INCLUDED_MAC_LENGTH: Final = 6
COUNTER_LENGTH: Final = 4
MIC_LENGTH: Final = 4
MIN_CIPHERTEXT_LENGTH: Final = 2  # one object: id + 1 byte (bthome-ble's minimum)

# Object sizes, from bthome-ble's public object table so the detector agrees
# with the parser. Fixed-size objects map to their data length; these two
# markers stand for the variable-length encodings.
VARIABLE_LENGTH: Final = -1  # id, length byte, ``length`` bytes (text, raw)
COMMAND_LENGTH: Final = -2  # id, length byte (low 5 bits: args), opcode, args
_COMMAND_ARGS_MASK: Final = 0x1F


def _build_object_sizes() -> Mapping[int, int]:
    sizes: dict[int, int] = {}
    for object_id, meas in MEAS_TYPES.items():
        if meas.data_format == "command":
            sizes[object_id] = COMMAND_LENGTH
        elif meas.data_format in ("string", "raw"):
            sizes[object_id] = VARIABLE_LENGTH
        else:
            sizes[object_id] = meas.data_length
    return MappingProxyType(sizes)


OBJECT_SIZES: Final = _build_object_sizes()
"""BTHome v2 object id -> data length in bytes, or a variable-length marker."""

_MEASUREMENT: Final = "measurement"
_TOTAL: Final = "total"

# bthome-ble sensor device class -> (HA device class, HA state class). Values
# not listed (a newer bthome-ble) fall back to no device class and
# "measurement" for numbers.
_SENSOR_CLASSES: Final[Mapping[str, tuple[str | None, str | None]]] = {
    # Same value in HA's SensorDeviceClass.
    "battery": ("battery", _MEASUREMENT),
    "carbon_dioxide": ("carbon_dioxide", _MEASUREMENT),
    "conductivity": ("conductivity", _MEASUREMENT),
    "current": ("current", _MEASUREMENT),
    "distance": ("distance", _MEASUREMENT),
    "duration": ("duration", _MEASUREMENT),
    "humidity": ("humidity", _MEASUREMENT),
    "illuminance": ("illuminance", _MEASUREMENT),
    "moisture": ("moisture", _MEASUREMENT),
    "pm10": ("pm10", _MEASUREMENT),
    "pm25": ("pm25", _MEASUREMENT),
    "power": ("power", _MEASUREMENT),
    "precipitation": ("precipitation", _MEASUREMENT),
    "pressure": ("pressure", _MEASUREMENT),
    "speed": ("speed", _MEASUREMENT),
    "temperature": ("temperature", _MEASUREMENT),
    "volatile_organic_compounds": ("volatile_organic_compounds", _MEASUREMENT),
    "voltage": ("voltage", _MEASUREMENT),
    "volume_flow_rate": ("volume_flow_rate", _MEASUREMENT),
    "volume_storage": ("volume_storage", _MEASUREMENT),
    # Totals, as HA's bthome integration declares them.
    "energy": ("energy", _TOTAL),
    "gas": ("gas", _TOTAL),
    "volume": ("volume", _TOTAL),
    "water": ("water", _TOTAL),
    # Different name in HA.
    "dew_point": ("temperature", _MEASUREMENT),
    "mass": ("weight", _MEASUREMENT),
    "timestamp": ("timestamp", None),
    # No HA device class.
    "acceleration": (None, _MEASUREMENT),
    "channel": (None, _MEASUREMENT),
    "count": (None, _MEASUREMENT),
    "direction": (None, _MEASUREMENT),
    "gyroscope": (None, _MEASUREMENT),
    "light_level": (None, _MEASUREMENT),
    "rotation": (None, _MEASUREMENT),
    "rotational_speed": (None, _MEASUREMENT),
    "uv_index": (None, _MEASUREMENT),
    "raw": (None, None),
    "settings_revision": (None, None),
    "text": (None, None),
}

# sensor-state-data units that HA spells differently (HA uses U+03BC GREEK SMALL
# LETTER MU, sensor-state-data U+00B5 MICRO SIGN). All others are identical.
_UNITS: Final[Mapping[str, str]] = {
    "\u00b5g/m³": "\u03bcg/m³",
    "\u00b5S/cm": "\u03bcS/cm",
}

# Binary device classes: identical in HA, except "generic" (no device class).
_BINARY_GENERIC: Final = BinarySensorDeviceClass.GENERIC.value

# A peer's keys name its sensors and binary sensors alike, so they must differ:
# bthome-ble calls a battery level and a battery-low flag both "battery". The
# binary ones of the names both use get a key of their own, stable per peer.
_BINARY_RENAMES: Final[Mapping[str, str]] = {
    "battery": "battery_low",
    "gas": "gas_detected",
    "moisture": "moisture_detected",
    "power": "power_on",
}
SENSOR_KEYS: Final = frozenset(
    str(meas.meas_format.device_class)
    for meas in MEAS_TYPES.values()
    if isinstance(meas.meas_format, BaseSensorDescription)
)
_NUMBERED: Final = re.compile(r"(.+?)(_\d+)?")


def binary_key(key: str) -> str:
    """Return the key of bthome-ble's binary sensor ``key`` (``battery_2`` too)."""
    match = _NUMBERED.fullmatch(key)
    if match is None or match.group(1) not in SENSOR_KEYS:
        return key
    base = match.group(1)
    return _BINARY_RENAMES.get(base, f"{base}_state") + (match.group(2) or "")


_PACKET_ID: Final = SensorDeviceClass.PACKET_ID.value
_SIGNAL_STRENGTH: Final = SensorDeviceClass.SIGNAL_STRENGTH.value


def _walk_objects(data: bytes, start: int, *, ordered: bool) -> bool:
    """Return whether ``data[start:]`` is a complete sequence of known objects."""
    end = len(data)
    pos = start
    previous = 0
    while pos < end:
        object_id = data[pos]
        size = OBJECT_SIZES.get(object_id)
        if size is None or (ordered and object_id < previous):
            return False
        previous = object_id
        if size >= 0:
            pos += 1 + size
        elif pos + 1 >= end:
            return False
        elif size == VARIABLE_LENGTH:
            pos += 2 + data[pos + 1]
        else:
            pos += 3 + (data[pos + 1] & _COMMAND_ARGS_MASK)
    return pos == end and end > start


# Objects whose value must reach Home Assistant at once: binary states and events.
# Everything else is a measurement, of which only the latest value matters.
URGENT_OBJECT_IDS: Final = frozenset(
    object_id
    for object_id, meas in MEAS_TYPES.items()
    if type(meas.meas_format).__name__ != "BaseSensorDescription"
)
_PACKET_ID_OBJECT: Final = 0x00


def is_v2_device_info(info: int) -> bool:
    """Whether ``info`` is a BTHome v2 device-info byte (version 2, reserved bits clear)."""
    return info & _RESERVED_AND_VERSION_MASK == _VERSION_2_NO_RESERVED


def scan(data: bytes) -> tuple[bool, int | None]:
    """Look at service data without decoding it: ``(urgent, packet_id)``.

    ``urgent`` is False only for unencrypted payloads that are a complete walk of
    measurement objects in id order (what :func:`is_plausible_bthome` accepts, so
    format detection agrees); those may be decoded later (only the latest value
    matters), and ``packet_id`` is then the decoder's. Anything else (binary
    states, events, encryption, unknown, variable-length or unordered objects, a
    truncated walk) is urgent, and the decoder decides what it is.
    """
    if not data or data[0] & _RESERVED_AND_VERSION_MASK != _VERSION_2_NO_RESERVED:
        return True, None
    info = data[0]
    if info & FLAG_ENCRYPTED:
        return True, None
    start = pos = 1 + (INCLUDED_MAC_LENGTH if info & FLAG_MAC_INCLUDED else 0)
    end = len(data)
    packet_id: int | None = None
    previous = 0
    while pos < end:
        object_id = data[pos]
        size = OBJECT_SIZES.get(object_id)
        if (
            size is None
            or size < 0
            or object_id in URGENT_OBJECT_IDS
            or object_id < previous
        ):
            return True, None
        previous = object_id
        if object_id == _PACKET_ID_OBJECT and pos + 1 < end:
            packet_id = data[pos + 1]
        pos += 1 + size
    if pos != end or end == start:
        return True, None
    return False, packet_id


def is_plausible_bthome(data: bytes) -> bool:
    """Return whether ``data`` looks like bare BTHome v2 service data (see formats)."""
    if not data or data[0] & _RESERVED_AND_VERSION_MASK != _VERSION_2_NO_RESERVED:
        return False
    info = data[0]
    start = 1 + (INCLUDED_MAC_LENGTH if info & FLAG_MAC_INCLUDED else 0)
    if info & FLAG_ENCRYPTED:
        return len(data) >= start + MIN_CIPHERTEXT_LENGTH + COUNTER_LENGTH + MIC_LENGTH
    return _walk_objects(data, start, ordered=True)


class _ParserLogFilter(logging.Filter):
    """Keep bthome-ble quiet about the frame this module is decoding.

    bthome-ble logs a warning or an error for every frame with a wrong MIC, a
    replayed counter, unordered objects or a text that is not UTF-8: frames that
    anyone may send, so a log line each would let any sender flood the log. While
    :class:`BTHomeDecoder` runs the parser (on this thread) its records are dropped;
    the decoder reports the outcome (``decryption_failed``, ``error``) instead, and
    Home Assistant's own BTHome integration, which shares the logger, is unaffected.
    """

    def __init__(self) -> None:
        super().__init__()
        self.decoding_thread: int | None = None

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.decoding_thread


_PARSER_LOG_FILTER: Final = _ParserLogFilter()
logging.getLogger("bthome_ble.parser").addFilter(_PARSER_LOG_FILTER)


type SensorValueType = str | int | float | date | datetime | Decimal | None


class _RecordingParser(BTHomeBluetoothDeviceData):
    """bthome-ble's parser, recording what the current update reported, and only that.

    Keyed by bthome-ble's key: when two objects share one (0x4B and 0x4C are both
    "gas"), the key keeps its first place and the last value, as bthome-ble does.
    """

    def __init__(self, bindkey: bytes | None) -> None:
        super().__init__(bindkey=bindkey)
        # key: (device class, unit, value)
        self.sensors: dict[str, tuple[str | None, str | None, SensorValueType]] = {}
        # key: (device class, value)
        self.binaries: dict[str, tuple[str | None, bool | None]] = {}
        # key: (event type, event properties)
        self.events: dict[str, tuple[str, Mapping[str, object] | None]] = {}

    def forget(self) -> None:
        """Drop what the latest update recorded (its decode is done)."""
        self.sensors.clear()
        self.binaries.clear()
        self.events.clear()
        self.last_service_info = None

    @override
    def update_sensor(
        self,
        key: str,
        native_unit_of_measurement: Units | None,
        native_value: SensorValueType,
        device_class: SensorDeviceClass | None = None,
        name: str | None = None,
        device_id: str | None = None,
    ) -> None:
        self.sensors[key] = (
            None if device_class is None else str(device_class),
            None
            if native_unit_of_measurement is None
            else str(native_unit_of_measurement),
            native_value,
        )

    @override
    def update_binary_sensor(
        self,
        key: str,
        native_value: bool | None,
        device_class: BinarySensorDeviceClass | None = None,
        name: str | None = None,
        device_id: str | None = None,
    ) -> None:
        self.binaries[key] = (
            None if device_class is None else str(device_class),
            native_value,
        )

    @override
    def fire_event(
        self,
        key: str,
        event_type: str,
        event_properties: dict[str, str | int | float | None] | None = None,
        name: str | None = None,
        device_id: str | None = None,
    ) -> None:
        self.events[key] = (event_type, event_properties)


def _result(
    *, encrypted: bool = False, error: str | None = None
) -> model.DecodedPayload:
    return model.DecodedPayload(
        kind=model.PayloadKind.BTHOME, encrypted=encrypted, error=error
    )


def _not_decrypted(address: str, reason: str) -> model.DecodedPayload:
    """Encrypted but no values: key missing or wrong, or counter replayed.

    ``error`` stays ``None``: the coordinator counts these apart from malformed
    payloads, through ``decryption_failed``.
    """
    _LOGGER.debug("%s: BTHome payload not decrypted: %s", address, reason)
    return model.DecodedPayload(
        kind=model.PayloadKind.BTHOME, encrypted=True, decryption_failed=True
    )


def _sensor_measurement(
    key: str,
    device_class: str | None,
    unit: str | None,
    value: str | float | date | datetime | Decimal | None,
) -> model.Measurement:
    mapped: str | int | float | None
    if isinstance(value, (date, datetime)):
        mapped = value.isoformat()
    elif isinstance(value, Decimal):  # not produced by bthome-ble today
        mapped = float(value)
    else:
        mapped = value
    known = _SENSOR_CLASSES.get(device_class) if device_class else None
    if known is None:
        ha_class = None
        state_class = _MEASUREMENT if isinstance(mapped, (int, float)) else None
    else:
        ha_class, state_class = known
    return model.Measurement(
        key=key,
        value=mapped,
        device_class=ha_class,
        unit=None if unit is None else _UNITS.get(unit, unit),
        state_class=state_class,
    )


def map_update(
    sensors: Mapping[str, tuple[str | None, str | None, SensorValueType]],
    binaries: Mapping[str, tuple[str | None, bool | None]],
    events: Mapping[str, tuple[str, Mapping[str, object] | None]],
) -> tuple[list[model.Measurement], list[model.ButtonEvent], int | None]:
    """Map what one update reported (``_RecordingParser``) to the output model."""
    measurements: list[model.Measurement] = []
    packet_id: int | None = None
    for key, (device_class, unit, value) in sensors.items():
        if device_class == _SIGNAL_STRENGTH:
            continue
        if device_class == _PACKET_ID:
            if isinstance(value, int):
                packet_id = value
            continue
        measurements.append(_sensor_measurement(key, device_class, unit, value))
    for key, (binary_class, binary_value) in binaries.items():
        measurements.append(
            model.Measurement(
                key=binary_key(key),
                value=binary_value,
                device_class=None if binary_class == _BINARY_GENERIC else binary_class,
                unit=None,
                state_class=None,
                binary=True,
            )
        )
    button_events: list[model.ButtonEvent] = []
    for key, (event_type, properties) in events.items():
        steps = (properties or {}).get("steps")
        button_events.append(
            model.ButtonEvent(
                key=key,
                event_type=event_type,
                value=steps if isinstance(steps, int) else None,
            )
        )
    return measurements, button_events, packet_id


def _firmware(update: SensorUpdate) -> str | None:
    """Return the firmware version of BTHome objects 0xF1/0xF2 (bthome-ble 3.24+).

    bthome-ble reports its own ``BTHome BLE v2`` until a sender tells its version.
    """
    device = update.devices.get(None)
    version = device.sw_version if device is not None else None
    if not version or version.startswith("BTHome BLE"):
        return None
    return str(version)


class BTHomeDecoder:
    """Decode one peer's BTHome v2 service data (device-info byte onwards)."""

    __slots__ = ("_address", "_bindkey", "_parser")

    def __init__(self, mac: bytes, bindkey: bytes | None = None) -> None:
        """Create the decoder for the peer with MAC ``mac`` and optional 16-byte key."""
        self._address = mac_to_str(mac)
        self._bindkey = bindkey
        self._parser = _RecordingParser(bindkey)

    def decode(self, data: bytes) -> model.DecodedPayload:
        """Decode service data (without the UUID). Never raises on frame bytes."""
        if not data:
            return _result(error="empty BTHome payload")
        info = data[0]
        version = info >> _VERSION_SHIFT
        if version != 2:
            return _result(error=f"unsupported BTHome version {version}")
        encrypted = bool(info & FLAG_ENCRYPTED)
        objects_start = 1 + (INCLUDED_MAC_LENGTH if info & FLAG_MAC_INCLUDED else 0)
        if encrypted:
            if self._bindkey is None:
                return _not_decrypted(self._address, "no bindkey configured")
            if len(data) < (
                objects_start + MIN_CIPHERTEXT_LENGTH + COUNTER_LENGTH + MIC_LENGTH
            ):
                return _result(
                    encrypted=True, error="encrypted BTHome payload too short"
                )
        elif self._bindkey is not None:
            # bthome-ble refuses this too ("downgrade"): a key means encryption.
            return _result(
                error="unencrypted BTHome payload ignored: a bindkey is configured"
            )

        parser = self._parser
        # bthome-ble's own duplicate filters only run when there is a previous
        # service info to compare with (see the module docstring): there never is,
        # as ``forget()`` drops it after every decode.
        _PARSER_LOG_FILTER.decoding_thread = threading.get_ident()
        try:
            update = parser.update(self._service_info(data))
        except Exception:  # third-party parser on untrusted bytes
            _LOGGER.debug("bthome-ble failed on %s", data.hex(), exc_info=True)
            parser.forget()
            return _result(encrypted=encrypted, error="bthome-ble parser error")
        finally:
            _PARSER_LOG_FILTER.decoding_thread = None
        try:
            return self._decoded(data, encrypted, objects_start, update)
        finally:
            parser.forget()

    def _decoded(
        self, data: bytes, encrypted: bool, objects_start: int, update: SensorUpdate
    ) -> model.DecodedPayload:
        """Return the result of a frame bthome-ble has just parsed."""
        parser = self._parser

        if encrypted:
            counter = int.from_bytes(data[-8:-4], "little")
            if parser.decryption_failed:
                return _not_decrypted(self._address, "wrong bindkey")
            if parser.encryption_counter != counter:
                return _not_decrypted(self._address, "counter went backwards (replay?)")

        measurements, events, packet_id = map_update(
            parser.sensors, parser.binaries, parser.events
        )
        error = None
        if not encrypted and not _walk_objects(data, objects_start, ordered=False):
            # bthome-ble stops at the first unknown or truncated object.
            error = "malformed BTHome object list"
        return model.DecodedPayload(
            kind=model.PayloadKind.BTHOME,
            measurements=tuple(measurements),
            events=tuple(events),
            packet_id=packet_id,
            encrypted=encrypted,
            error=error,
            firmware=_firmware(update),
        )

    def _service_info(self, data: bytes) -> BluetoothServiceInfoBleak:
        address = self._address
        return BluetoothServiceInfoBleak(
            name=address,  # bthome-ble then calls the device "BTHome sensor"
            address=address,
            rssi=0,  # its signal_strength sensor is dropped
            manufacturer_data={},
            service_data={SERVICE_DATA_UUID: data},
            service_uuids=[SERVICE_DATA_UUID],
            source="espnow",
            device=None,  # type: ignore[arg-type]  # never read by bthome-ble
            advertisement=None,
            connectable=False,
            time=time.monotonic(),
            tx_power=None,
        )
