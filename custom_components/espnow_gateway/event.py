"""Event entities: button presses and dimmer turns, delivered at once."""

from __future__ import annotations

from homeassistant.components.event import (
    EventDeviceClass,
    EventEntity,
    EventEntityDescription,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import LOGGER
from .coordinator import EspNowConfigEntry
from .entity import EspNowPeerEntity, async_add_peer_entities
from .espnowgw.model import ButtonEvent
from .events import event_kind, event_types_for, map_event
from .peer import Peer

PARALLEL_UPDATES = 0


def event_description(key: str) -> EventEntityDescription:
    """Describe the event entity for decoder key ``button``, ``button_2``, ``dimmer``..."""
    number = key.partition("_")[2]
    kind = event_kind(key)
    return EventEntityDescription(
        key=key,
        translation_key=kind + ("_numbered" if number else ""),
        translation_placeholders={"number": number} if number else None,
        device_class=EventDeviceClass.BUTTON if kind == "button" else None,
        event_types=event_types_for(key),
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EspNowConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up event entities, and add more as peers report new buttons."""

    def peer_entities(peer: Peer, keys: list[str] | None) -> list[PeerEvent]:
        keys = keys or sorted(peer.event_keys)
        return [PeerEvent(peer, key) for key in keys if key in peer.event_keys]

    async_add_peer_entities(hass, entry, async_add_entities, peer_entities)


class PeerEvent(EspNowPeerEntity, EventEntity):
    """A button (or dimmer) of a peer."""

    def __init__(self, peer: Peer, key: str) -> None:
        """Initialize for one event key of one peer."""
        super().__init__(peer, event_description(key))

    async def async_added_to_hass(self) -> None:
        """Receive this key's events as they arrive."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.peer.async_add_event_listener(
                self.entity_description.key, self._handle_event
            )
        )

    @callback
    def _handle_event(self, event: ButtonEvent) -> None:
        event_type, attributes = map_event(event)
        if event_type not in self.event_types:
            LOGGER.debug("Ignoring event %s of %s", event_type, self.entity_id)
            return
        self._trigger_event(event_type, attributes or None)
        self.async_write_ha_state()
