"""Peer devices in Home Assistant's device registry: name, model, firmware."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN, LOGGER
from .espnowgw.model import PayloadKind
from .peer import Peer

PEER_MODELS: dict[PayloadKind | None, str] = {
    PayloadKind.BTHOME: "BTHome v2 device",
    PayloadKind.JSON: "JSON device",
    PayloadKind.ESPHOME: "ESPHome node (packet transport)",
    PayloadKind.ESPNOW_CTRL: "Espressif ESP-NOW device",
    PayloadKind.RAW: "ESP-NOW device",
    None: "ESP-NOW device",
}


class PeerDevices:
    """The devices of one gateway's peers."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, peers: dict[bytes, Peer]
    ) -> None:
        """Keep ``peers`` (the table's own dict) to tell names apart."""
        self.hass = hass
        self.entry_id = entry_id
        self.peers = peers
        self.gateway_device_id: str | None = None
        self._twins_logged: set[tuple[bytes, bytes]] = set()

    def register(self, peer: Peer) -> None:
        """Create (or find) the peer's device, under the gateway's."""
        device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry_id,
            identifiers={(DOMAIN, peer.unique_prefix)},
            connections={(dr.CONNECTION_NETWORK_MAC, peer.mac_str.lower())},
            manufacturer="ESP-NOW",
            model=PEER_MODELS.get(peer.kind, PEER_MODELS[None]),
            sw_version=peer.firmware,
            name=self.name(peer),
            via_device_id=self.gateway_device_id,
        )
        peer.device_id = device.id

    def update(self, peer: Peer) -> None:
        """Show what a peer turned out to be (kind, firmware, name) on its device.

        A name the user gave the device stays (Home Assistant keeps it apart).
        """
        if peer.device_id is not None:
            dr.async_get(self.hass).async_update_device(
                peer.device_id,
                model=PEER_MODELS.get(peer.kind, PEER_MODELS[None]),
                sw_version=peer.firmware,
                name=self.name(peer),
            )

    def name(self, peer: Peer) -> str:
        """Return the device's name: what the peer calls itself (ESPHome ``name:``).

        A name is bound to the radio's MAC: another MAC sending under a name a peer
        already has is a device of its own, named with its MAC, and said so once.
        """
        fallback = f"ESP-NOW {peer.mac_str[-8:]}"
        if peer.name is None:
            return fallback
        twin = next(
            (
                other
                for other in self.peers.values()
                if other is not peer and other.name == peer.name
            ),
            None,
        )
        if twin is None:
            return peer.name
        if (peer.mac, twin.mac) not in self._twins_logged:
            self._twins_logged.add((peer.mac, twin.mac))
            LOGGER.warning(
                "%s calls itself %s, as %s does: two devices, not one (a node "
                "moved to another board, or a sender using its name)",
                peer.mac_str,
                peer.name,
                twin.mac_str,
            )
        return f"{peer.name} ({peer.mac_str[-8:]})"
