"""Binary sensors: the gateway connection and decoded binary measurements."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .coordinator import EspNowConfigEntry
from .entity import (
    EspNowGatewayEntity,
    EspNowPeerEntity,
    async_add_peer_entities,
    describe_measurement,
)
from .entity_options import apply_entity_options
from .models import MeasurementInfo
from .peer import Peer

PARALLEL_UPDATES = 0
ATTR_CONNECT_ERROR = "connect_error"

CONNECTION = BinarySensorEntityDescription(
    key="connection",
    translation_key="connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


def binary_description(
    info: MeasurementInfo, name: str | None = None
) -> BinarySensorEntityDescription:
    """Describe the binary sensor entity of a decoded measurement."""
    return describe_measurement(
        info, BinarySensorEntityDescription, BinarySensorDeviceClass, name
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EspNowConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the binary sensors, and add more as measurements appear."""

    def peer_entities(peer: Peer, keys: list[str] | None) -> list[BinaryMeasurement]:
        infos = [peer.measurements.get(key) for key in keys or list(peer.measurements)]
        return [BinaryMeasurement(peer, info) for info in infos if info and info.binary]

    async_add_entities([GatewayConnectivity(entry.runtime_data, CONNECTION)])
    async_add_peer_entities(hass, entry, async_add_entities, peer_entities)


class GatewayConnectivity(EspNowGatewayEntity, BinarySensorEntity):
    """Whether the gateway link is up: the one gateway entity always available."""

    @property
    def available(self) -> bool:
        """Always available: it shows the link state itself."""
        return True

    @property
    def is_on(self) -> bool:
        """Return True while connected."""
        return self.gateway.connected

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Why the gateway cannot be reached, while it cannot (``port_busy``...)."""
        error = self.gateway.connect_error
        return {ATTR_CONNECT_ERROR: error.value if error is not None else None}


class BinaryMeasurement(EspNowPeerEntity, BinarySensorEntity, RestoreEntity):
    """A decoded binary measurement (opening, motion...), restored across restarts."""

    def __init__(self, peer: Peer, info: MeasurementInfo) -> None:
        """Initialize from the measurement's description (and the user's)."""
        info, name = apply_entity_options(info, peer.entity_options.get(info.key))
        super().__init__(peer, binary_description(info, name))

    def current(self) -> Any:
        """Return the value."""
        return self.peer.values.get(self.entity_description.key)

    @property
    def is_on(self) -> bool | None:
        """Return the value."""
        value = self.peer.values.get(self.entity_description.key)
        return None if value is None else bool(value)

    async def async_added_to_hass(self) -> None:
        """Restore the last value if the peer has not reported yet."""
        await super().async_added_to_hass()
        key = self.entity_description.key
        last = await self.async_get_last_state()
        if key not in self.peer.values and last and last.state in (STATE_ON, STATE_OFF):
            self.peer.values[key] = last.state == STATE_ON
