"""The gateway's radio state the host owns: its channel, its primary key, its peers.

A gateway forgets its runtime state when it restarts (docs/protocol.md 5.9), so after
every handshake and every restart :meth:`GatewayRadio.link_up` sets it up again: the
channel the user chose with the channel select, the PMK of the gateway's options, the
peers with an LMK (their device options) registered encrypted, and, with a 1.1 gateway
that lists its table, the peers it no longer wants unregistered.

Peers without a key are registered when they are first sent to
(:meth:`GatewayRadio.async_ensure`). ESP-NOW's table is small (20 entries with the
broadcast one, 7 encrypted by default): when it is full, the unencrypted peer sent to
least recently is unregistered to make room; with none to let go of, the send fails
with :class:`PeerTableFullError`. One lock orders every command that changes the table.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .const import CONF_CHANNEL, CONF_LMK, CONF_PMK, DOMAIN, LOGGER
from .espnowgw.connection import (
    CommandFailedError,
    GatewayConnection,
    GatewayError,
    GatewayTimeoutError,
    NotConnectedError,
)
from .espnowgw.mac import BROADCAST, mac_to_str
from .espnowgw.messages import Capability, Status
from .helpers import parse_key
from .peer_table import PeerTable

# Each set-up step is sent at most this many times when its answer is lost (a byte
# damaged on the line, the gateway busy): every step is idempotent.
SET_UP_ATTEMPTS = 3


class PeerTableFullError(GatewayError):
    """The gateway's radio peer table has no room, and nothing may be let go of."""


@dataclass(slots=True)
class RadioCounters:
    """What setting up the gateway's radio did."""

    set_ups: int = 0
    set_up_retries: int = 0  # a step sent again: its answer was lost
    set_up_errors: int = 0
    peers_added: int = 0
    peers_removed: int = 0
    evictions: int = 0  # unencrypted peers unregistered to make room
    table_full: int = 0  # registrations refused for want of room


