"""Sensors: gateway health figures, peer link figures and decoded measurements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import SIGNAL_STRENGTH_DECIBELS_MILLIWATT, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .const import DIAGNOSTIC_INTERVAL, SLOWLY_CHANGING_CLASSES
from .coordinator import EspNowConfigEntry, EspNowGateway
from .entity import (
    EspNowGatewayEntity,
    EspNowPeerEntity,
    async_add_peer_entities,
    describe_measurement,
    enum_member,
)
from .entity_options import apply_entity_options
from .espnowgw.messages import Capability
from .espnowgw.values import ValueShape, refusal, shape_of
from .models import MeasurementInfo
from .peer import Peer
from .websocket_api import async_get_hub

PARALLEL_UPDATES = 0
# Diagnostic figures carry no state class: long-term statistics of a link counter or
# of signal strength would cost the recorder a statistics row per peer every five
# minutes and tell nobody anything.


@dataclass(frozen=True, kw_only=True)
class GatewaySensorDescription(SensorEntityDescription):
    """A gateway figure."""

    value_fn: Callable[[EspNowGateway], StateType]
    exists_fn: Callable[[EspNowGateway], bool] = lambda _gateway: True


def _peer_available(peer: Peer) -> bool:
    return peer.available


@dataclass(frozen=True, kw_only=True)
class PeerSensorDescription(SensorEntityDescription):
    """A link figure of a peer.

    Link figures change with every frame: each is written at most once per update
    interval, and at least ``min_interval`` apart (jittery diagnostics even less).
    """

    value_fn: Callable[[Peer], StateType | datetime]
    available_fn: Callable[[Peer], bool] = _peer_available
    min_interval: float = 0.0


def _gateway_stat(name: str) -> Callable[[EspNowGateway], StateType]:
    def value(gateway: EspNowGateway) -> StateType:
        stats = gateway.connection.gateway_stats
        return getattr(stats, name) if stats is not None else None

    return value


GATEWAY_SENSORS: tuple[GatewaySensorDescription, ...] = (
    GatewaySensorDescription(
        key="packets_per_second",
        translation_key="packets_per_second",
        native_unit_of_measurement="packets/s",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda gateway: gateway.packets_per_second,
    ),
    GatewaySensorDescription(
        key="peers",
        translation_key="peers",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda gateway: len(gateway.table.peers),
    ),
    GatewaySensorDescription(
        key="packets_lost",
        translation_key="packets_lost",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: gateway.connection.stats.packets_lost,
    ),
    GatewaySensorDescription(
        key="crc_errors",
        translation_key="crc_errors",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda gateway: gateway.connection.stats.decoder.crc_errors,
    ),
    GatewaySensorDescription(
        key="gateway_dropped",
        translation_key="gateway_dropped",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_gateway_stat("rx_dropped"),
    ),
    GatewaySensorDescription(
        key="channel",
        translation_key="channel",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: gateway.info.channel if gateway.info else None,
        # A gateway that can change its channel shows it as a select (select.py).
        exists_fn=lambda gateway: (
            not gateway.connection.supports(Capability.SET_CHANNEL)
        ),
    ),
    GatewaySensorDescription(
        key="free_heap",
        translation_key="free_heap",
        native_unit_of_measurement="B",
        device_class=SensorDeviceClass.DATA_SIZE,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_gateway_stat("free_heap"),
    ),
    GatewaySensorDescription(
        key="sends",
        translation_key="sends",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda gateway: gateway.sender.counters.sent,
    ),
    GatewaySensorDescription(
        key="sends_acknowledged",
        translation_key="sends_acknowledged",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda gateway: gateway.sender.counters.acknowledged,
    ),
    GatewaySensorDescription(
        key="sends_failed",
        translation_key="sends_failed",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: gateway.sender.counters.failed,
    ),
    GatewaySensorDescription(
        key="sends_refused",
        translation_key="sends_refused",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: gateway.sender.counters.refused,
    ),
    GatewaySensorDescription(
        key="stream_subscribers",
        translation_key="stream_subscribers",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: async_get_hub(gateway.hass).subscriber_count(
            gateway.entry.entry_id
        ),
    ),
    GatewaySensorDescription(
        key="stream_dropped",
        translation_key="stream_dropped",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: async_get_hub(gateway.hass).dropped_by_gateway.get(
            gateway.entry.entry_id, 0
        ),
    ),
)

PEER_SENSORS: tuple[PeerSensorDescription, ...] = (
    PeerSensorDescription(
        key="rssi",
        # Signal strength jitters by a dB or two every frame.
        min_interval=DIAGNOSTIC_INTERVAL,
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda peer: peer.rssi,
    ),
    PeerSensorDescription(
        key="last_seen",
        translation_key="last_seen",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        # A state change a minute for every busy device would fill the logbook and
        # the activity feed; the device's diagnostics always have it.
        entity_registry_enabled_default=False,
        available_fn=lambda peer: peer.link_up,  # known while the peer is silent
        # Minute resolution: a busy peer changes it once a minute, not every write.
        value_fn=lambda peer: (
            peer.last_seen.replace(second=0, microsecond=0) if peer.last_seen else None
        ),
    ),
    PeerSensorDescription(
        key="packets",
        translation_key="packets",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda peer: peer.packets,
    ),
)


@dataclass(frozen=True, kw_only=True)
class MeasurementSensorDescription(SensorEntityDescription):
    """A decoded measurement; slowly changing ones are written less often."""

    slowly_changing: bool = False


def measurement_description(
    info: MeasurementInfo, name: str | None = None
) -> MeasurementSensorDescription:
    """Describe the sensor entity of a decoded measurement (``name``: the user's)."""
    return describe_measurement(
        info,
        MeasurementSensorDescription,
        SensorDeviceClass,
        name,
        native_unit_of_measurement=info.unit,
        state_class=enum_member(SensorStateClass, info.state_class),
        suggested_display_precision=info.precision,
        slowly_changing=info.device_class in SLOWLY_CHANGING_CLASSES,
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EspNowConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the sensors, and add more as peers and measurements appear."""
    gateway = entry.runtime_data

    def peer_entities(peer: Peer, keys: list[str] | None) -> list[SensorEntity]:
        entities: list[SensorEntity] = []
        if keys is None:
            entities.extend(PeerLinkSensor(peer, d) for d in PEER_SENSORS)
            keys = list(peer.measurements)
        for key in keys:
            info = peer.measurements.get(key)
            if info is not None and not info.binary:
                entities.append(MeasurementSensor(peer, info))
        return entities

    async_add_entities(
        GatewaySensor(gateway, d) for d in GATEWAY_SENSORS if d.exists_fn(gateway)
    )
    async_add_peer_entities(hass, entry, async_add_entities, peer_entities)


class GatewaySensor(EspNowGatewayEntity, SensorEntity):
    """A gateway health figure."""

    entity_description: GatewaySensorDescription

    @property
    def native_value(self) -> StateType:
        """Return the figure."""
        return self.entity_description.value_fn(self.gateway)


class PeerLinkSensor(EspNowPeerEntity, SensorEntity):
    """RSSI, last seen or packet count of a peer."""

    entity_description: PeerSensorDescription

    def __init__(self, peer: Peer, description: PeerSensorDescription) -> None:
        """Initialize for one link figure."""
        super().__init__(peer, description)
        self._min_interval = description.min_interval

    @property
    def available(self) -> bool:
        """Return the figure's availability (its description says)."""
        return self.entity_description.available_fn(self.peer)

    def current(self) -> Any:
        """Return the figure."""
        return self.entity_description.value_fn(self.peer)

    @property
    def native_value(self) -> StateType | datetime:
        """Return the figure."""
        return self.entity_description.value_fn(self.peer)


def measurement_state(value: object, shape: ValueShape) -> StateType | datetime:
    """Return what a measurement sensor of ``shape`` shows for ``value``.

    Always a state Home Assistant takes for such a sensor: a value that does not
    fit (see ``espnowgw.values``; the peer refuses and counts those it receives,
    this catches any other, a restored one say) is None, unknown. Timestamps, ISO
    8601 strings from the decoders, become aware datetimes.
    """
    if refusal(value, shape) is not None:
        return None
    if shape is ValueShape.TIMESTAMP:
        parsed = dt_util.parse_datetime(value) if isinstance(value, str) else None
        return parsed if parsed is not None and parsed.tzinfo else None
    return value if isinstance(value, str | int | float) else None


class MeasurementSensor(EspNowPeerEntity, RestoreSensor):
    """A decoded measurement, restored across restarts until the peer reports."""

    def __init__(self, peer: Peer, info: MeasurementInfo) -> None:
        """Initialize from the measurement's description (and the user's)."""
        info, name = apply_entity_options(info, peer.entity_options.get(info.key))
        description = measurement_description(info, name)
        super().__init__(peer, description)
        if description.slowly_changing and peer.scheduler.slow_interval > 0:
            self._min_interval = peer.scheduler.slow_interval
        self._shape = shape_of(info)

    def current(self) -> Any:
        """Return the value."""
        return self.peer.values.get(self.entity_description.key)

    @property
    def native_value(self) -> StateType | datetime:
        """Return the value, as Home Assistant accepts it for this sensor."""
        return measurement_state(
            self.peer.values.get(self.entity_description.key), self._shape
        )

    async def async_added_to_hass(self) -> None:
        """Restore the last value if the peer has not reported yet."""
        await super().async_added_to_hass()
        key = self.entity_description.key
        if key not in self.peer.values and (
            last := await self.async_get_last_sensor_data()
        ):
            value = last.native_value
            if isinstance(value, date):  # datetime too: kept as decoded, ISO
                self.peer.values[key] = value.isoformat()
            elif isinstance(value, Decimal):
                self.peer.values[key] = float(value)
            elif isinstance(value, int | float | str):
                self.peer.values[key] = value
