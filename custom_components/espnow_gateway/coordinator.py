"""Gateway runtime: the serial link's lifecycle and callbacks, and the gateway's figures.

One ``EspNowGateway`` per config entry (its ``runtime_data``). Packets arrive from the
link's ``data_received`` callback straight into ``_handle_packet`` (no task per
packet): a known peer handles its own (:mod:`.peer`), the peer table the others
(:mod:`.peer_table`). Whoever wants every packet with the kind found for it (the raw
stream) registers a packet listener; the runtime knows none of them by name.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PORT
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .const import (
    ATTR_SUBTYPE,
    CONF_BAUDRATE,
    CONF_SLOW_INTERVAL,
    CONF_UPDATE_INTERVAL,
    DEFAULT_SLOW_INTERVAL,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    EVENT_BUTTON,
    LOGGER,
    PORT_BUSY_REPAIR_AFTER,
    PORT_MISSING_REPAIR_AFTER,
    TICK_INTERVAL,
)
from .espnowgw.connection import (
    ConnectError,
    ConnectErrorReason,
    GatewayConnection,
    LinkState,
    is_local_path,
)
from .espnowgw.mac import mac_from_str, mac_to_str
from .espnowgw.messages import DEFAULT_BAUDRATE, Hello, Message, Packet, Stats
from .espnowgw.model import ButtonEvent, PayloadKind
from .helpers import async_port_present
from .models import GatewayCounters, PeerHooks
from .peer import Peer
from .peer_table import PeerTable
from .radio import GatewayRadio
from .repairs import (
    create_port_busy_issue,
    create_port_issue,
    create_version_issue,
    create_wrong_gateway_issue,
    delete_issue,
)
from .sender import Sender

# Seconds of writes per loop turn when many peers' availability changes together.
FLUSH_SLICE = 0.005

type EspNowConfigEntry = ConfigEntry[EspNowGateway]
type Listener = Callable[[], None]
type PacketListener = Callable[[Packet, PayloadKind], None]


class EspNowGateway:
    """Runtime of one gateway (the entry's ``runtime_data``)."""

    def __init__(self, hass: HomeAssistant, entry: EspNowConfigEntry) -> None:
        """Initialize from the config entry."""
        self.hass = hass
        self.entry = entry
        self.port: str = entry.data[CONF_PORT]
        self.update_interval = float(
            entry.options.get(CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL)
        )
        self.slow_interval = float(
            entry.options.get(CONF_SLOW_INTERVAL, DEFAULT_SLOW_INTERVAL)
        )
        self.mac = str(entry.unique_id)
        self.unique_prefix = mac_from_str(self.mac).hex()
        self.connection = GatewayConnection(
            self.port,
            baudrate=int(entry.data.get(CONF_BAUDRATE, DEFAULT_BAUDRATE)),
            on_packet=self._handle_packet,
            on_message=self._handle_message,
            on_state=self._handle_state,
            on_connect_error=self._handle_connect_error,
        )
        self.counters = GatewayCounters()
        self.table = PeerTable(
            hass,
            entry,
            self.unique_prefix,
            PeerHooks(
                loop=hass.loop,
                update_interval=self.update_interval,
                slow_interval=self.slow_interval,
                link_up=lambda: self.connection.connected,
                counters=self.counters,
                new_keys=self._peer_new_keys,
                device_changed=self._peer_device_changed,
                fire_event=self._peer_event,
            ),
            on_change=self.async_notify,
        )
        # The return path: the radio's set-up (channel, keys, peers) and the sends.
        self.radio = GatewayRadio(
            hass, entry, self.connection, self.table, on_change=self.async_notify
        )
        self.sender = Sender(hass, entry, self.connection, self.radio)
        self.device_id: str | None = None
        self.packets_per_second = 0.0
        self._rate_mark: tuple[datetime, int] = (dt_util.utcnow(), 0)
        self._listeners: list[Listener] = []
        self._packet_listeners: list[PacketListener] = []
        self._to_flush: deque[Peer] = deque()  # peers to write, a few per loop turn
        self._flushing: asyncio.Handle | None = None
        self._port_missing_since: datetime | None = None
        self._port_busy_since: datetime | None = None
        self._port_busy_logged = False  # once per outage
        # Why the latest attempt to connect failed; None while connected.
        self.connect_error: ConnectErrorReason | None = None
        self._was_connected: bool | None = None  # None: never connected yet
        self._connected_since: datetime | None = None

    # ---- lifecycle ----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the gateway link is up."""
        return self.connection.connected

    @property
    def info(self) -> Hello | None:
        """The gateway's hello."""
        return self.connection.info

    async def async_setup(self) -> None:
        """Connect, load the peer table and start the link supervisor."""
        try:
            hello = await self.connection.connect()
        except ConnectError as err:
            await self._async_setup_failed(err)
        except ConfigEntryNotReady as err:
            # An ESPHome serial proxy whose ESPHome entry has not loaded yet.
            await self.connection.close()
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="port_not_ready",
                translation_placeholders={"port": self.port, "detail": str(err)},
            ) from err
        if mac_to_str(hello.mac) != self.mac:
            await self.connection.close()
            create_wrong_gateway_issue(self.hass, self.entry, mac_to_str(hello.mac))
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="wrong_gateway",
                translation_placeholders={
                    "port": self.port,
                    "expected": self.mac,
                    "found": mac_to_str(hello.mac),
                },
            )
        delete_issue(self.hass, self.entry.entry_id, "wrong_gateway")
        self._register_gateway_device()
        await self.table.async_load()
        self.radio.link_up()  # now that the peers (and their keys) are known
        entry = self.entry
        entry.async_create_background_task(
            self.hass, self.connection.run(), f"{DOMAIN} link {self.port}"
        )
        entry.async_on_unload(
            async_track_time_interval(self.hass, self._async_tick, TICK_INTERVAL)
        )
        self._rate_mark = (dt_util.utcnow(), self.connection.stats.packets)

    async def _async_setup_failed(self, err: ConnectError) -> None:
        placeholders = {"port": self.port, "detail": err.detail}
        await self.connection.close()
        if err.reason is ConnectErrorReason.UNSUPPORTED_VERSION:
            # Retried like any other failure: a gateway updated (or replaced) and
            # plugged in again comes up by itself; the issue tells what to do.
            create_version_issue(self.hass, self.entry, err)
        if err.reason is ConnectErrorReason.NOT_FOUND and not await async_port_present(
            self.hass, self.port
        ):
            create_port_issue(self.hass, self.entry)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key=err.reason.value,
            translation_placeholders=placeholders,
        ) from err

    @callback
    def flush(self) -> None:
        """Write every peer's pending values now (unloading: at once)."""
        self._to_flush.clear()
        for peer in self.table.peers.values():
            peer.flush()

    @callback
    def _flush_spread(self, peers: Iterable[Peer]) -> None:
        """Write many peers' entities (availability changed) without blocking the loop.

        A thousand peers are ten thousand state writes: they go a time slice per
        loop turn, so that button events and the link keep flowing in between.
        """
        queued = set(self._to_flush)
        self._to_flush.extend(peer for peer in peers if peer not in queued)
        if self._flushing is None and self._to_flush:
            self._flushing = self.hass.loop.call_soon(self._flush_some)

    def _flush_some(self) -> None:
        self._flushing = None
        queue = self._to_flush
        deadline = time.perf_counter() + FLUSH_SLICE
        while queue:
            queue.popleft().flush()
            if time.perf_counter() >= deadline:
                break
        if queue:
            self._flushing = self.hass.loop.call_soon(self._flush_some)

    async def async_shutdown(self) -> None:
        """Close the link and release the port; keep the peer table."""
        await self.sender.async_shutdown()
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        self._to_flush.clear()
        for peer in self.table.peers.values():
            peer.scheduler.cancel()
        await self.connection.close()
        await self.table.async_save_now()

    @callback
    def async_add_listener(self, listener: Listener) -> CALLBACK_TYPE:
        """Call ``listener`` when gateway figures or the link state change."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_add_packet_listener(self, listener: PacketListener) -> CALLBACK_TYPE:
        """Call ``listener(packet, kind)`` for every packet the gateway forwards."""
        self._packet_listeners.append(listener)
        return lambda: self._packet_listeners.remove(listener)

    @callback
    def async_notify(self) -> None:
        """Tell the gateway's entities that its figures may have changed."""
        for listener in list(self._listeners):
            listener()

    def _register_gateway_device(self) -> None:
        info = self.info
        device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.unique_prefix)},
            connections={(dr.CONNECTION_NETWORK_MAC, self.mac.lower())},
            manufacturer="Espressif",
            model="ESP-NOW gateway",
            name="ESP-NOW Gateway",
            sw_version=info.firmware if info else None,
            serial_number=self.mac,
        )
        self.device_id = self.table.devices.gateway_device_id = device.id

    # ---- peer hooks ---------------------------------------------------------------

    def _peer_new_keys(self, peer: Peer, keys: list[str]) -> None:
        self.table.async_save()
        self.table.announce(peer, keys)

    def _peer_device_changed(self, peer: Peer) -> None:
        self.table.async_save()
        self.table.devices.update(peer)

    def _peer_event(self, peer: Peer, event: ButtonEvent) -> None:
        if peer.device_id is not None:
            self.hass.bus.async_fire(
                EVENT_BUTTON,
                {
                    "device_id": peer.device_id,
                    "type": event.event_type,
                    ATTR_SUBTYPE: event.key,
                    "value": event.value,
                },
            )

    # ---- link callbacks -----------------------------------------------------------

    @callback
    def _handle_packet(self, packet: Packet) -> None:
        table = self.table
        peer = table.peers.get(packet.src)
        kind = peer.handle(packet) if peer is not None else table.handle_unknown(packet)
        if self._packet_listeners:
            if kind is None:
                kind = table.classify(packet)
            for listener in self._packet_listeners:
                listener(packet, kind)

    @callback
    def _handle_message(self, message: Message) -> None:
        if isinstance(message, Hello):  # unsolicited: the gateway restarted
            self.radio.link_up()
        if isinstance(message, Stats | Hello):
            self.async_notify()

    @callback
    def _handle_state(self, state: LinkState) -> None:
        if state is not LinkState.CONNECTED:
            self.sender.link_lost()  # nothing waits for a gateway that is not there
        if state is LinkState.CONNECTED:
            info = self.connection.info
            reconnected = self._was_connected is not None  # set-up checks the first one
            if reconnected and info is not None and mac_to_str(info.mac) != self.mac:
                # Another gateway is now on this port: set-up refuses it, with an issue.
                LOGGER.error(
                    "The gateway on %s is %s, not %s",
                    self.port,
                    mac_to_str(info.mac),
                    self.mac,
                )
                self.connection.reconnect_now()  # let go of the port before the reload
                self.hass.async_create_task(
                    self.connection.close(), "espnow_gateway close wrong gateway"
                )
                self.hass.config_entries.async_schedule_reload(self.entry.entry_id)
                return
            self._connected_since = dt_util.utcnow()
            self._port_missing_since = self._port_busy_since = None
            self._port_busy_logged = False
            self.connect_error = None
            for kind in ("port_busy", "port_missing", "unsupported_version"):
                delete_issue(self.hass, self.entry.entry_id, kind)
            if reconnected:
                self.radio.link_up()
            if self._was_connected is False:
                LOGGER.info(
                    "Connection to the ESP-NOW gateway on %s restored", self.port
                )
            self._was_connected = True
        elif state is LinkState.DISCONNECTED and self._was_connected:
            self._was_connected = False
            LOGGER.warning(
                "Lost the connection to the ESP-NOW gateway on %s", self.port
            )
        else:
            return
        self.async_notify()
        self._flush_spread(self.table.peers.values())

    @callback
    def _handle_connect_error(self, err: ConnectError) -> None:
        if self.connect_error is not err.reason:
            self.connect_error = err.reason  # the Connection entity shows it
            self.async_notify()
        if err.reason is ConnectErrorReason.UNSUPPORTED_VERSION:
            create_version_issue(self.hass, self.entry, err)
        if err.reason is ConnectErrorReason.BUSY:
            self._handle_port_busy()
            return
        self._port_busy_since = None
        if err.reason is not ConnectErrorReason.NOT_FOUND or not is_local_path(
            self.port
        ):
            return  # a network port is never "missing": it may be down, not gone
        now = dt_util.utcnow()
        if self._port_missing_since is None:
            self._port_missing_since = now
        elif (
            now - self._port_missing_since
        ).total_seconds() >= PORT_MISSING_REPAIR_AFTER:
            create_port_issue(self.hass, self.entry)

    def _handle_port_busy(self) -> None:
        """Another program holds the port: say so once, and in a repair if it lasts."""
        now = dt_util.utcnow()
        if self._port_busy_since is None:
            self._port_busy_since = now
            if not self._port_busy_logged:
                self._port_busy_logged = True
                LOGGER.warning(
                    "The port %s of the ESP-NOW gateway is held by another program; "
                    "retrying until it is free",
                    self.port,
                )
        elif (now - self._port_busy_since).total_seconds() >= PORT_BUSY_REPAIR_AFTER:
            create_port_busy_issue(self.hass, self.entry)

    @callback
    def reconnect_now(self) -> None:
        """Retry at once (a USB device was plugged in)."""
        if not self.connected:
            self.connection.reconnect_now()

    # ---- periodic work --------------------------------------------------------------

    @callback
    def _async_tick(self, now: datetime) -> None:
        """Update gateway figures and peer availability."""
        mark, packets = self._rate_mark
        elapsed = (now - mark).total_seconds()
        total = self.connection.stats.packets
        if elapsed > 0:
            self.packets_per_second = round((total - packets) / elapsed, 1)
        self._rate_mark = (now, total)
        connected = self._connected_since
        if self.connected and connected is not None:
            self._flush_spread(self.table.check_silence(now, connected))
        self.table.save_changed_state()
        self.async_notify()

    # ---- diagnostics ------------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """Return the gateway's figures for diagnostics."""
        info = self.info
        table = self.table
        return {
            "port": self.port,
            "state": self.connection.state,
            "hello": asdict(info) | {"mac": mac_to_str(info.mac)} if info else None,
            "gateway_stats": asdict(self.connection.gateway_stats)
            if self.connection.gateway_stats
            else None,
            "link": self.connection.stats.as_dict(),
            "counters": asdict(self.counters),
            "packets_per_second": self.packets_per_second,
            "radio": self.radio.diagnostics(),
            "sends": self.sender.diagnostics(),
            "options": {
                "update_interval": self.update_interval,
                "slow_update_interval": self.slow_interval,
                "auto_add": table.auto_add,
                "max_peers": table.max_peers,
            },
            **table.diagnostics(),
        }
