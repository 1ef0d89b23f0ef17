"""BTHome v2 over ESP-NOW: bthome-ble wrapped by ``decoders.bthome``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
import gc
import logging
import time
import types
from typing import Any

from bthome_ble import BTHomeBluetoothDeviceData
from bthome_ble.const import MEAS_TYPES
from habluetooth import BluetoothServiceInfoBleak
from hypothesis import given, strategies as st
import pytest
from sensor_state_data import (
    BinarySensorDescription,
    BinarySensorDeviceClass,
    BinarySensorValue,
    DeviceKey,
    Event,
    SensorDescription,
    SensorDeviceClass,
    SensorUpdate,
    SensorValue,
    Units,
)
from sensor_state_data.description import BaseSensorDescription

from devtools import bthome_frames
from espnowgw.decoders import bthome
from espnowgw.decoders.bthome import COMMAND_LENGTH, OBJECT_SIZES, SERVICE_DATA_UUID, VARIABLE_LENGTH, BTHomeDecoder, is_plausible_bthome, map_update
from espnowgw.mac import mac_to_str
from espnowgw.model import ButtonEvent, DecodedPayload, Measurement, PayloadKind

MAC = bytes.fromhex("AABBCCDDEEFF")
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
WRONG_KEY = bytes(range(16))

# serialx-bthome.md section 2.2: packet id 17, battery 87 %, temperature 23.45 °C,
# humidity 51.2 %, button press.
REFERENCE = bytes.fromhex("40 00 11 01 57 02 29 09 03 00 14 3A 01")

# bthome-ble's own test-suite (tests/test_parser_v2.py, test_bindkey_correct):
# MAC 54:48:E6:8F:80:A5, key 231d39c1..., temperature 25.06 °C, humidity 50.55 %.
BTHOME_BLE_MAC = bytes.fromhex("5448E68F80A5")
BTHOME_BLE_ENCRYPTED = bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14")


def seal(
    objects: bytes,
    counter: int,
    *,
    mac: bytes = MAC,
    key: bytes = KEY,
    info: int = 0x41,
    included_mac: bytes = b"",
) -> bytes:
    """Build encrypted BTHome v2 service data (without the UUID), for ``MAC`` and ``KEY``."""
    return bthome_frames.seal(
        objects, counter, mac=mac, key=key, info=info, included_mac=included_mac
    )


def by_key(result: DecodedPayload) -> dict[str, Measurement]:
    return {m.key: m for m in result.measurements}


def info_for(payload: bytes, when: float) -> BluetoothServiceInfoBleak:
    return BluetoothServiceInfoBleak(
        name="n",
        address=mac_to_str(MAC),
        rssi=-60,
        manufacturer_data={},
        service_data={SERVICE_DATA_UUID: payload},
        service_uuids=[SERVICE_DATA_UUID],
        source="espnow",
        device=None,  # type: ignore[arg-type]
        advertisement=None,
        connectable=False,
        time=when,
        tx_power=None,
    )


# --- the reference vector -------------------------------------------------------


def test_reference_vector() -> None:
    result = BTHomeDecoder(MAC).decode(REFERENCE)
    assert result == DecodedPayload(
        kind=PayloadKind.BTHOME,
        measurements=(
            Measurement("battery", 87, "battery", "%", "measurement"),
            Measurement("temperature", 23.45, "temperature", "°C", "measurement"),
            Measurement("humidity", 51.2, "humidity", "%", "measurement"),
        ),
        events=(ButtonEvent("button", "press"),),
        packet_id=17,
    )
    assert isinstance(result.measurements[0].value, int)


def test_mac_in_bthome_form() -> None:
    assert mac_to_str(MAC) == "AA:BB:CC:DD:EE:FF"


# --- pitfall: bthome-ble's duplicate window ----------------------------------------


def test_bthome_ble_itself_drops_a_repeated_packet_id() -> None:
    """Canary for the behaviour the decoder works around."""
    parser = BTHomeBluetoothDeviceData()
    now = time.monotonic()
    assert parser.update(info_for(REFERENCE, now)).events
    assert not parser.update(info_for(REFERENCE, now + 1)).events


def test_repeated_packet_id_still_decodes() -> None:
    decoder = BTHomeDecoder(MAC)
    first = decoder.decode(REFERENCE)
    assert decoder.decode(REFERENCE) == first
    assert decoder.decode(REFERENCE) == first


def test_older_packet_id_still_decodes() -> None:
    decoder = BTHomeDecoder(MAC)
    decoder.decode(REFERENCE)
    older = bytes.fromhex("40 00 10 3A 02")
    assert decoder.decode(older) == DecodedPayload(
        kind=PayloadKind.BTHOME,
        events=(ButtonEvent("button", "double_press"),),
        packet_id=16,
    )


# --- pitfall: SensorUpdate.entity_values accumulates ----------------------------------


def test_bthome_ble_accumulates_entity_values() -> None:
    """Canary: the update for a button-only packet still lists the old temperature."""
    parser = BTHomeBluetoothDeviceData()
    parser.update(info_for(REFERENCE, 0.0))
    update = parser.update(info_for(bytes.fromhex("40 00 12 3A 01"), 10.0))
    assert DeviceKey("temperature") in update.entity_values


def test_only_this_packets_values_are_reported() -> None:
    decoder = BTHomeDecoder(MAC)
    decoder.decode(REFERENCE)
    result = decoder.decode(bytes.fromhex("40 00 12 3A 04"))
    assert result.measurements == ()
    assert result.events == (ButtonEvent("button", "long_press"),)
    assert result.packet_id == 18


# --- mapping ---------------------------------------------------------------------


def test_binary_sensors() -> None:
    # opening (0x11) open, window (0x2D) closed, generic (0x0F) on
    result = BTHomeDecoder(MAC).decode(bytes.fromhex("40 0F 01 11 01 2D 00"))
    assert result.measurements == (
        Measurement("generic", True, None, None, None, binary=True),
        Measurement("opening", True, "opening", None, None, binary=True),
        Measurement("window", False, "window", None, None, binary=True),
    )


@pytest.mark.parametrize(
    ("payload", "event"),
    [
        ("40 3C 01 03", ButtonEvent("dimmer", "rotate_left", 3)),
        ("40 3C 02 05", ButtonEvent("dimmer", "rotate_right", 5)),
        ("40 3A 80", ButtonEvent("button", "hold_press")),
        ("40 3A 06", ButtonEvent("button", "long_triple_press")),
        ("40 3B 00 01", ButtonEvent("command", "on")),
        ("40 3B 01 02 AA", ButtonEvent("command", "toggle")),
    ],
)
def test_events(payload: str, event: ButtonEvent) -> None:
    result = BTHomeDecoder(MAC).decode(bytes.fromhex(payload))
    assert result.events == (event,)
    assert result.error is None


def test_button_event_none_is_no_event() -> None:
    result = BTHomeDecoder(MAC).decode(bytes.fromhex("40 3A 00"))
    assert result.events == ()
    assert result.error is None


def test_second_instance_of_an_object_gets_a_numbered_key() -> None:
    # two temperatures (0x02 and the 0.1-resolution 0x45), four buttons
    payload = bytes.fromhex("40 02 C4 09 3A 01 3A 00 3A 02 3A 04 45 E1 00")
    result = BTHomeDecoder(MAC).decode(payload)
    assert by_key(result)["temperature_1"].value == 25.0
    assert by_key(result)["temperature_2"].value == 22.5
    assert result.events == (
        ButtonEvent("button_1", "press"),
        ButtonEvent("button_3", "double_press"),
        ButtonEvent("button_4", "long_press"),
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            "04 13 8A 01",
            Measurement("pressure", 1008.83, "pressure", "mbar", "measurement"),
        ),
        (
            "05 13 8A 14",
            Measurement("illuminance", 13460.67, "illuminance", "lx", "measurement"),
        ),
        ("06 5E 1F", Measurement("mass", 80.3, "weight", "kg", "measurement")),
        ("07 3E 1D", Measurement("mass", 74.86, "weight", "lb", "measurement")),
        (
            "08 CA 06",
            Measurement("dew_point", 17.38, "temperature", "°C", "measurement"),
        ),
        ("09 60", Measurement("count", 96, None, None, "measurement")),
        ("0A 13 8A 14", Measurement("energy", 1346.067, "energy", "kWh", "total")),
        ("0B 02 1B 00", Measurement("power", 69.14, "power", "W", "measurement")),
        ("0C 02 0C", Measurement("voltage", 3.074, "voltage", "V", "measurement")),
        ("0D 12 0C", Measurement("pm25", 3090, "pm25", "\u03bcg/m³", "measurement")),
        ("0E 02 1C", Measurement("pm10", 7170, "pm10", "\u03bcg/m³", "measurement")),
        (
            "12 E2 04",
            Measurement("carbon_dioxide", 1250, "carbon_dioxide", "ppm", "measurement"),
        ),
        (
            "13 33 01",
            Measurement(
                "volatile_organic_compounds",
                307,
                "volatile_organic_compounds",
                "\u03bcg/m³",
                "measurement",
            ),
        ),
        ("14 02 0C", Measurement("moisture", 30.74, "moisture", "%", "measurement")),
        ("3F 02 0C", Measurement("rotation", 307.4, None, "°", "measurement")),
        ("40 0C 00", Measurement("distance", 12, "distance", "mm", "measurement")),
        ("41 4E 00", Measurement("distance", 7.8, "distance", "m", "measurement")),
        ("42 4E 34 00", Measurement("duration", 13.39, "duration", "s", "measurement")),
        ("43 4E 34", Measurement("current", 13.39, "current", "A", "measurement")),
        ("44 4E 34", Measurement("speed", 133.9, "speed", "m/s", "measurement")),
        ("46 32", Measurement("uv_index", 5.0, None, None, "measurement")),
        ("47 87 56", Measurement("volume", 2215.1, "volume", "L", "total")),
        ("48 DC 87", Measurement("volume", 34780, "volume", "mL", "total")),
        (
            "49 DC 87",
            Measurement(
                "volume_flow_rate", 34.78, "volume_flow_rate", "m³/h", "measurement"
            ),
        ),
        ("4B 13 8A 14", Measurement("gas", 1346.067, "gas", "m³", "total")),
        ("4F 87 56 2A 01", Measurement("water", 19551.879, "water", "L", "total")),
        ("51 87 56", Measurement("acceleration", 22.151, None, "m/s²", "measurement")),
        ("52 87 56", Measurement("gyroscope", 22.151, None, "°/s", "measurement")),
        ("53 05 68 65 6C 6C 6F", Measurement("text", "hello", None, None, None)),
        ("54 03 DE AD 01", Measurement("raw", "dead01", None, None, None)),
        (
            "55 87 56 2A 01",
            Measurement(
                "volume_storage", 19551.879, "volume_storage", "L", "measurement"
            ),
        ),
        (
            "56 87 56",
            Measurement(
                "conductivity", 22151, "conductivity", "\u03bcS/cm", "measurement"
            ),
        ),
        ("5E 87 56", Measurement("direction", 221.51, None, "°", "measurement")),
        (
            "5F 87 56",
            Measurement("precipitation", 2215.1, "precipitation", "mm", "measurement"),
        ),
        ("60 05", Measurement("channel", 5, None, None, "measurement")),
        (
            "61 87 56",
            Measurement("rotational_speed", 22151, None, "rpm", "measurement"),
        ),
        ("64 07", Measurement("light_level", 7, None, None, "measurement")),
        ("65 02", Measurement("settings_revision", 2, None, None, None)),
    ],
)
def test_sensor_mapping(payload: str, expected: Measurement) -> None:
    result = BTHomeDecoder(MAC).decode(bytes([0x40]) + bytes.fromhex(payload))
    assert result.measurements == (expected,)
    assert result.error is None


def test_timestamp_becomes_iso_8601() -> None:
    result = BTHomeDecoder(MAC).decode(bytes.fromhex("40 50 5D 39 61 64"))
    (measurement,) = result.measurements
    assert measurement == Measurement(
        "timestamp", "2023-05-14T19:41:17+00:00", "timestamp", None, None
    )
    assert datetime.fromisoformat(str(measurement.value)) == datetime(
        2023, 5, 14, 19, 41, 17, tzinfo=UTC
    )


# Device type (0xF0) and firmware version (0xF1: 4 bytes, 0xF2: 3 bytes): bthome-ble
# 3.24 (Home Assistant 2026.11) knows them; they describe the device, no entity.
DEVICE_INFO_OBJECTS = frozenset({0xF0, 0xF1, 0xF2})


def _sample_frame(object_id: int, value_byte: int = 0x01) -> bytes:
    """One object of ``object_id`` with every data byte ``value_byte``."""
    size = OBJECT_SIZES[object_id]
    if size == VARIABLE_LENGTH:
        return bytes([object_id, 2, 0x41, 0x42])
    if size == COMMAND_LENGTH:
        return bytes([object_id, 1, 0x01, value_byte])
    return bytes([object_id]) + bytes([value_byte]) * size


def test_object_sizes_match_the_bthome_spec() -> None:
    """Spot checks against https://bthome.io/format/ (independent of bthome-ble)."""
    spec = {
        0x00: 1, 0x01: 1, 0x02: 2, 0x03: 2, 0x04: 3, 0x05: 3, 0x06: 2, 0x09: 1,
        0x0A: 3, 0x0B: 3, 0x0C: 2, 0x0F: 1, 0x2D: 1, 0x2E: 1, 0x3A: 1, 0x3C: 2,
        0x3D: 2, 0x3E: 4, 0x42: 3, 0x4B: 3, 0x4C: 4, 0x4D: 4, 0x50: 4, 0x5C: 4,
        0x62: 4,
    }  # fmt: skip
    for object_id, size in spec.items():
        assert OBJECT_SIZES[object_id] == size, hex(object_id)
    assert OBJECT_SIZES[0x53] == OBJECT_SIZES[0x54] == VARIABLE_LENGTH
    assert OBJECT_SIZES[0x3B] == COMMAND_LENGTH
    assert set(OBJECT_SIZES) == set(MEAS_TYPES)


