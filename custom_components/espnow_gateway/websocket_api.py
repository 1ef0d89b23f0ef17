"""WebSocket API: ``espnow_gateway/subscribe_packets`` and ``espnow_gateway/ack_packets``.

The protocol (parameters, messages, flow control) is documented in docs/websocket.md.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components import websocket_api
from homeassistant.components.websocket_api import ActiveConnection
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import (
    async_dispatcher_connect,
    async_dispatcher_send,
)
from homeassistant.util.hass_dict import HassKey
import probatio as vol

from .const import DOMAIN, SIGNAL_STREAM_CHANGED
from .coordinator import EspNowGateway
from .espnowgw.mac import mac_from_str
from .espnowgw.messages import Packet
from .espnowgw.model import PayloadKind
from .stream import StreamHub
from .stream_options import (
    DEFAULT_BATCH_INTERVAL_MS,
    DEFAULT_HIGH_WATERMARK,
    DEFAULT_MAX_RATE,
    DEFAULT_STALL_TIMEOUT,
    DEFAULT_WINDOW,
    LIMIT_HIGH_WATERMARK,
    LIMIT_MAX_RATE,
    LIMIT_STALL_TIMEOUT,
    LIMIT_WINDOW,
    MAX_BATCH_INTERVAL_MS,
    MAX_FILTER_SOURCES,
    MAX_SUBSCRIBERS,
    MAX_SUBSCRIPTIONS_PER_CONNECTION,
    MIN_BATCH_INTERVAL_MS,
    MIN_HIGH_WATERMARK,
    Policy,
    StreamOptions,
)
from .stream_wire import Encoding

DATA_STREAM: HassKey[StreamHub] = HassKey(f"{DOMAIN}_stream")
KINDS = tuple(kind.value for kind in PayloadKind)


def async_get_hub(hass: HomeAssistant) -> StreamHub:
    """Return the stream hub of this Home Assistant instance."""
    hub = hass.data.get(DATA_STREAM)
    if hub is None:
        hub = hass.data[DATA_STREAM] = StreamHub(
            hass.loop, lambda: async_dispatcher_send(hass, SIGNAL_STREAM_CHANGED)
        )
    return hub


@callback
def async_connect_stream(hass: HomeAssistant, gateway: EspNowGateway) -> CALLBACK_TYPE:
    """Feed a gateway's packets to the stream while anyone subscribes to them.

    The stream registers on the runtime (never the other way round), and only while
    it has subscribers for this gateway: without them the runtime does no work for it.
    """
    hub = async_get_hub(hass)
    entry_id = gateway.entry.entry_id
    unsub_packets: CALLBACK_TYPE | None = None

    @callback
    def publish(packet: Packet, kind: PayloadKind) -> None:
        hub.publish(entry_id, packet, kind)

    @callback
    def changed() -> None:
        nonlocal unsub_packets
        wanted = hub.subscriber_count(entry_id) > 0
        if wanted and unsub_packets is None:
            unsub_packets = gateway.async_add_packet_listener(publish)
        elif not wanted and unsub_packets is not None:
            unsub_packets()
            unsub_packets = None
        gateway.async_notify()  # the gateway's stream sensors

    changed()
    unsub_signal = async_dispatcher_connect(hass, SIGNAL_STREAM_CHANGED, changed)

    @callback
    def disconnect() -> None:
        unsub_signal()
        if unsub_packets is not None:
            unsub_packets()

    return disconnect


@callback
def async_setup(hass: HomeAssistant) -> None:
    """Register the commands (once, from the integration's async_setup)."""
    async_get_hub(hass)
    websocket_api.async_register_command(hass, ws_subscribe_packets)
    websocket_api.async_register_command(hass, ws_ack_packets)


def _integer(value: Any) -> int:
    """Accept an int; never a bool (``true`` is not 1 here), never a string."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise vol.Invalid(f"expected an integer, got {value!r}")
    return value


def _number(value: Any) -> float:
    """Accept a JSON number, as a float; never a bool, never a string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid(f"expected a number, got {value!r}")
    return float(value)


def _mac(value: Any) -> bytes:
    try:
        return mac_from_str(str(value))
    except ValueError as err:
        raise vol.Invalid(f"not a MAC address: {value}") from err


@websocket_api.require_admin
@websocket_api.websocket_command(
    {
        vol.Required("type"): "espnow_gateway/subscribe_packets",
        vol.Optional("entry_id"): str,
        vol.Optional("sources"): vol.All(
            [_mac], vol.Length(min=1, max=MAX_FILTER_SOURCES)
        ),
        vol.Optional("min_rssi"): vol.All(_integer, vol.Range(min=-128, max=0)),
        vol.Optional("kinds"): vol.All(
            [vol.In(KINDS)], vol.Length(min=1, max=len(KINDS))
        ),
        vol.Optional("max_rate", default=DEFAULT_MAX_RATE): vol.All(
            _number, vol.Range(min=0.1, max=LIMIT_MAX_RATE)
        ),
        vol.Optional("burst"): vol.All(_number, vol.Range(min=1, max=LIMIT_MAX_RATE)),
        vol.Optional("batch_interval", default=DEFAULT_BATCH_INTERVAL_MS): vol.All(
            _integer, vol.Range(min=MIN_BATCH_INTERVAL_MS, max=MAX_BATCH_INTERVAL_MS)
        ),
        vol.Optional("high_watermark", default=DEFAULT_HIGH_WATERMARK): vol.All(
            _integer, vol.Range(min=MIN_HIGH_WATERMARK, max=LIMIT_HIGH_WATERMARK)
        ),
        vol.Optional("low_watermark"): vol.All(
            _integer, vol.Range(min=0, max=LIMIT_HIGH_WATERMARK)
        ),
        vol.Optional("policy", default=Policy.DROP_OLDEST.value): vol.In(
            [policy.value for policy in Policy]
        ),
        vol.Optional("encoding", default=Encoding.BASE64.value): vol.In(
            [encoding.value for encoding in Encoding]
        ),
        vol.Optional("window", default=DEFAULT_WINDOW): vol.All(
            _integer, vol.Range(min=1, max=LIMIT_WINDOW)
        ),
        vol.Optional("stall_timeout", default=DEFAULT_STALL_TIMEOUT): vol.All(
            _number, vol.Range(min=1, max=LIMIT_STALL_TIMEOUT)
        ),
    }
)
@callback
def ws_subscribe_packets(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Stream raw packets in acknowledged batches."""
    msg_id: int = msg["id"]
    hub = async_get_hub(hass)
    entry_id: str | None = msg.get("entry_id")
    if entry_id is not None:
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            connection.send_error(
                msg_id,
                websocket_api.ERR_NOT_FOUND,
                f"No ESP-NOW gateway with entry id {entry_id}",
                translation_key="entry_not_found",
                translation_domain=DOMAIN,
                translation_placeholders={"entry_id": entry_id},
            )
            return
    high: int = msg["high_watermark"]
    low: int = msg.get("low_watermark", high // 2)
    if low >= high:
        connection.send_error(
            msg_id,
            websocket_api.ERR_INVALID_FORMAT,
            "low_watermark must be below high_watermark",
            translation_key="invalid_watermarks",
            translation_domain=DOMAIN,
        )
        return
    if (
        hub.owned_by(connection) >= MAX_SUBSCRIPTIONS_PER_CONNECTION
        or len(hub.subscribers) >= MAX_SUBSCRIBERS
    ):
        connection.send_error(
            msg_id,
            "too_many_subscriptions",
            f"At most {MAX_SUBSCRIPTIONS_PER_CONNECTION} packet subscriptions per connection "
            f"and {MAX_SUBSCRIBERS} in all",
            translation_key="too_many_subscriptions",
            translation_domain=DOMAIN,
            translation_placeholders={
                "per_connection": str(MAX_SUBSCRIPTIONS_PER_CONNECTION),
                "total": str(MAX_SUBSCRIBERS),
            },
        )
        return
    sources = msg.get("sources")
    kinds = msg.get("kinds")
    options = StreamOptions(
        entry_id=entry_id,
        sources=frozenset(sources) if sources else None,
        min_rssi=msg.get("min_rssi"),
        kinds=frozenset(kinds) if kinds else None,
        max_rate=msg["max_rate"],
        burst=msg.get("burst"),
        batch_interval_ms=msg["batch_interval"],
        high_watermark=high,
        low_watermark=low,
        policy=Policy(msg["policy"]),
        encoding=Encoding(msg["encoding"]),
        window=msg["window"],
        stall_timeout=msg["stall_timeout"],
    )

    def closed() -> None:
        connection.subscriptions.pop(msg_id, None)

    # The hub hands over whole messages, already JSON (see stream_wire).
    subscriber = hub.subscribe(
        msg_id, options, connection.send_message, owner=connection, on_close=closed
    )

    def unsubscribe() -> None:
        # Home Assistant calls this while it walks its subscriptions: do not touch them.
        subscriber.close(notify=False)

    connection.subscriptions[msg_id] = unsubscribe
    connection.send_result(
        msg_id,
        {
            "subscription": msg_id,
            "max_rate": options.max_rate,
            "batch_interval": options.batch_interval_ms,
            "high_watermark": high,
            "low_watermark": low,
            "window": options.window,
            "stall_timeout": subscriber.stall_timeout,
        },
    )


@websocket_api.require_admin
@websocket_api.websocket_command(
    {
        vol.Required("type"): "espnow_gateway/ack_packets",
        vol.Required("subscription"): _integer,
        vol.Required("batch"): vol.All(_integer, vol.Range(min=0)),
    }
)
@callback
def ws_ack_packets(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Acknowledge batches (cumulatively) so that more can be sent."""
    subscriber = async_get_hub(hass).find(connection, msg["subscription"])
    if subscriber is None:
        connection.send_error(
            msg["id"],
            websocket_api.ERR_NOT_FOUND,
            "No such packet subscription on this connection",
            translation_key="subscription_not_found",
            translation_domain=DOMAIN,
        )
        return
    if not subscriber.ack(msg["batch"]):
        connection.send_error(
            msg["id"],
            websocket_api.ERR_INVALID_FORMAT,
            f"Batch {msg['batch']} has not been sent",
            translation_key="batch_not_sent",
            translation_domain=DOMAIN,
            translation_placeholders={"batch": str(msg["batch"])},
        )
        return
    connection.send_result(msg["id"], {"in_flight": subscriber.in_flight})
