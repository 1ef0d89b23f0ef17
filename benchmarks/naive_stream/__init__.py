"""Benchmark baseline: the naive raw-packet stream (one message per packet, no limits).

Loaded only by ``scripts/bench stream`` next to the real integration. It hooks into
the same stream hub as ``espnow_gateway/subscribe_packets`` so both streams see the
same packets, and sends each packet at once as its own WebSocket message: what an
embedded server does when it forwards packets as they come.
"""

from __future__ import annotations

from base64 import b64encode
from typing import Any, cast

from homeassistant.components import websocket_api
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.json import json_bytes
from homeassistant.helpers.typing import ConfigType
import probatio as vol

from custom_components.espnow_gateway.espnowgw.mac import mac_to_str
from custom_components.espnow_gateway.stream import Item
from custom_components.espnow_gateway.websocket_api import async_get_hub

DOMAIN = "naive_stream"
CONFIG_SCHEMA = vol.Schema({DOMAIN: {}}, extra=vol.ALLOW_EXTRA)


class NaiveSubscriber:
    """Duck-types the hub's subscriber: every packet becomes a message at once."""

    def __init__(self, connection: websocket_api.ActiveConnection, msg_id: int) -> None:
        self.connection = connection
        self.msg_id = msg_id
        self.owner = connection
        self.sent = 0
        self.dropped = 0
        self.closed = False

    def wants(self, gateway: str) -> bool:
        return True

    def offer(self, item: Item, now: float) -> None:
        gateway, packet, kind, _size = item
        self.sent += 1
        self.connection.send_message(
            json_bytes(
                websocket_api.event_message(
                    self.msg_id,
                    {
                        "gateway": gateway,
                        "src": mac_to_str(packet.src),
                        "rssi": packet.rssi,
                        "seq": packet.seq,
                        "kind": kind,
                        "payload": b64encode(packet.payload).decode(),
                    },
                )
            )
        )

    def diagnostics(self) -> dict[str, Any]:
        return {"subscription": self.msg_id, "naive": True, "sent": self.sent}


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    websocket_api.async_register_command(hass, ws_subscribe)
    return True


@websocket_api.require_admin
@websocket_api.websocket_command({vol.Required("type"): "naive_stream/subscribe"})
@callback
def ws_subscribe(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    hub = async_get_hub(hass)
    subscribers = cast("list[Any]", hub.subscribers)  # duck-typed members
    subscriber = NaiveSubscriber(connection, msg["id"])
    subscribers.append(subscriber)
    hub.active = True

    def unsubscribe() -> None:
        if subscriber in subscribers:
            subscribers.remove(subscriber)
        hub.active = bool(subscribers)

    connection.subscriptions[msg["id"]] = unsubscribe
    connection.send_result(msg["id"])