@pytest.mark.parametrize("object_id", sorted(OBJECT_SIZES))
def test_object_size_agrees_with_bthome_ble(object_id: int) -> None:
    """Two objects of the same id back to back: a wrong size would misalign the second."""
    payload = bytes([0x40]) + _sample_frame(object_id) * 2
    assert is_plausible_bthome(payload)
    result = BTHomeDecoder(MAC).decode(payload)
    assert result.error is None
    produced = len(result.measurements) + len(result.events)
    if object_id == 0x00:  # packet id: not a measurement
        assert result.packet_id == 1
    elif object_id in DEVICE_INFO_OBJECTS:  # bthome-ble >= 3.24: device metadata
        assert produced == 0, result
        assert (result.firmware is not None) == (object_id != 0xF0), result
    else:
        assert produced == 2, result



def test_seal_reproduces_bthome_ble_test_vector() -> None:
    sealed = seal(
        bytes.fromhex("02CA0903BF13"), 0x33221100, mac=BTHOME_BLE_MAC, key=KEY
    )
    assert sealed == BTHOME_BLE_ENCRYPTED


def test_bthome_ble_encrypted_vector() -> None:
    result = BTHomeDecoder(BTHOME_BLE_MAC, KEY).decode(BTHOME_BLE_ENCRYPTED)
    assert result == DecodedPayload(
        kind=PayloadKind.BTHOME,
        measurements=(
            Measurement("temperature", 25.06, "temperature", "°C", "measurement"),
            Measurement("humidity", 50.55, "humidity", "%", "measurement"),
        ),
        encrypted=True,
    )


