"""The peer table of one gateway: known, pending and ignored peers.

Known peers have a device and entities; pending peers wait for the user to confirm
them (a discovery flow each); ignored peers were deleted by the user and stay out.
The table is bounded (``max_peers`` known, ``MAX_PENDING_PEERS`` pending), persisted
in a ``Store`` (writes batched), and tells the platforms about new peers and keys.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
import time
from typing import Any

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import (
    CONF_AUTO_ADD,
    CONF_BINDKEY,
    CONF_ENTITIES,
    CONF_ESPHOME_KEY,
    CONF_EXPECTED_INTERVAL,
    CONF_MAX_PEERS,
    CONF_PAYLOAD_FORMAT,
    CONF_PEERS,
    DEFAULT_AUTO_ADD,
    DEFAULT_MAX_PEERS,
    DOMAIN,
    LOGGER,
    MAX_PENDING_FRAMES,
    MAX_PENDING_PEERS,
    PENDING_STALE_AFTER,
    SAVE_DELAY,
    SIGNAL_NEW_ENTITIES,
)
from .espnowgw.decoders.evidence import FormatEvidence
from .espnowgw.decoders.formats import kind_of, sniff_as
from .espnowgw.mac import mac_from_str, mac_to_str
from .espnowgw.messages import Packet
from .espnowgw.model import PayloadFormat, PayloadKind
from .helpers import peer_flow_unique_id
from .models import PeerHooks
from .peer import Peer
from .peer_devices import PeerDevices

STORAGE_VERSION = 1


@dataclass(slots=True)
class PendingPeer:
    """A peer heard but not (yet) added.

    ``kind`` is what its frames have shown so far (raw until the evidence commits a
    kind, see ``FormatEvidence``); ``encrypted``: a BTHome sender that encrypts, so
    its confirmation asks for the key, checked against ``frames`` (the latest few).
    """

    mac: str
    rssi: int
    kind: PayloadKind = PayloadKind.RAW
    encrypted: bool = False
    asked: bool = False  # a discovery flow asks the user about it
    packets: int = 0
    first_seen: datetime = field(default_factory=dt_util.utcnow)
    heard: float = 0.0  # time.monotonic() of its latest frame
    evidence: FormatEvidence = field(default_factory=FormatEvidence)  # with its MAC
    frames: deque[bytes] = field(
        default_factory=lambda: deque(maxlen=MAX_PENDING_FRAMES)
    )

    def diagnostics(self) -> dict[str, Any]:
        """Return what diagnostics show of it."""
        return {
            "mac": self.mac,
            "kind": self.kind,
            "encrypted": self.encrypted,
            "asked": self.asked,
            "rssi": self.rssi,
            "packets": self.packets,
            "first_seen": self.first_seen,
        }


class PeerTable:
    """Known, pending and ignored peers of one gateway (config entry)."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        unique_prefix: str,
        hooks: PeerHooks,
        on_change: Callable[[], None],
    ) -> None:
        """Initialize from the entry's options; ``hooks`` are every peer's.

        ``on_change`` is called when peers are added or removed.
        """
        self.hass = hass
        self.entry = entry
        self.unique_prefix = unique_prefix
        self.gateway_mac = str(entry.unique_id)
        options = entry.options
        self.auto_add = bool(options.get(CONF_AUTO_ADD, DEFAULT_AUTO_ADD))
        self.max_peers = int(options.get(CONF_MAX_PEERS, DEFAULT_MAX_PEERS))
        self.peer_options: dict[str, dict[str, Any]] = dict(options.get(CONF_PEERS, {}))
        self.hooks = hooks
        self.counters = hooks.counters
        self._on_change = on_change
        self.peers: dict[bytes, Peer] = {}
        self.pending: dict[bytes, PendingPeer] = {}
        self.ignored: set[str] = set()
        self.devices = PeerDevices(hass, entry.entry_id, self.peers)
        self._table_full_logged = False
        self._pending_full_logged = False
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}"
        )

    # ---- receive path: peers not (yet) in the table -----------------------------------

    def handle_unknown(self, packet: Packet) -> PayloadKind | None:
        """Handle a packet of a peer not in the table; return its kind if found.

        A new sender is added (with auto-add) or offered to the user once its frames
        show what it is: a format the user configured, a kind the evidence commits
        (several consistent frames), or raw (frames that are no evidence). Raw
        senders and BTHome senders that encrypt without a known key are always
        offered, never added unasked.
        """
        mac = packet.src
        mac_str = mac_to_str(mac)
        if mac_str in self.ignored:
            self.counters.ignored_packets += 1
            return None
        self.counters.unknown_packets += 1
        pending = self.pending.pop(mac, None)  # re-inserted: least recently heard first
        if pending is None:
            pending = self._add_pending(mac, packet.rssi)
            if pending is None:
                return None
        else:
            self.pending[mac] = pending
            pending.heard = time.monotonic()
        pending.packets += 1
        pending.rssi = packet.rssi
        pending.frames.append(packet.payload)
        if pending.kind is not PayloadKind.RAW and pending.asked:
            return None  # decided and asked: nothing more to learn
        configured = self.configured_format(mac_str)
        if configured is PayloadFormat.AUTO:
            evidence = pending.evidence
            sniffed = evidence.feed(packet.payload)
            committed = evidence.committed
            pending.encrypted = evidence.encrypted
        else:  # a format the user configured counts as decodable, whatever it is
            sniffed = sniff_as(packet.payload, configured)
            committed = sniffed.kind
        if committed is None:
            if not pending.evidence.undecided:
                self._ask(pending)  # raw, as far as its frames show
            return sniffed.kind
        pending.kind = committed
        if self.auto_add and (
            not pending.encrypted or self._peer_settings(mac_str)["bindkey"]
        ):
            if pending.asked:
                self._abort_discovery(mac)  # it was raw so far: now it decodes
            peer = self.add(mac)
            if peer is not None:
                return peer.handle(packet, sniffed)
            return sniffed.kind
        self._ask(pending)
        return sniffed.kind

    def classify(self, packet: Packet) -> PayloadKind:
        """Return the kind of a packet that was not classified on its way in."""
        return kind_of(
            packet.payload, self.configured_format(mac_to_str(packet.src)), packet.src
        )

    def _add_pending(self, mac: bytes, rssi: int) -> PendingPeer | None:
        """Start waiting for confirmation of a new sender; None when the table is full.

        Full: the least recently heard pending sender makes room if it has been silent
        for ``PENDING_STALE_AFTER`` (its question is withdrawn); otherwise the newcomer
        is refused and counted. Evicting a sender that is still heard would start and
        abort discovery flows at every frame once more senders than the table holds
        are in range (a neighbour's devices, say).
        """
        if len(self.pending) >= MAX_PENDING_PEERS:
            oldest = next(iter(self.pending))
            if time.monotonic() - self.pending[oldest].heard < PENDING_STALE_AFTER:
                self.counters.pending_refused += 1
                if not self._pending_full_logged:
                    self._pending_full_logged = True
                    LOGGER.warning(
                        "%d senders are waiting for confirmation; further new senders "
                        "are ignored until some are added or ignored (or have been "
                        "silent for %d minutes)",
                        MAX_PENDING_PEERS,
                        PENDING_STALE_AFTER // 60,
                    )
                return None
            del self.pending[oldest]
            self.counters.pending_dropped += 1
            self._abort_discovery(oldest)
        pending = self.pending[mac] = PendingPeer(
            mac_to_str(mac), rssi, evidence=FormatEvidence(mac), heard=time.monotonic()
        )
        return pending

    def _ask(self, pending: PendingPeer) -> None:
        """Start the discovery flow that asks the user about a pending peer (once)."""
        if not pending.asked:
            pending.asked = True
            mac = mac_from_str(pending.mac)
            self.hass.async_create_task(self._async_discover(mac), eager_start=False)

    async def _async_discover(self, mac: bytes) -> None:
        """Ask the user about a pending peer (unless it was dropped meanwhile)."""
        pending = self.pending.get(mac)
        if pending is None:
            return
        result = await self.hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={
                "entry_id": self.entry.entry_id,
                "mac": pending.mac,
                "kind": pending.kind.value,
                "encrypted": pending.encrypted,
            },
        )
        if (
            result.get("reason") == "gateway_not_loaded"
            and self.pending.get(mac) is pending
        ):
            # Heard while the gateway was still being set up (at every start): ask at
            # its next frame, or it would never be offered.
            pending.asked = False

    def _abort_discovery(self, mac: bytes) -> None:
        """Withdraw the question about a peer that is no longer pending.

        The pending table is bounded; without this the discovery flows of dropped
        peers would pile up instead. The flow's unique id is the config flow's.
        """
        flows = self.hass.config_entries.flow
        unique_id = peer_flow_unique_id(self.gateway_mac, mac_to_str(mac))
        for flow in flows.async_progress_by_handler(
            DOMAIN, include_uninitialized=True, match_context={"unique_id": unique_id}
        ):
            flows.async_abort(flow["flow_id"])

    # ---- per-peer options ---------------------------------------------------------------

    def configured_format(self, mac_str: str) -> PayloadFormat:
        """Return the payload format the user set for a peer (default: automatic)."""
        options = self.peer_options.get(mac_str, {})
        return PayloadFormat(options.get(CONF_PAYLOAD_FORMAT, PayloadFormat.AUTO))

    def _peer_settings(self, mac_str: str) -> dict[str, Any]:
        options = self.peer_options.get(mac_str, {})
        bindkey = options.get(CONF_BINDKEY)
        interval = options.get(CONF_EXPECTED_INTERVAL)
        return {
            "payload_format": self.configured_format(mac_str),
            "bindkey": bytes.fromhex(bindkey) if bindkey else None,
            "esphome_key": options.get(CONF_ESPHOME_KEY) or None,
            "expected_interval": float(interval) if interval is not None else None,
            "entities": options.get(CONF_ENTITIES) or {},
        }

    # ---- the table --------------------------------------------------------------------

    @callback
    def add(self, mac: bytes, stored: dict[str, Any] | None = None) -> Peer | None:
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
        peer = Peer(
            mac,
            f"{self.unique_prefix}-{mac.hex()}",
            self.hooks,
            **self._peer_settings(mac_to_str(mac)),
        )
        if stored:
            peer.restore(stored)
        self.peers[mac] = peer
        self.pending.pop(mac, None)
        if stored is None:
            self.async_save()
        self.devices.register(peer)
        self.announce(peer, None)
        self._on_change()
        return peer

    @callback
    def approve(self, mac_str: str, bindkey: str | None = None) -> bool:
        """Add a pending peer the user confirmed, with its BTHome key if it has one."""
        mac = mac_from_str(mac_str)
        self.ignored.discard(mac_str)
        if bindkey is not None and len(self.peers) < self.max_peers:
            settings = {**self.peer_options.get(mac_str, {}), CONF_BINDKEY: bindkey}
            self.peer_options[mac_str] = settings
            entry = self.entry
            peers = {**entry.options.get(CONF_PEERS, {}), mac_str: settings}
            self.hass.config_entries.async_update_entry(
                entry, options={**entry.options, CONF_PEERS: peers}
            )
        return self.add(mac) is not None

    def pending_frames(self, mac_str: str) -> list[bytes]:
        """Return the latest frames of a pending peer (oldest first)."""
        pending = self.pending.get(mac_from_str(mac_str))
        return list(pending.frames) if pending is not None else []

    @callback
    def remove(self, mac_str: str) -> None:
        """Forget a peer (its device was deleted) and ignore it from now on."""
        mac = mac_from_str(mac_str)
        peer = self.peers.pop(mac, None)
        if peer is not None:
            peer.scheduler.cancel()
        if self.pending.pop(mac, None) is not None:
            self._abort_discovery(mac)
        self.ignored.add(mac_str)
        self.async_save()
        self._on_change()

    @callback
    def unignore(self, mac_str: str) -> None:
        """Stop ignoring a peer."""
        self.ignored.discard(mac_str)
        self.async_save()

    def by_device(self, device_id: str) -> Peer | None:
        """Return the peer behind a device registry id."""
        for peer in self.peers.values():
            if peer.device_id == device_id:
                return peer
        return None

    @callback
    def announce(self, peer: Peer, keys: list[str] | None) -> None:
        """Tell the platforms about a new peer (keys None) or new keys of a peer."""
        async_dispatcher_send(
            self.hass, SIGNAL_NEW_ENTITIES.format(self.entry.entry_id), peer, keys
        )

    def check_silence(self, now: datetime, connected: datetime) -> list[Peer]:
        """Mark peers stale (unavailable) after too long a silence, or not.

        Silence only counts while a peer could have been heard: from the moment the
        link (re)connected, so an outage does not make every peer stale, and a peer
        restored from the table but never heard since is judged too. Return the
        peers whose availability changed (their entities are to be written).
        """
        changed: list[Peer] = []
        for peer in self.peers.values():
            limit = peer.stale_after
            heard = peer.last_seen
            since = heard if heard is not None and heard > connected else connected
            stale = limit is not None and (now - since).total_seconds() > limit
            if stale != peer.stale:
                peer.stale = stale
                LOGGER.info(
                    "ESP-NOW peer %s is %s",
                    peer.mac_str,
                    "silent: marked unavailable" if stale else "back",
                )
                changed.append(peer)
        return changed

    @callback
    def reset_decoder_state(self, mac_str: str) -> None:
        """Forget what a peer's decoder keeps (rolling codes: its flash was erased)."""
        peer = self.peers.get(mac_from_str(mac_str))
        if peer is not None:
            peer.decoder.restore_state({})
            self.async_save()

    def save_changed_state(self) -> None:
        """Save the table if a peer's decoder state (rolling codes) moved on.

        Called every tick rather than at every frame: a busy node's rolling code
        moves with every frame, and a save due in 10 s would never come.
        """
        changed = False
        for peer in self.peers.values():
            if peer.state_dirty:
                peer.state_dirty = False
                changed = True
        if changed:
            self.async_save()

    # ---- persistence --------------------------------------------------------------------

    async def async_load(self) -> None:
        """Load the stored table (peers, ignored peers)."""
        stored = await self._store.async_load() or {}
        self.ignored = set(stored.get("ignored", []))
        for mac_str, data in stored.get("peers", {}).items():
            if mac_str not in self.ignored:
                self.add(mac_from_str(mac_str), data)

    def _stored(self) -> dict[str, Any]:
        return {
            "peers": {peer.mac_str: peer.as_stored() for peer in self.peers.values()},
            "ignored": sorted(self.ignored),
        }

    @callback
    def async_save(self) -> None:
        """Save the table soon (writes are batched)."""
        self._store.async_delay_save(self._stored, SAVE_DELAY)

    async def async_save_now(self) -> None:
        """Save the table now (unloading), if there is anything to keep."""
        if self.peers or self.ignored:
            await self._store.async_save(self._stored())

    def diagnostics(self) -> dict[str, Any]:
        """Return the table for diagnostics."""
        return {
            "peers": [peer.diagnostics() for peer in self.peers.values()],
            "pending": [p.diagnostics() for p in self.pending.values()],
            "ignored": sorted(self.ignored),
        }