class GatewayRadio:
    """Channel, PMK and registered peers of one gateway."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        connection: GatewayConnection,
        table: PeerTable,
        on_change: Callable[[], None],
    ) -> None:
        """Initialize from the gateway entry's options.

        ``on_change`` is called when the gateway's channel changed.
        """
        self.hass = hass
        self._on_change = on_change
        self.entry = entry
        self.connection = connection
        self.table = table
        channel = entry.options.get(CONF_CHANNEL)
        self.channel: int | None = int(channel) if channel else None
        self.pmk = parse_key(entry.options.get(CONF_PMK))
        self.counters = RadioCounters()
        # The host's view of the gateway's table (broadcast aside): MAC -> encrypted,
        # least recently sent to first.
        self.registered: OrderedDict[bytes, bool] = OrderedDict()
        self.capacity: tuple[int, int] | None = None  # from PEER_LIST: all, encrypted
        self._lock = asyncio.Lock()
        self._set_up: asyncio.Task[None] | None = None
        self._pmk_warned = False

    def lmk(self, mac: bytes) -> bytes | None:
        """Return the local master key configured for a peer (None: unencrypted)."""
        options = self.table.peer_options.get(mac_to_str(mac), {})
        return parse_key(options.get(CONF_LMK))

    # ---- set-up after every connect --------------------------------------------

    @callback
    def link_up(self) -> None:
        """Set the radio up again: the link is up, or the gateway restarted."""
        self.registered.clear()
        if self._set_up is not None:
            self._set_up.cancel()
        self._set_up = self.entry.async_create_background_task(
            self.hass,
            self._async_set_up(),
            f"{DOMAIN} radio set-up {self.connection.url}",
            eager_start=True,
        )

    async def _async_set_up(self) -> None:
        steps: tuple[tuple[str, Callable[[], Awaitable[None]]], ...] = (
            ("channel", self._restore_channel),
            ("primary key", self._send_pmk),
            ("peer table", self._reconcile),
            ("encrypted peers", self._add_encrypted),
        )
        async with self._lock:
            self.counters.set_ups += 1
            for name, step in steps:
                try:
                    await self._attempt(step)
                except NotConnectedError:
                    return  # set up again at the next connect
                except GatewayError as err:
                    self.counters.set_up_errors += 1
                    LOGGER.warning(
                        "Setting up the %s of the ESP-NOW gateway on %s failed: %s",
                        name,
                        self.connection.url,
                        err,
                    )

    async def _attempt(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run a set-up step; run it again when an answer was lost."""
        for attempt in range(1, SET_UP_ATTEMPTS + 1):
            try:
                await step()
            except GatewayTimeoutError:
                if attempt == SET_UP_ATTEMPTS:
                    raise
                self.counters.set_up_retries += 1
                LOGGER.debug(
                    "The ESP-NOW gateway on %s did not answer a set-up command: "
                    "sending it again",
                    self.connection.url,
                )
            else:
                return

    async def _restore_channel(self) -> None:
        info = self.connection.info
        if (
            self.channel is not None
            and info is not None
            and info.channel != self.channel
            and self.connection.supports(Capability.SET_CHANNEL)
        ):
            LOGGER.info(
                "The ESP-NOW gateway on %s is on channel %d: moving it back to %d",
                self.connection.url,
                info.channel,
                self.channel,
            )
            await self.connection.set_channel(self.channel)
            self._on_change()

    async def _send_pmk(self) -> None:
        if self.pmk is None:
            return
        if self.connection.supports(Capability.SET_PMK):
            await self.connection.set_pmk(self.pmk)
        elif not self._pmk_warned:
            self._pmk_warned = True
            LOGGER.warning(
                "The ESP-NOW gateway on %s cannot take a primary master key (its "
                "firmware speaks protocol 1.0): the key built into it is used",
                self.connection.url,
            )

    async def _reconcile(self) -> None:
        """Learn what the gateway has registered; let go of what is not wanted."""
        if not self.connection.supports(Capability.PEER_LIST):
            return
        listed = await self.connection.get_peers()
        self.capacity = (listed.max_peers, listed.max_encrypted)
        for entry in listed.peers:
            if entry.mac == BROADCAST:
                continue
            wanted = entry.mac in self.table.peers and (
                not entry.encrypted or self.lmk(entry.mac) is not None
            )
            if wanted:
                self.registered[entry.mac] = entry.encrypted
            else:
                await self._remove(entry.mac)

    async def _add_encrypted(self) -> None:
        for mac in list(self.table.peers):
            if (lmk := self.lmk(mac)) is not None:
                await self._add(mac, lmk)

    # ---- registration on demand ----------------------------------------------------

    async def async_ensure(self, mac: bytes) -> None:
        """Make sure ``mac`` is registered before a unicast send to it.

        Raises ``PeerTableFullError``, or the link's errors (a gateway that refuses
        an encrypted peer answers NOT_SUPPORTED: never sent unencrypted instead).
        """
        if mac in self.registered:
            self.registered.move_to_end(mac)
            return
        async with self._lock:
            if mac in self.registered:
                self.registered.move_to_end(mac)
                return
            if self.connection.supports(Capability.PEERS):
                await self._add(mac, self.lmk(mac))

    @callback
    def forget(self, mac: bytes) -> None:
        """Forget that ``mac`` is registered (the gateway answered UNKNOWN_PEER)."""
        self.registered.pop(mac, None)

    async def async_remove(self, mac: bytes) -> None:
        """Unregister a peer whose device was deleted (if the link is up)."""
        self.registered.pop(mac, None)
        if not self.connection.connected or not self.connection.supports(
            Capability.PEERS
        ):
            return
        async with self._lock:
            try:
                await self._remove(mac)
            except GatewayError as err:
                LOGGER.debug("Unregistering %s failed: %s", mac_to_str(mac), err)

    async def _add(self, mac: bytes, lmk: bytes | None) -> None:
        """ADD_PEER; when the table is full, let go of the least recent plain peer."""
        while True:
            try:
                await self.connection.add_peer(mac, lmk=lmk)
            except CommandFailedError as err:
                if err.status != Status.PEER_TABLE_FULL:
                    raise
                if not await self._evict(mac, encrypted=lmk is not None):
                    self.counters.table_full += 1
                    raise PeerTableFullError(self._full_message(lmk)) from err
                continue
            self.registered[mac] = lmk is not None
            self.registered.move_to_end(mac)
            self.counters.peers_added += 1
            return

    async def _evict(self, keep: bytes, *, encrypted: bool) -> bool:
        """Unregister the least recently used unencrypted peer; False if none."""
        if (
            encrypted
            and self.capacity is not None
            and sum(self.registered.values()) >= self.capacity[1]
        ):
            return False  # the encrypted limit, not the table, is the bound
        for mac, is_encrypted in self.registered.items():
            if not is_encrypted and mac != keep:
                await self._remove(mac)
                self.counters.evictions += 1
                return True
        return False

    async def _remove(self, mac: bytes) -> None:
        try:
            await self.connection.remove_peer(mac)
        except CommandFailedError as err:
            if err.status != Status.UNKNOWN_PEER:
                raise
        self.registered.pop(mac, None)
        self.counters.peers_removed += 1

    def _full_message(self, lmk: bytes | None) -> str:
        if self.capacity is None:
            return "the gateway's peer table is full"
        total, encrypted = self.capacity
        if lmk is not None:
            return f"the gateway's peer table is full ({encrypted} encrypted peers)"
        return f"the gateway's peer table is full ({total} peers)"

    # ---- the channel -----------------------------------------------------------------

    async def async_set_channel(self, channel: int) -> None:
        """Move the radio to ``channel`` (the gateway confirms) and keep the choice."""
        async with self._lock:
            await self.connection.set_channel(channel)
        self.channel = channel
        self._on_change()
        self.hass.config_entries.async_update_entry(
            self.entry, options={**self.entry.options, CONF_CHANNEL: channel}
        )
        LOGGER.info(
            "The ESP-NOW gateway on %s is now on channel %d; peers that send on "
            "another channel are no longer heard",
            self.connection.url,
            channel,
        )

    # ---- diagnostics -------------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """Return the radio state for diagnostics (keys are never shown)."""
        return {
            "channel_chosen": self.channel,
            "pmk_configured": self.pmk is not None,
            "registered": [
                {"mac": mac_to_str(mac), "encrypted": encrypted}
                for mac, encrypted in self.registered.items()
            ],
            "capacity": self.capacity,
            "counters": asdict(self.counters),
        }