def test_encrypted_payload_with_the_right_key() -> None:
    decoder = BTHomeDecoder(MAC, KEY)
    result = decoder.decode(seal(REFERENCE[1:], 1000))
    assert result.encrypted
    assert not result.decryption_failed
    assert result.error is None
    assert result.packet_id == 17
    assert by_key(result)["temperature"].value == 23.45
    assert result.events == (ButtonEvent("button", "press"),)


def test_encrypted_payload_with_the_mac_included() -> None:
    frame = seal(REFERENCE[1:], 7, info=0x43, included_mac=MAC[::-1])
    assert BTHomeDecoder(MAC, KEY).decode(frame).packet_id == 17


def test_encrypted_payload_without_a_key() -> None:
    result = BTHomeDecoder(MAC).decode(seal(REFERENCE[1:], 1000))
    assert result == DecodedPayload(
        kind=PayloadKind.BTHOME, encrypted=True, decryption_failed=True
    )


def test_encrypted_payload_with_a_wrong_key() -> None:
    decoder = BTHomeDecoder(MAC, WRONG_KEY)
    for _ in range(3):  # bthome-ble changes its flags on the second failure
        result = decoder.decode(seal(REFERENCE[1:], 1000))
        assert result.encrypted
        assert result.decryption_failed
        assert result.measurements == ()
        assert result.events == ()
        assert result.packet_id is None
        assert result.error is None


