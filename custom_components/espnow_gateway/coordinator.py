"""Gateway runtime: the serial link, the peer table, decoding and fan-out to entities.

One ``EspNowGateway`` per config entry. Packets arrive from the link's
``data_received`` callback, straight into ``_handle_packet`` (no task per packet).
Each known peer decodes its payload, drops repeats, updates its values and fires
button events at once; entity state writes are coalesced per peer so that an entity is
written at most once per ``update_interval`` however fast the peer sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
import os
from typing import Any

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigEntry
from homeassistant.const import CONF_PORT
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.dispatcher import (
    async_dispatcher_connect,
    async_dispatcher_send,
)
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import (
    ATTR_SUBTYPE,
    CONF_AUTO_ADD,
    CONF_BAUDRATE,
    CONF_BINDKEY,
    CONF_EXPECTED_INTERVAL,
    CONF_MAX_PEERS,
    CONF_PAYLOAD_FORMAT,
    CONF_PEERS,
    CONF_UPDATE_INTERVAL,
    DEFAULT_AUTO_ADD,
    DEFAULT_BAUDRATE,
    DEFAULT_MAX_PEERS,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    DUPLICATE_WINDOW_US,
    EVENT_BUTTON,
    LOGGER,
    MAX_MEASUREMENTS_PER_PEER,
    MAX_PENDING_PEERS,
    MAX_STALE_AFTER,
    MIN_STALE_AFTER,
    PORT_MISSING_REPAIR_AFTER,
    SAVE_DELAY,
    SIGNAL_NEW_ENTITIES,
    STALE_FACTOR,
    TICK_INTERVAL,
    issue_id,
    peer_flow_unique_id,
)
from .espnowgw.connection import (
    ConnectError,
    ConnectErrorReason,
    GatewayConnection,
    LinkState,
)
from .espnowgw.decoders.formats import PeerDecoder, detect_kind, kind_of
from .espnowgw.mac import mac_from_str, mac_to_str
from .espnowgw.messages import PROTOCOL_MAJOR, Hello, Message, Packet, Stats
from .espnowgw.model import (
    ButtonEvent,
    DecodedPayload,
    Measurement,
    PayloadFormat,
    PayloadKind,
)
from .websocket_api import SIGNAL_STREAM_CHANGED, async_get_hub

STORAGE_VERSION = 1
PROTOCOL_DOC_URL = (
    "https://github.com/espnow-gateway/ha-espnow-gateway/blob/main/docs/protocol.md"
    "#4-versioning"
)
URGENT_MIN_GAP = 0.25  # s between two writes caused by binary state changes
PEER_MODELS: dict[PayloadKind | None, str] = {
    PayloadKind.BTHOME: "BTHome v2 device",
    PayloadKind.JSON: "JSON device",
    PayloadKind.RAW: "ESP-NOW device",
    None: "ESP-NOW device",
}
# Gaps shorter than this (repeats, bursts) do not teach a peer's reporting interval.
_MIN_GAP_US = 500_000
_EWMA_ALPHA = 0.3

type EspNowConfigEntry = ConfigEntry[EspNowGateway]
type Listener = Callable[[], None]


@dataclass(frozen=True, slots=True)
class MeasurementInfo:
    """What an entity for one measurement key looks like (persisted)."""

    key: str
    device_class: str | None
    unit: str | None
    state_class: str | None
    binary: bool = False
    precision: int | None = None

    @classmethod
    def from_measurement(cls, m: Measurement) -> MeasurementInfo:
        """Describe a decoded measurement."""
        return cls(m.key, m.device_class, m.unit, m.state_class, m.binary, m.precision)


@dataclass(slots=True)
class GatewayCounters:
    """Host-side counters of the peer table (the link has its own)."""

    unknown_packets: int = 0
    ignored_packets: int = 0
    table_full_packets: int = 0
    pending_dropped: int = 0
    duplicates: int = 0
    decode_errors: int = 0
    events: int = 0


@dataclass(slots=True)
class PendingPeer:
    """A peer heard but not (yet) added."""

    mac: str
    kind: PayloadKind
    rssi: int
    packets: int = 1
    first_seen: datetime = field(default_factory=dt_util.utcnow)


class Peer:
    """One ESP-NOW node heard through the gateway."""

    def __init__(
        self,
        gateway: EspNowGateway,
        mac: bytes,
        *,
        payload_format: PayloadFormat = PayloadFormat.AUTO,
        bindkey: bytes | None = None,
        expected_interval: float | None = None,
    ) -> None:
        """Initialize a peer with its per-peer options."""
        self.gateway = gateway
        self.mac = mac
        self.mac_str = mac_to_str(mac)
        self.unique_prefix = f"{gateway.unique_prefix}-{mac.hex()}"
        self.decoder = PeerDecoder(mac, payload_format=payload_format, bindkey=bindkey)
        self.expected_interval = expected_interval  # user override (s); 0 = never stale
        self.kind: PayloadKind | None = None
        self.measurements: dict[str, MeasurementInfo] = {}
        self.event_keys: set[str] = set()
        self.values: dict[str, float | int | str | bool | None] = {}
        self.rssi: int | None = None
        self.last_seen: datetime | None = None
        self.packets = 0
        self.duplicates = 0
        self.decode_errors = 0
        self.decryption_failures = 0
        self.learnt_interval: float | None = None  # seconds, EWMA of gaps
        self.stale = False
        self._last_ts = -1
        self._last_payload = b""
        self._last_packet_id: int | None = None
        self._last_packet_ts = -1
        self._listeners: list[Listener] = []
        self._event_listeners: dict[str, Callable[[ButtonEvent], None]] = {}
        self._next_flush = 0.0
        self._last_urgent = -URGENT_MIN_GAP  # loop time of the last binary-change write
        # The latest measurement-only payload, decoded when the next write is due.
        self._pending: bytes | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self.device_id: str | None = None

    # ---- listeners ----------------------------------------------------------------

    @callback
    def async_add_listener(self, listener: Listener) -> CALLBACK_TYPE:
        """Call ``listener`` when the peer's values may have changed (rate-limited)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_add_event_listener(
        self, key: str, listener: Callable[[ButtonEvent], None]
    ) -> CALLBACK_TYPE:
        """Call ``listener`` at once for every event of ``key``."""
        self._event_listeners[key] = listener

        def remove() -> None:
            self._event_listeners.pop(key, None)

        return remove

    @property
    def available(self) -> bool:
        """Whether the peer's entities are available."""
        return self.gateway.connected and not self.stale

    @property
    def stale_after(self) -> float | None:
        """Seconds of silence after which the peer is unavailable; None: never."""
        if self.expected_interval is not None:
            return (
                self.expected_interval * STALE_FACTOR
                if self.expected_interval
                else None
            )
        if self.event_keys or self.learnt_interval is None:
            return None  # buttons are silent for days; unknown rhythm: no verdict
        return min(
            MAX_STALE_AFTER, max(MIN_STALE_AFTER, STALE_FACTOR * self.learnt_interval)
        )

    # ---- receive path (hot) ---------------------------------------------------------

    @callback
    def handle(self, packet: Packet) -> None:
        """Handle one packet from this peer."""
        self.packets += 1
        self.rssi = packet.rssi
        self.last_seen = dt_util.utcnow()
        if self.stale:
            self._revive()
        ts = packet.timestamp_us
        gap = ts - self._last_ts
        payload = packet.payload
        if payload == self._last_payload and 0 <= gap < DUPLICATE_WINDOW_US:
            self._count_duplicate()
            return
        if gap >= _MIN_GAP_US and self._last_ts >= 0:
            seconds = gap / 1_000_000
            learnt = self.learnt_interval
            self.learnt_interval = (
                seconds if learnt is None else learnt + _EWMA_ALPHA * (seconds - learnt)
            )
        self._last_ts = ts
        self._last_payload = payload
        # Measurements only matter as of the next state write: a payload that can
        # carry no event or binary state waits, and only the latest is decoded then.
        urgent, packet_id = self.decoder.scan(payload)
        decoded = self.decoder.decode(payload) if urgent or self.kind is None else None
        if decoded is not None:
            packet_id = decoded.packet_id
        if packet_id is not None:
            if (
                packet_id == self._last_packet_id
                and 0 <= ts - self._last_packet_ts < DUPLICATE_WINDOW_US
            ):
                self._count_duplicate()
                return
            self._last_packet_id = packet_id
            self._last_packet_ts = ts
        if decoded is None:
            self._pending = payload
            self._mark_dirty()
            return
        self._pending = None
        if self._absorb(decoded):
            self._write_soon()
        else:
            self._mark_dirty()

    def _count_duplicate(self) -> None:
        """Count a repeat of a frame already handled: only link figures change."""
        self.duplicates += 1
        self.gateway.counters.duplicates += 1
        self._mark_dirty()

    def _revive(self) -> None:
        """Make a stale peer available again (it was heard): write with this frame."""
        self.stale = False
        LOGGER.info("ESP-NOW peer %s is back", self.mac_str)
        self.cancel_flush()
        self._next_flush = 0.0

    def _absorb(self, decoded: DecodedPayload) -> bool:
        """Take in a decoded payload; fire its events; True if a binary state changed."""
        # A peer known to send BTHome or JSON stays so when a frame is not decodable.
        if self.kind is not decoded.kind and not (
            decoded.kind is PayloadKind.RAW and self.kind is not None
        ):
            self.kind = decoded.kind
            self.gateway.async_save()
            self.gateway.update_peer_device(self)
        if decoded.error is not None:
            self.decode_errors += 1
            self.gateway.counters.decode_errors += 1
        if decoded.decryption_failed:
            self.decryption_failures += 1
        new_keys: list[str] = []
        values = self.values
        binary_changed = False
        for m in decoded.measurements:
            if m.key not in self.measurements:
                if len(self.measurements) >= MAX_MEASUREMENTS_PER_PEER:
                    continue
                self.measurements[m.key] = MeasurementInfo.from_measurement(m)
                new_keys.append(m.key)
            if m.binary and m.key in values and values[m.key] != m.value:
                binary_changed = True
            values[m.key] = m.value
        for event in decoded.events:
            if event.key not in self.event_keys:
                self.event_keys.add(event.key)
                new_keys.append(event.key)
        if new_keys:
            self.gateway.async_save()
            self.gateway.announce(self, new_keys)
        for event in decoded.events:
            self._fire(event)
        return binary_changed

    def _fire(self, event: ButtonEvent) -> None:
        """Deliver a button event now: never rate-limited."""
        self.gateway.counters.events += 1
        listener = self._event_listeners.get(event.key)
        if listener is not None:
            listener(event)
        if self.device_id is not None:
            self.gateway.hass.bus.async_fire(
                EVENT_BUTTON,
                {
                    "device_id": self.device_id,
                    "type": event.event_type,
                    ATTR_SUBTYPE: event.key,
                    "value": event.value,
                },
            )

    # ---- rate-limited state writes --------------------------------------------------

    def _mark_dirty(self) -> None:
        if self._flush_handle is not None:
            return
        loop = self.gateway.hass.loop
        now = loop.time()
        if now >= self._next_flush:
            self._write(now)
        else:
            self._flush_handle = loop.call_at(self._next_flush, self._scheduled_flush)

    def _write_soon(self) -> None:
        """Write now for a binary state change (a door, a motion).

        At most once per ``URGENT_MIN_GAP``, so that a flapping sensor cannot flood.
        """
        loop = self.gateway.hass.loop
        now = loop.time()
        earliest = self._last_urgent + URGENT_MIN_GAP
        if now >= earliest:
            self._last_urgent = now
            self.cancel_flush()
            self._write(now)
        elif self._flush_handle is None or self._flush_handle.when() > earliest:
            self._last_urgent = earliest
            self.cancel_flush()
            self._flush_handle = loop.call_at(earliest, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_handle = None
        self._write(self.gateway.hass.loop.time())

    def _write(self, now: float) -> None:
        self._next_flush = now + self.gateway.update_interval
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._absorb(self.decoder.decode(pending))
        for listener in list(self._listeners):
            listener()

    @callback
    def flush(self) -> None:
        """Write all entities now (availability changed)."""
        self.cancel_flush()
        self._write(self.gateway.hass.loop.time())

    @callback
    def cancel_flush(self) -> None:
        """Cancel a scheduled write."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    # ---- persistence --------------------------------------------------------------

    def as_stored(self) -> dict[str, Any]:
        """Return what is kept across restarts."""
        return {
            "kind": self.kind.value if self.kind else None,
            "measurements": [asdict(m) for m in self.measurements.values()],
            "events": sorted(self.event_keys),
            "interval": self.learnt_interval,
        }

    def restore(self, stored: dict[str, Any]) -> None:
        """Restore what ``as_stored`` returned."""
        kind = stored.get("kind")
        self.kind = PayloadKind(kind) if kind in set(PayloadKind) else None
        for item in stored.get("measurements", [])[:MAX_MEASUREMENTS_PER_PEER]:
            info = MeasurementInfo(**item)
            self.measurements[info.key] = info
        self.event_keys = set(stored.get("events", []))
        interval = stored.get("interval")
        self.learnt_interval = float(interval) if interval else None

    def diagnostics(self) -> dict[str, Any]:
        """Return the peer's figures for diagnostics."""
        return {
            "mac": self.mac_str,
            "kind": self.kind,
            "payload_format": self.decoder.payload_format,
            "measurements": sorted(self.measurements),
            "events": sorted(self.event_keys),
            "values": dict(self.values),
            "rssi": self.rssi,
            "last_seen": self.last_seen,
            "packets": self.packets,
            "duplicates": self.duplicates,
            "decode_errors": self.decode_errors,
            "decryption_failures": self.decryption_failures,
            "learnt_interval_s": self.learnt_interval,
            "stale_after_s": self.stale_after,
            "stale": self.stale,
        }


class EspNowGateway:
    """Runtime of one gateway (the entry's ``runtime_data``)."""

    def __init__(self, hass: HomeAssistant, entry: EspNowConfigEntry) -> None:
        """Initialize from the config entry."""
        self.hass = hass
        self.entry = entry
        self.port: str = entry.data[CONF_PORT]
        options = entry.options
        self.update_interval = float(
            options.get(CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL)
        )
        self.auto_add = bool(options.get(CONF_AUTO_ADD, DEFAULT_AUTO_ADD))
        self.max_peers = int(options.get(CONF_MAX_PEERS, DEFAULT_MAX_PEERS))
        self.peer_options: dict[str, dict[str, Any]] = dict(options.get(CONF_PEERS, {}))
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
        self.peers: dict[bytes, Peer] = {}
        self.pending: dict[bytes, PendingPeer] = {}
        self.ignored: set[str] = set()
        self.counters = GatewayCounters()
        self.device_id: str | None = None
        self.packets_per_second = 0.0
        self._rate_mark: tuple[datetime, int] = (dt_util.utcnow(), 0)
        self._listeners: list[Listener] = []
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}"
        )
        self._port_missing_since: datetime | None = None
        self._was_connected: bool | None = None  # None: never connected yet
        self._connected_since: datetime | None = None
        self._table_full_logged = False
        self.stream = async_get_hub(hass)

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
        if mac_to_str(hello.mac) != self.mac:
            await self.connection.close()
            self._create_wrong_gateway_issue(mac_to_str(hello.mac))
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="wrong_gateway",
                translation_placeholders={
                    "port": self.port,
                    "expected": self.mac,
                    "found": mac_to_str(hello.mac),
                },
            )
        self._delete_issue("wrong_gateway")
        self._register_gateway_device()
        await self._async_load()
        entry = self.entry
        entry.async_create_background_task(
            self.hass, self.connection.run(), f"{DOMAIN} link {self.port}"
        )
        entry.async_on_unload(
            async_track_time_interval(self.hass, self._async_tick, TICK_INTERVAL)
        )
        entry.async_on_unload(
            async_dispatcher_connect(self.hass, SIGNAL_STREAM_CHANGED, self._notify)
        )
        self._rate_mark = (dt_util.utcnow(), self.connection.stats.packets)

    async def _async_setup_failed(self, err: ConnectError) -> None:
        placeholders = {"port": self.port, "detail": err.detail}
        await self.connection.close()
        if err.reason is ConnectErrorReason.UNSUPPORTED_VERSION:
            self._create_version_issue(err)
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="unsupported_version",
                translation_placeholders=placeholders,
            ) from err
        if (
            err.reason is ConnectErrorReason.NOT_FOUND
            and not await self.hass.async_add_executor_job(os.path.exists, self.port)
        ):
            self._create_port_issue()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key=err.reason.value,
            translation_placeholders=placeholders,
        ) from err

    @callback
    def flush(self) -> None:
        """Write every peer's pending values now."""
        for peer in self.peers.values():
            peer.flush()

    async def async_shutdown(self) -> None:
        """Close the link and release the port; keep the peer table."""
        for peer in self.peers.values():
            peer.cancel_flush()
        await self.connection.close()
        if self.peers or self.ignored:
            await self._store.async_save(self._stored())

    @callback
    def async_add_listener(self, listener: Listener) -> CALLBACK_TYPE:
        """Call ``listener`` when gateway figures or the link state change."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def _notify(self) -> None:
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
        self.device_id = device.id

    # ---- link callbacks -----------------------------------------------------------

    @callback
    def _handle_packet(self, packet: Packet) -> None:
        peer = self.peers.get(packet.src)
        if peer is not None:
            peer.handle(packet)
        else:
            self._handle_unknown(packet)
        if self.stream.active:
            self._publish(packet)

    def _publish(self, packet: Packet) -> None:
        """Offer a packet to the raw stream, with the kind it decodes as."""
        peer = self.peers.get(packet.src)
        configured = (
            peer.decoder.payload_format
            if peer is not None
            else self._configured_format(mac_to_str(packet.src))
        )
        kind = kind_of(packet.payload, configured)
        self.stream.publish(self.entry.entry_id, packet, kind.value)

    def _handle_unknown(self, packet: Packet) -> None:
        mac = packet.src
        mac_str = mac_to_str(mac)
        if mac_str in self.ignored:
            self.counters.ignored_packets += 1
            return
        self.counters.unknown_packets += 1
        pending = self.pending.get(mac)
        if pending is not None:
            pending.packets += 1
            pending.rssi = packet.rssi
            if not (
                self.auto_add
                and pending.kind is PayloadKind.RAW
                and detect_kind(packet.payload) is not PayloadKind.RAW
            ):
                return
            # It waited only for being raw: now it sends something decodable.
            self._abort_discovery(mac)
        configured = self._configured_format(mac_str)
        kind = kind_of(packet.payload, configured)
        # A format the user configured counts as decodable, whatever it is.
        if self.auto_add and (
            configured is not PayloadFormat.AUTO or kind is not PayloadKind.RAW
        ):
            peer = self.add_peer(mac)
            if peer is not None:
                peer.handle(packet)
            return
        self._add_pending(mac, kind, packet.rssi)

    def _add_pending(self, mac: bytes, kind: PayloadKind, rssi: int) -> None:
        if len(self.pending) >= MAX_PENDING_PEERS:
            oldest = next(iter(self.pending))
            del self.pending[oldest]
            self.counters.pending_dropped += 1
            self._abort_discovery(oldest)
        self.pending[mac] = PendingPeer(mac_to_str(mac), kind, rssi)
        self.hass.async_create_task(self._async_discover(mac), eager_start=False)

    async def _async_discover(self, mac: bytes) -> None:
        """Ask the user about a pending peer (unless it was dropped meanwhile)."""
        pending = self.pending.get(mac)
        if pending is None:
            return
        await self.hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={
                "entry_id": self.entry.entry_id,
                "mac": pending.mac,
                "kind": pending.kind.value,
            },
        )

    def _abort_discovery(self, mac: bytes) -> None:
        """Withdraw the question about a peer that is no longer pending.

        The pending table is bounded; without this the discovery flows of dropped
        peers would pile up instead. The flow's unique id is the config flow's.
        """
        flows = self.hass.config_entries.flow
        unique_id = peer_flow_unique_id(self.mac, mac_to_str(mac))
        for flow in flows.async_progress_by_handler(
            DOMAIN, include_uninitialized=True, match_context={"unique_id": unique_id}
        ):
            flows.async_abort(flow["flow_id"])

    @callback
    def _handle_message(self, message: Message) -> None:
        if isinstance(message, Stats | Hello):
            self._notify()

    @callback
    def _handle_state(self, state: LinkState) -> None:
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
            self._port_missing_since = None
            self._delete_issue("port_missing")
            self._delete_issue("unsupported_version")
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
        self._notify()
        for peer in self.peers.values():
            peer.flush()

    @callback
    def _handle_connect_error(self, err: ConnectError) -> None:
        if err.reason is ConnectErrorReason.UNSUPPORTED_VERSION:
            self._create_version_issue(err)
        if err.reason is not ConnectErrorReason.NOT_FOUND:
            return
        now = dt_util.utcnow()
        if self._port_missing_since is None:
            self._port_missing_since = now
        elif (
            now - self._port_missing_since
        ).total_seconds() >= PORT_MISSING_REPAIR_AFTER:
            self._create_port_issue()

    @callback
    def reconnect_now(self) -> None:
        """Retry at once (a USB device was plugged in)."""
        if not self.connected:
            self.connection.reconnect_now()

    # ---- peers --------------------------------------------------------------------

    def _configured_format(self, mac_str: str) -> PayloadFormat:
        options = self.peer_options.get(mac_str, {})
        return PayloadFormat(options.get(CONF_PAYLOAD_FORMAT, PayloadFormat.AUTO))

    def _peer_settings(self, mac_str: str) -> dict[str, Any]:
        options = self.peer_options.get(mac_str, {})
        bindkey = options.get(CONF_BINDKEY)
        interval = options.get(CONF_EXPECTED_INTERVAL)
        return {
            "payload_format": self._configured_format(mac_str),
            "bindkey": bytes.fromhex(bindkey) if bindkey else None,
            "expected_interval": float(interval) if interval is not None else None,
        }

    @callback
    def add_peer(self, mac: bytes, stored: dict[str, Any] | None = None) -> Peer | None:
        """Add a peer to the table; None when the table is full."""
        if mac in self.peers:
            return self.peers[mac]
        if len(self.peers) >= self.max_peers:
            self.counters.table_full_packets += 1
            if not self._table_full_logged:
                self._table_full_logged = True
                LOGGER.warning(
                    "The peer table is full (%d peers); new peers are ignored. "
                    "Raise the limit in the integration's options or delete unused peers",
                    self.max_peers,
                )
            return None
        peer = Peer(self, mac, **self._peer_settings(mac_to_str(mac)))
        if stored:
            peer.restore(stored)
        self.peers[mac] = peer
        self.pending.pop(mac, None)
        if stored is None:
            self.async_save()
        self._register_peer_device(peer)
        self.announce(peer, None)
        self._notify()
        return peer

    def _register_peer_device(self, peer: Peer) -> None:
        device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, peer.unique_prefix)},
            connections={(dr.CONNECTION_NETWORK_MAC, peer.mac_str.lower())},
            manufacturer="ESP-NOW",
            model=PEER_MODELS.get(peer.kind, PEER_MODELS[None]),
            name=f"ESP-NOW {peer.mac_str[-8:]}",
            via_device_id=self.device_id,
        )
        peer.device_id = device.id

    def update_peer_device(self, peer: Peer) -> None:
        """Show what a peer turned out to be (its payload kind) on its device."""
        if peer.device_id is not None:
            dr.async_get(self.hass).async_update_device(
                peer.device_id, model=PEER_MODELS.get(peer.kind, PEER_MODELS[None])
            )

    @callback
    def approve_peer(self, mac_str: str) -> bool:
        """Add a pending peer the user confirmed."""
        mac = mac_from_str(mac_str)
        self.ignored.discard(mac_str)
        return self.add_peer(mac) is not None

    @callback
    def remove_peer(self, mac_str: str) -> None:
        """Forget a peer (its device was deleted) and ignore it from now on."""
        mac = mac_from_str(mac_str)
        peer = self.peers.pop(mac, None)
        if peer is not None:
            peer.cancel_flush()
        if self.pending.pop(mac, None) is not None:
            self._abort_discovery(mac)
        self.ignored.add(mac_str)
        self.async_save()
        self._notify()

    @callback
    def unignore(self, mac_str: str) -> None:
        """Stop ignoring a peer."""
        self.ignored.discard(mac_str)
        self.async_save()

    @callback
    def announce(self, peer: Peer, keys: list[str] | None) -> None:
        """Tell the platforms about a new peer (keys None) or new keys of a peer."""
        async_dispatcher_send(
            self.hass, SIGNAL_NEW_ENTITIES.format(self.entry.entry_id), peer, keys
        )

    def peer_by_device(self, device_id: str) -> Peer | None:
        """Return the peer behind a device registry id."""
        for peer in self.peers.values():
            if peer.device_id == device_id:
                return peer
        return None

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
            for peer in self.peers.values():
                self._check_silence(peer, now, connected)
        self._notify()

    def _check_silence(self, peer: Peer, now: datetime, connected: datetime) -> None:
        """Mark a peer stale (unavailable) after too long a silence, or not.

        Silence only counts while the peer could have been heard: from the moment
        the link (re)connected, so an outage does not make every peer stale, and a
        peer restored from the table but never heard since is judged too.
        """
        limit = peer.stale_after
        heard = peer.last_seen
        silent_since = heard if heard is not None and heard > connected else connected
        stale = limit is not None and (now - silent_since).total_seconds() > limit
        if stale != peer.stale:
            peer.stale = stale
            LOGGER.info(
                "ESP-NOW peer %s is %s",
                peer.mac_str,
                "silent: marked unavailable" if stale else "back",
            )
            peer.flush()

    # ---- persistence ----------------------------------------------------------------

    async def _async_load(self) -> None:
        stored = await self._store.async_load() or {}
        self.ignored = set(stored.get("ignored", []))
        for mac_str, data in stored.get("peers", {}).items():
            if mac_str not in self.ignored:
                self.add_peer(mac_from_str(mac_str), data)

    def _stored(self) -> dict[str, Any]:
        return {
            "peers": {peer.mac_str: peer.as_stored() for peer in self.peers.values()},
            "ignored": sorted(self.ignored),
        }

    @callback
    def async_save(self) -> None:
        """Save the peer table soon (writes are batched)."""
        self._store.async_delay_save(self._stored, SAVE_DELAY)

    # ---- repairs ----------------------------------------------------------------------

    def _issue_id(self, kind: str) -> str:
        return issue_id(kind, self.entry.entry_id)

    def _create_issue(
        self, kind: str, placeholders: dict[str, str], **extra: Any
    ) -> None:
        """Raise (or refresh) one of the entry's repair issues."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(kind),
            is_fixable=kind == "port_missing",
            severity=ir.IssueSeverity.ERROR,
            translation_key=kind,
            translation_placeholders={"title": self.entry.title, "port": self.port}
            | placeholders,
            **extra,
        )

    def _create_port_issue(self) -> None:
        self._create_issue("port_missing", {}, data={"entry_id": self.entry.entry_id})

    def _create_version_issue(self, err: ConnectError) -> None:
        hello = err.hello
        version = f"{hello.protocol_major}.{hello.protocol_minor}" if hello else "?"
        self._create_issue(
            "unsupported_version",
            {"version": version, "supported": f"{PROTOCOL_MAJOR}.x"},
            learn_more_url=PROTOCOL_DOC_URL,
        )

    def _create_wrong_gateway_issue(self, found: str) -> None:
        self._create_issue("wrong_gateway", {"expected": self.mac, "found": found})

    def _delete_issue(self, kind: str) -> None:
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(kind))

    # ---- diagnostics ------------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """Return the gateway's figures for diagnostics."""
        info = self.info
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
            "options": {
                "update_interval": self.update_interval,
                "auto_add": self.auto_add,
                "max_peers": self.max_peers,
            },
            "peers": [peer.diagnostics() for peer in self.peers.values()],
            "pending": [asdict(p) for p in self.pending.values()],
            "ignored": sorted(self.ignored),
        }
