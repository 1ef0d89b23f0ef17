"""Base entities: one for the gateway's own figures, one for a peer's."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN, SIGNAL_NEW_ENTITIES
from .coordinator import EspNowConfigEntry, EspNowGateway
from .helpers import humanize
from .models import MeasurementInfo
from .peer import Peer

type PeerEntityFactory = Callable[[Peer, list[str] | None], Iterable[Entity]]


def enum_member[E: StrEnum](kind: type[E], value: str | None) -> E | None:
    """Return ``kind(value)``, or None for None or a value ``kind`` does not know."""
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def describe_measurement[D: EntityDescription](
    info: MeasurementInfo,
    description: type[D],
    device_classes: type[StrEnum],
    name: str | None = None,
    **extra: Any,
) -> D:
    """Describe the entity of a decoded measurement (sensors and binary sensors).

    A measurement whose key is its device class (``temperature``) is named by Home
    Assistant after the class; any other is named after its key (``Env temp 2``),
    or as the user named it (``name``).
    """
    device_class = enum_member(device_classes, info.device_class)
    named_by_class = (
        name is None and device_class is not None and info.key == device_class.value
    )
    return description(
        key=info.key,
        translation_key=None if named_by_class else "measurement",
        translation_placeholders=None
        if named_by_class
        else {"name": name or humanize(info.key)},
        device_class=device_class,
        **extra,
    )


@callback
def async_add_peer_entities(
    hass: HomeAssistant,
    entry: EspNowConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    factory: PeerEntityFactory,
) -> None:
    """Add a platform's entities for the known peers, then for new peers and keys.

    ``factory(peer, keys)`` returns the entities for ``keys`` of ``peer``, or for a
    whole new peer when ``keys`` is None.
    """

    @callback
    def add(peer: Peer, keys: list[str] | None) -> None:
        if entities := list(factory(peer, keys)):
            async_add_entities(entities)

    for peer in list(entry.runtime_data.table.peers.values()):
        add(peer, None)
    entry.async_on_unload(
        async_dispatcher_connect(hass, SIGNAL_NEW_ENTITIES.format(entry.entry_id), add)
    )


class EspNowGatewayEntity(Entity):
    """An entity of the gateway device, updated every tick and on link changes."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, gateway: EspNowGateway, description: EntityDescription) -> None:
        """Initialize for one description."""
        self.gateway = gateway
        self.entity_description = description
        self._attr_unique_id = f"{gateway.unique_prefix}-{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, gateway.unique_prefix)}
        )

    @property
    def available(self) -> bool:
        """Available while the gateway is connected: its figures are current."""
        return self.gateway.connected

    async def async_added_to_hass(self) -> None:
        """Subscribe to gateway updates."""
        self.async_on_remove(self.gateway.async_add_listener(self.async_write_ha_state))


class EspNowPeerEntity(Entity):
    """An entity of a peer device.

    The peer's scheduler decides when its entities are written (see
    :mod:`.scheduler`); the entity writes only if what it shows has changed, and not
    sooner than its own ``_min_interval`` allows (None: whenever the peer writes).
    """

    _attr_has_entity_name = True
    _attr_should_poll = False
    _min_interval: float | None = None

    def __init__(self, peer: Peer, description: EntityDescription) -> None:
        """Initialize for one description of one peer."""
        self.peer = peer
        self.entity_description = description
        self._attr_unique_id = f"{peer.unique_prefix}-{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, peer.unique_prefix)})
        self._written: tuple[bool, Any] | None = None
        self._written_at: float | None = None

    @property
    def available(self) -> bool:
        """Available while the gateway is connected and the peer not silent."""
        return self.peer.available

    def current(self) -> Any:
        """Return what the entity shows (compared to skip needless writes)."""
        return None

    async def async_added_to_hass(self) -> None:
        """Subscribe to the peer."""
        self.async_on_remove(self.peer.async_add_listener(self._handle_peer_update))

    @callback
    def _handle_peer_update(self) -> None:
        shown = (self.available, self.current())
        if shown == self._written:
            return
        scheduler = self.peer.scheduler
        now = scheduler.now()
        if (
            self._written is not None
            and shown[0] == self._written[0]  # availability changes go at once
            and not scheduler.may_write(self._written_at, self._min_interval, now)
        ):
            # Not yet: but this value must not stay unwritten if the peer falls silent
            # (may_write() is False only for an entity written before, with a gap).
            scheduler.write_by(
                scheduler.due_at(self._written_at or now, self._min_interval or 0.0)
            )
            return
        self._written = shown
        self._written_at = now
        self.async_write_ha_state()