def test_wrong_key_after_a_good_one() -> None:
    decoder = BTHomeDecoder(MAC, KEY)
    assert not decoder.decode(seal(REFERENCE[1:], 1000)).decryption_failed
    # same counter, wrong key: must not pass as "counter unchanged, decrypted"
    assert decoder.decode(seal(REFERENCE[1:], 1000, key=WRONG_KEY)).decryption_failed
    assert not decoder.decode(seal(REFERENCE[1:], 1001)).decryption_failed


def test_nonce_uses_the_peer_mac() -> None:
    frame = seal(REFERENCE[1:], 1000, mac=bytes.fromhex("112233445566"))
    assert BTHomeDecoder(MAC, KEY).decode(frame).decryption_failed


def test_replayed_counter_is_refused() -> None:
    decoder = BTHomeDecoder(MAC, KEY)
    old = seal(bytes.fromhex("00 05 3A 01"), 500)
    assert decoder.decode(old).events
    assert decoder.decode(seal(bytes.fromhex("00 06 3A 01"), 501)).events
    result = decoder.decode(old)
    assert result == DecodedPayload(
        kind=PayloadKind.BTHOME, encrypted=True, decryption_failed=True
    )


def test_counter_restart_near_zero_is_accepted() -> None:
    """bthome-ble's rule: a counter below 100 is a restart (battery change), not a replay."""
    decoder = BTHomeDecoder(MAC, KEY)
    assert decoder.decode(seal(bytes.fromhex("00 05 3A 01"), 5000)).events
    assert decoder.decode(seal(bytes.fromhex("00 06 3A 01"), 3)).events


