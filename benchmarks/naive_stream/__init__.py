"""Benchmark baseline: the naive raw-packet stream (one message per packet, no limits).

Loaded only by ``scripts/bench stream`` next to the real integration. Each
subscription registers its own packet listener on every ESP-NOW gateway (as the
real stream does, through the runtime) and sends each packet at once as its own
WebSocket message, built as a dict and serialised for that subscriber: what an
embedded server does when it forwards packets as they come. The packet's fields
are the real stream's, so both designs send the same information.
"""

from __future__ import annotations

from base64 import b64encode
from typing import Any

from homeassistant.components import websocket_api
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.json import json_bytes
from homeassistant.helpers.typing import ConfigType
import probatio as vol

from custom_components.espnow_gateway.const import DOMAIN as GATEWAY_DOMAIN
from custom_components.espnow_gateway.coordinator import EspNowGateway
from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from custom_components.espnow_gateway.espnowgw.messages import Packet

DOMAIN = "naive_stream"
CONFIG_SCHEMA = vol.Schema({DOMAIN: {}}, extra=vol.ALLOW_EXTRA)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the command."""
    websocket_api.async_register_command(hass, ws_subscribe)
    return True


def message(msg_id: int, entry_id: str, packet: Packet, kind: str) -> bytes:
    """Return one packet's event message, built as a dict and serialised."""
    return json_bytes(
        websocket_api.event_message(
            msg_id,
            {
                "gateway": entry_id,
                "src": mac_to_str(packet.src),
                "dst": mac_to_str(packet.dst),
                "rssi": packet.rssi,
                "channel": packet.channel,
                "ts": packet.timestamp_us,
                "seq": packet.seq,
                "kind": kind,
                "payload": b64encode(packet.payload).decode(),
            },
        )
    )


@websocket_api.require_admin
@websocket_api.websocket_command({vol.Required("type"): "naive_stream/subscribe"})
@callback
def ws_subscribe(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Send every packet of every gateway as its own message."""
    msg_id: int = msg["id"]
    unsubs: list[CALLBACK_TYPE] = []
    for entry in hass.config_entries.async_entries(GATEWAY_DOMAIN):
        if entry.state is not ConfigEntryState.LOADED:
            continue
        gateway: EspNowGateway = entry.runtime_data
        entry_id = entry.entry_id

        @callback
        def forward(packet: Packet, kind: str, entry_id: str = entry_id) -> None:
            connection.send_message(message(msg_id, entry_id, packet, kind))

        unsubs.append(gateway.async_add_packet_listener(forward))

    @callback
    def unsubscribe() -> None:
        for unsub in unsubs:
            unsub()

    connection.subscriptions[msg_id] = unsubscribe
    connection.send_result(msg_id)
