"""The library's vocabulary is Home Assistant's: device classes, units, state classes.

The protocol library has no Home Assistant imports, so these checks of its tables
against Home Assistant's own live here, beside the integration.
"""

from __future__ import annotations

from bthome_ble.const import MEAS_TYPES
from sensor_state_data import SensorDeviceClass
from sensor_state_data.description import BaseSensorDescription

from espnowgw.decoders.bthome import OBJECT_SIZES, BTHomeDecoder
from espnowgw.decoders.json_payload import BINARY_SPECS, SENSOR_SPECS, normalize_key
from tests.lib.decoders.test_bthome import MAC, _sample_frame


def test_every_mapping_is_valid_in_home_assistant() -> None:
    """Device classes, units and state classes are ones HA accepts together."""
    from homeassistant.components.binary_sensor.const import (
        BinarySensorDeviceClass as HABinary,
    )
    from homeassistant.components.sensor.const import (
        DEVICE_CLASS_STATE_CLASSES,
        DEVICE_CLASS_UNITS,
        SensorDeviceClass as HASensor,
        SensorStateClass,
    )

    state_classes = {s.value for s in SensorStateClass}
    for object_id in sorted(OBJECT_SIZES):
        result = BTHomeDecoder(MAC).decode(bytes([0x40]) + _sample_frame(object_id))
        for m in result.measurements:
            assert m.state_class is None or m.state_class in state_classes
            if m.binary:
                assert m.device_class is None or HABinary(m.device_class)
                continue
            if m.device_class is None:
                continue
            device_class = HASensor(m.device_class)
            if units := DEVICE_CLASS_UNITS.get(device_class):
                assert m.unit in units, m
            if m.state_class is not None:
                assert m.state_class in DEVICE_CLASS_STATE_CLASSES[device_class], m


def test_mapping_matches_home_assistants_bthome_integration() -> None:
    """Same device class, unit and state class as core's bthome sensor descriptions."""
    from homeassistant.components.bthome.sensor import SENSOR_DESCRIPTIONS

    checked = 0
    for object_id in sorted(OBJECT_SIZES):
        meas = MEAS_TYPES[object_id]
        fmt = meas.meas_format
        if not isinstance(fmt, BaseSensorDescription):
            continue
        if fmt.device_class in (SensorDeviceClass.PACKET_ID, None):
            continue
        ha = SENSOR_DESCRIPTIONS[(fmt.device_class, fmt.native_unit_of_measurement)]
        result = BTHomeDecoder(MAC).decode(bytes([0x40]) + _sample_frame(object_id))
        (m,) = result.measurements
        assert m.device_class == (ha.device_class and ha.device_class.value), m
        assert m.unit == ha.native_unit_of_measurement, m
        assert m.state_class == (ha.state_class and ha.state_class.value), m
        checked += 1
    assert checked > 40


# --- encryption --------------------------------------------------------------------


def test_every_table_entry_is_valid_in_home_assistant() -> None:
    from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
    from homeassistant.components.sensor.const import (
        DEVICE_CLASS_STATE_CLASSES,
        DEVICE_CLASS_UNITS,
        SensorDeviceClass,
    )

    for name, (device_class, unit, state_class) in SENSOR_SPECS.items():
        assert normalize_key(name) == name
        if device_class is None:
            assert unit is None
            continue
        ha_class = SensorDeviceClass(device_class)
        assert unit in DEVICE_CLASS_UNITS[ha_class], name
        assert state_class in DEVICE_CLASS_STATE_CLASSES[ha_class], name
    for name, (binary_class, _inverted, numbers) in BINARY_SPECS.items():
        assert normalize_key(name) == name
        # a name is a sensor for numbers or a binary sensor for them, not both
        assert not (numbers and name in SENSOR_SPECS), name
        BinarySensorDeviceClass(binary_class)