def test_identical_encrypted_frame_decodes_again() -> None:
    """Same counter, same packet id: decoded again; the coordinator drops it by packet id."""
    decoder = BTHomeDecoder(MAC, KEY)
    frame = seal(REFERENCE[1:], 1000)
    first = decoder.decode(frame)
    assert first.events
    assert decoder.decode(frame) == first


def test_encrypted_payload_too_short() -> None:
    result = BTHomeDecoder(MAC, KEY).decode(
        bytes.fromhex("41 00 01 02 03 04 05 06 07 08")
    )
    assert result == DecodedPayload(
        kind=PayloadKind.BTHOME,
        encrypted=True,
        error="encrypted BTHome payload too short",
    )


def test_plaintext_is_refused_when_a_key_is_configured() -> None:
    result = BTHomeDecoder(MAC, KEY).decode(REFERENCE)
    assert result.measurements == ()
    assert result.events == ()
    assert result.error == "unencrypted BTHome payload ignored: a bindkey is configured"
    assert not result.encrypted


# --- malformed input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("", "empty BTHome payload"),
        ("20 01 57", "unsupported BTHome version 1"),
        ("60 01 57", "unsupported BTHome version 3"),
    ],
)
def test_rejected_before_bthome_ble(payload: str, error: str) -> None:
    assert BTHomeDecoder(MAC).decode(bytes.fromhex(payload)) == DecodedPayload(
        kind=PayloadKind.BTHOME, error=error
    )


@pytest.mark.parametrize(
    "payload",
    [
        "40",  # no objects
        "40 01 57 FF 00",  # unknown object id after a good one
        "40 01 57 02 29",  # truncated
        "40 01 57 53",  # text without its length byte
    ],
)
def test_malformed_object_list(payload: str) -> None:
    result = BTHomeDecoder(MAC).decode(bytes.fromhex(payload))
    assert result.error == "malformed BTHome object list"
    # what came before the damage is kept
    assert all(m.key == "battery" for m in result.measurements)


def test_out_of_order_objects_are_decoded() -> None:
    """bthome-ble accepts them (with a warning); only AUTO detection refuses them."""
    payload = bytes.fromhex("40 02 29 09 01 57")
    result = BTHomeDecoder(MAC).decode(payload)
    assert result.error is None
    assert set(by_key(result)) == {"battery", "temperature"}
    assert not is_plausible_bthome(payload)


def test_trigger_based_flag() -> None:
    assert BTHomeDecoder(MAC).decode(bytes.fromhex("44 21 01")).measurements == (
        Measurement("motion", True, "motion", None, None, binary=True),
    )


def test_parser_exception_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = BTHomeDecoder(MAC)

    def boom(*_args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(BTHomeDecoder, "_service_info", boom)
    assert decoder.decode(REFERENCE) == DecodedPayload(
        kind=PayloadKind.BTHOME, error="bthome-ble parser error"
    )


@given(st.binary(max_size=64), st.booleans())
def test_never_raises(payload: bytes, keyed: bool) -> None:
    result = BTHomeDecoder(MAC, KEY if keyed else None).decode(payload)
    assert result.kind is PayloadKind.BTHOME


@given(st.integers(0x40, 0x47), st.binary(max_size=40))
def test_never_raises_on_bthome_shaped_bytes(info: int, rest: bytes) -> None:
    for key in (None, KEY):
        assert isinstance(
            BTHomeDecoder(MAC, key).decode(bytes([info]) + rest), DecodedPayload
        )


# --- map_update on hand-made updates (branches bthome-ble does not reach today) ----


def test_map_update_edge_cases() -> None:
    sensors = {
        "packet_id": (SensorDeviceClass.PACKET_ID.value, None, 3.0),
        "signal_strength": (
            SensorDeviceClass.SIGNAL_STRENGTH.value,
            str(Units.SIGNAL_STRENGTH_DECIBELS_MILLIWATT),
            -50,
        ),
        "future": ("future_class", "zz", 1.5),
        "future_text": ("future_class", None, "abc"),
        "nothing": (None, None, 2),
        "decimal": (
            SensorDeviceClass.TEMPERATURE.value,
            str(Units.TEMP_CELSIUS),
            Decimal("1.25"),
        ),
        "date": (
            SensorDeviceClass.DATE.value,
            None,
            datetime(2024, 1, 2, tzinfo=UTC).date(),
        ),
    }
    binaries = {
        "nameless": (None, True),
        "smoke": (BinarySensorDeviceClass.SMOKE.value, True),
    }
    events = {"dimmer": ("rotate_left", {"steps": "x"})}
    measurements, button_events, packet_id = map_update(sensors, binaries, events)
    assert packet_id is None  # not an int: ignored
    assert measurements == [
        Measurement("future", 1.5, None, "zz", "measurement"),
        Measurement("future_text", "abc", None, None, None),
        Measurement("nothing", 2, None, None, "measurement"),
        Measurement("decimal", 1.25, "temperature", "°C", "measurement"),
        Measurement("date", "2024-01-02", None, None, None),
        Measurement("nameless", True, None, None, None, binary=True),
        Measurement("smoke", True, "smoke", None, None, binary=True),
    ]
    assert button_events == [ButtonEvent("dimmer", "rotate_left", None)]


def test_module_constants() -> None:
    assert bthome.SERVICE_DATA_UUID_BYTES == b"\xd2\xfc"
    assert bthome.FLAG_TRIGGER_BASED == 0x04


@pytest.mark.skipif(0xF1 not in OBJECT_SIZES, reason="bthome-ble before 3.24")
def test_firmware_version_objects() -> None:
    decoder = BTHomeDecoder(MAC)
    assert decoder.decode(bytes([0x40, 0xF1, 0x00, 0x01, 0x02, 0x04])).firmware == (
        "4.2.1.0"
    )
    assert decoder.decode(bytes([0x40, 0xF2, 0x00, 0x01, 0x06])).firmware == "6.1.0"
    assert BTHomeDecoder(MAC).decode(bytes([0x40, 0x01, 0x57])).firmware is None


# ---- keys, and what bthome-ble logs (found by the fuzz harness) --------------------------


def test_one_measurement_per_key() -> None:
    """Objects 0x47 (L) and 0x48 (mL) are both "volume": one measurement."""
    result = BTHomeDecoder(MAC).decode(bytes.fromhex("40 47 01 00 48 02 00"))
    assert [m.key for m in result.measurements] == ["volume"]
    # Objects of one type twice are numbered, as ever.
    result = BTHomeDecoder(MAC).decode(bytes.fromhex("40 4b 01 00 00 4b 02 00 00"))
    assert [m.key for m in result.measurements] == ["gas_1", "gas_2"]


def test_binary_sensor_keys_differ_from_sensor_keys() -> None:
    """A battery level and a battery-low flag, a power reading and a power state."""
    result = BTHomeDecoder(MAC).decode(bytes.fromhex("40 01 57 0b 10 27 00 10 01 15 01"))
    assert {m.key: m.binary for m in result.measurements} == {
        "battery": False,
        "power": False,
        "power_on": True,
        "battery_low": True,
    }
    assert bthome.binary_key("battery_2") == "battery_low_2"
    assert bthome.binary_key("opening") == "opening"
    assert bthome.binary_key("battery_charging") == "battery_charging"
    assert bthome.binary_key("temperature") == "temperature_state"  # if it ever were
    assert {"battery", "gas", "moisture", "power"} <= bthome.SENSOR_KEYS


@pytest.mark.parametrize(
    "data",
    [
        seal(bytes.fromhex("02 29 09"), 5, key=WRONG_KEY),  # wrong MIC
        bytes.fromhex("40 53 02 ff fe"),  # text that is not UTF-8
        bytes.fromhex("40 02 29 09 01 57"),  # objects out of order
    ],
    ids=["wrong_mic", "not_utf8", "unordered"],
)
def test_bthome_ble_does_not_log_about_untrusted_frames(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A log line per frame would let any sender flood the log; the result tells."""
    decoder = BTHomeDecoder(MAC, KEY if data[0] & 1 else None)
    with caplog.at_level(logging.DEBUG, logger="bthome_ble"):
        decoder.decode(data)
    assert [r for r in caplog.records if r.name.startswith("bthome_ble")] == []
    # Outside a decode bthome-ble's logger works as ever (Home Assistant's BTHome).
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bthome_ble"):
        logging.getLogger("bthome_ble.parser").warning("its own")
    assert [r.getMessage() for r in caplog.records] == ["its own"]


# ---- what a decoder keeps of a frame: nothing ----------------------------------------


def _retained(decoder: BTHomeDecoder) -> set[int]:
    """Ids of the garbage-collected objects a decoder holds (classes not followed)."""
    seen: set[int] = set()
    todo: list[object] = [decoder]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType)):
            continue
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
            continue
        seen.add(id(obj))
        todo.extend(o for o in gc.get_referents(obj) if gc.is_tracked(o))
    return seen


@pytest.mark.parametrize(
    "frame",
    [
        bytes.fromhex("40 00 01 01 57 02 29 09 2d 01"),  # values and a binary state
        bytes.fromhex("40 00 02 3a 01 3a 04"),  # two button events
    ],
    ids=["values", "events"],
)
def test_decoder_keeps_nothing_of_a_frame(frame: bytes) -> None:
    """Nothing of a decoded frame outlives its decode (bthome-ble's objects neither).

    What outlives it until the peer's next frame is promoted to the collector's
    oldest generation: with many peers that makes full collections frequent.
    """
    decoder = BTHomeDecoder(MAC)
    first = decoder.decode(frame)
    assert first.measurements or first.events
    held = _retained(decoder)
    again = decoder.decode(frame[:2] + bytes([frame[2] + 1]) + frame[3:])
    assert again.measurements == first.measurements
    assert again.events == first.events
    assert _retained(decoder) == held
