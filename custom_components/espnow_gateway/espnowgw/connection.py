"""Asyncio connection to an ESP-NOW gateway over serialx.

One ``GatewayConnection`` owns one serial link: it opens the port without blocking
the event loop (serialx does every blocking call in the executor), performs the hello
handshake, sends heartbeats, declares the link dead after a silence, reconnects with
capped exponential backoff and jitter, and delivers every received packet to a
callback straight from ``data_received`` (no task per packet).

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
import dataclasses
from dataclasses import asdict, dataclass, field
from enum import StrEnum
import errno
import logging
import os
import random
from typing import Any, Final

import serialx

from .codec import DecoderStats
from .messages import (
    DEFAULT_BAUDRATE,
    PROTOCOL_MAJOR,
    AddPeer,
    Capability,
    CommandResult,
    GetInfo,
    GetPeers,
    Hello,
    Log,
    Message,
    Packet,
    PeerList,
    Ping,
    Pong,
    RemovePeer,
    Send,
    SendResult,
    SetChannel,
    SetPmk,
    Stats,
    Status,
    host_decoder,
)

_LOGGER = logging.getLogger(__name__)
BUSY_RETRY_STEP: Final = 0.1  # s between two opens of a busy port
# Bytes asked for per read of a serial port. serialx's descriptor transports ask for
# 256 KiB, and os.read() then allocates (and maps and unmaps) 256 KiB every time:
# about 20 us per wake-up against 1.5 us at 16 KiB. 16 KiB still holds 60 frames of
# 250 bytes, and the native USB line rate (~875 kB/s) needs only ~55 reads a second.
READ_SIZE: Final = 16 * 1024
_SEQ_MASK: Final = 0xFFFFFFFF
_SEQ_HALF: Final = 0x80000000


class LinkState(StrEnum):
    """State of the link."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class ConnectErrorReason(StrEnum):
    """Why a connection attempt failed; values double as translation keys."""

    NOT_FOUND = "port_not_found"
    BUSY = "port_busy"
    PERMISSION = "port_permission"
    OPEN_FAILED = "cannot_open"
    NO_HELLO = "no_hello"
    UNSUPPORTED_VERSION = "unsupported_version"


class GatewayError(Exception):
    """Base class of the link's errors."""


class ConnectError(GatewayError):
    """A connection attempt failed."""

    def __init__(
        self, reason: ConnectErrorReason, detail: str, hello: Hello | None = None
    ) -> None:
        """Initialize with the reason, a human-readable detail and the hello if any."""
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.hello = hello


class NotConnectedError(GatewayError):
    """The link is down."""


class GatewayBusyError(GatewayError):
    """Too many requests in flight or the outgoing queue is full."""


class GatewayTimeoutError(GatewayError):
    """The gateway did not answer in time."""


class CommandFailedError(GatewayError):
    """The gateway answered a command with a status other than OK."""

    def __init__(self, status: int) -> None:
        """Initialize with the gateway's status code."""
        try:
            name = Status(status).name.lower()
        except ValueError:
            name = f"status_{status}"
        super().__init__(name)
        self.status = status
        self.status_name = name


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkConfig:
    """Timing and limits of a connection. Times in seconds."""

    hello_timeout: float = 5.0
    # GET_INFO is sent again this often until a HELLO comes: an answer damaged on the
    # wire is dropped by its CRC and would otherwise cost the whole hello_timeout.
    hello_retry: float = 0.2
    ping_interval: float = 5.0
    dead_after: float = 15.0
    command_timeout: float = 5.0
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    close_timeout: float = 5.0
    # A port found busy is tried again for this long before giving up: a close of
    # ours (or of a discovery probe, or ModemManager's look at a new ACM device) may
    # still be under way when the next open comes.
    busy_retry: float = 1.0
    # While disconnected from a local device path (not a URL), look for the path
    # this often: a gateway plugged in again is reconnected at once, not after the
    # backoff (USB events do the same, but only for devices the host's USB layer sees).
    # A look is one os.path.exists() in the executor; at 1 s it alone took half of
    # the 2 s a replug may take (scripts/soak).
    presence_poll: float = 0.2
    partial_frame_timeout: float = 0.25
    max_pending: int = 32
    max_queued_frames: int = 64


@dataclass(slots=True)
class LinkStats:
    """Link figures; counters are cumulative for the lifetime of the object."""

    connects: int = 0
    connect_failures: int = 0
    presence_wakeups: int = 0  # reconnects started by the device path reappearing
    presence_checks: int = 0  # looks for a missing device path that did not find it
    busy_retries: int = 0  # opens tried again because the port was still busy
    reads: int = 0  # chunks from the port: bytes / reads is the mean chunk size
    disconnects: int = 0
    dead_links: int = 0
    packets: int = 0
    packets_lost: int = 0
    seq_resets: int = 0
    gateway_restarts: int = 0
    callback_errors: int = 0
    gateway_logs: int = 0
    pings: int = 0
    pongs: int = 0
    rtt_ms: float | None = None
    frames_sent: int = 0
    bytes_sent: int = 0
    send_queue_full: int = 0
    send_queue_peak: int = 0
    decoder: DecoderStats = field(default_factory=DecoderStats)

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as a dictionary."""
        return asdict(self)


def is_local_path(url: str) -> bool:
    """Whether ``url`` names a local device path (not ``socket://``, ``esphome://``...)."""
    return "://" not in url


def _classify_open_error(err: BaseException) -> ConnectErrorReason:
    if isinstance(err, FileNotFoundError) or (
        isinstance(err, OSError)
        and err.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO)
    ):
        return ConnectErrorReason.NOT_FOUND
    if isinstance(err, PermissionError):
        return ConnectErrorReason.PERMISSION
    if isinstance(err, OSError) and err.errno in (errno.EBUSY, errno.EAGAIN):
        return ConnectErrorReason.BUSY
    return ConnectErrorReason.OPEN_FAILED


class _Protocol(asyncio.Protocol):
    """Forwards transport events to the connection that created it."""

    def __init__(self, owner: GatewayConnection) -> None:
        self._owner = owner

    def data_received(self, data: bytes) -> None:
        self._owner._data_received(data)  # noqa: SLF001

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._connection_lost(self, exc)  # noqa: SLF001

    def pause_writing(self) -> None:
        self._owner._paused = True  # noqa: SLF001

    def resume_writing(self) -> None:
        self._owner._resume_writing()  # noqa: SLF001


class GatewayConnection:
    """A supervised connection to one gateway."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        on_packet: Callable[[Packet], None],
        on_message: Callable[[Message], None] | None = None,
        on_state: Callable[[LinkState], None] | None = None,
        on_connect_error: Callable[[ConnectError], None] | None = None,
        config: LinkConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Initialize; nothing is opened until ``connect()``."""
        self.url = url
        self.baudrate = baudrate
        self.config = config or LinkConfig()
        self.state = LinkState.DISCONNECTED
        self.info: Hello | None = None
        self.gateway_stats: Stats | None = None
        self.stats = LinkStats()
        self._on_packet = on_packet
        self._on_message = on_message
        self._on_state = on_state
        self._on_connect_error = on_connect_error
        self._rng = rng or random.Random()
        self._decoder = host_decoder()
        self.stats.decoder = self._decoder.stats
        self._transport: serialx.BaseSerialTransport | None = None
        self._dead_transport: serialx.BaseSerialTransport | None = None
        self._protocol: _Protocol | None = None
        self._paused = False
        self._queue: deque[bytes] = deque()
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._next_request = 0
        self._hello_waiter: asyncio.Future[Hello] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._heartbeat: asyncio.TimerHandle | None = None
        self._stale_timer: asyncio.TimerHandle | None = None
        self._stale_mark = 0
        self._heartbeat_request: int | None = None
        self._heartbeat_sent = 0.0
        self._last_rx = 0.0
        self._next_seq: int | None = None
        # GET_INFOs of the last handshake not answered yet: their HELLOs are no restart.
        self._unanswered = 0
        self._late_hellos_until = 0.0
        self._closed = False

    # ---- lifecycle --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the link is up (hello received, not lost)."""
        return self.state is LinkState.CONNECTED

    async def connect(self) -> Hello:
        """Open the port and perform the hello handshake (one attempt).

        Raises ``ConnectError`` with a reason on failure; the port is released.
        """
        if self._closed:
            raise NotConnectedError("connection is closed")
        if self._transport is not None:
            raise GatewayError("already connected")
        loop = asyncio.get_running_loop()
        self._set_state(LinkState.CONNECTING)
        await self._reap_dead_transport()
        self._decoder.reset()
        self._next_seq = None
        protocol = _Protocol(self)
        self._protocol = protocol
        self._hello_waiter = loop.create_future()
        try:
            transport = await self._open(loop, protocol)
        except (OSError, TimeoutError, serialx.SerialException) as err:
            self._protocol = None
            self._hello_waiter = None
            self.stats.connect_failures += 1
            self._set_state(LinkState.DISCONNECTED)
            raise ConnectError(_classify_open_error(err), str(err)) from err
        except BaseException:
            self._protocol = None
            self._hello_waiter = None
            self._set_state(LinkState.DISCONNECTED)
            raise
        self._transport = transport
        self._paused = False
        self._last_rx = loop.time()
        self._lost = loop.create_future()
        try:
            hello = await self._handshake(self._hello_waiter)
        except BaseException:
            self.stats.connect_failures += 1
            self._lost = None  # this attempt never came up: run() must retry
            await self._release()
            self._set_state(LinkState.DISCONNECTED)
            raise
        self.stats.connects += 1
        self._schedule_heartbeat()
        self._set_state(LinkState.CONNECTED)
        return hello

    async def _open(
        self, loop: asyncio.AbstractEventLoop, protocol: _Protocol
    ) -> serialx.BaseSerialTransport:
        """Open the port, trying a busy one again for up to ``busy_retry`` seconds."""
        deadline = loop.time() + self.config.busy_retry
        while True:
            try:
                transport, _ = await serialx.create_serial_connection(
                    loop, lambda: protocol, self.url, baudrate=self.baudrate
                )
            except OSError as err:
                if (
                    _classify_open_error(err) is not ConnectErrorReason.BUSY
                    or loop.time() >= deadline
                ):
                    raise
                self.stats.busy_retries += 1
                await asyncio.sleep(BUSY_RETRY_STEP)
                continue
            if getattr(transport, "max_size", 0) > READ_SIZE:
                transport.max_size = READ_SIZE  # type: ignore[attr-defined]
            return transport

    async def _handshake(self, waiter: asyncio.Future[Hello]) -> Hello:
        loop = asyncio.get_running_loop()
        config = self.config
        self._unanswered = 0
        try:
            async with asyncio.timeout(config.hello_timeout):
                while not waiter.done():
                    self._write(GetInfo().encode())
                    self._unanswered += 1
                    await asyncio.wait({waiter}, timeout=config.hello_retry or None)
                hello = waiter.result()
        except TimeoutError as err:
            raise ConnectError(
                ConnectErrorReason.NO_HELLO,
                f"no hello within {self.config.hello_timeout:g} s",
            ) from err
        except NotConnectedError as err:
            raise ConnectError(ConnectErrorReason.OPEN_FAILED, str(err)) from err
        finally:
            self._hello_waiter = None
        # The gateway answers every GET_INFO: the answers to the others may still come.
        self._late_hellos_until = loop.time() + config.hello_timeout
        if hello.protocol_major != PROTOCOL_MAJOR:
            raise ConnectError(
                ConnectErrorReason.UNSUPPORTED_VERSION,
                f"gateway speaks protocol {hello.protocol_major}.{hello.protocol_minor}, "
                f"this host speaks {PROTOCOL_MAJOR}.x",
                hello,
            )
        self.info = hello
        return hello

    async def run(self) -> None:
        """Keep the link up until ``close()``: wait for loss, then reconnect.

        Call after a successful ``connect()`` or on its own (it connects first).
        """
        attempt = 0
        while not self._closed:
            lost = self._lost
            if lost is None or lost.done():
                try:
                    await self.connect()
                except Exception as err:  # noqa: BLE001 - keep retrying whatever failed
                    if (
                        isinstance(err, ConnectError)
                        and self._on_connect_error is not None
                    ):
                        self._on_connect_error(err)
                    attempt += 1
                    delay = self.backoff_delay(attempt)
                    _LOGGER.debug(
                        "Connecting to %s failed (%s); retry %d in %.1f s",
                        self.url,
                        err,
                        attempt,
                        delay,
                    )
                    missing = (
                        isinstance(err, ConnectError)
                        and err.reason is ConnectErrorReason.NOT_FOUND
                    )
                    await self._sleep(delay, watch_presence=missing)
                    continue
                attempt = 0
                continue
            await asyncio.shield(lost)

    def backoff_delay(self, attempt: int) -> float:
        """Return the delay before reconnect attempt ``attempt`` (1-based)."""
        cfg = self.config
        base = min(cfg.reconnect_max, cfg.reconnect_min * 2.0 ** min(attempt - 1, 30))
        return base * (0.5 + 0.5 * self._rng.random())

    def reconnect_now(self) -> None:
        """Cut a pending backoff short (e.g. the port was plugged in again)."""
        self._wake.set()

    async def _sleep(self, delay: float, *, watch_presence: bool = False) -> None:
        """Wait out a backoff, cut short by ``reconnect_now()``.

        ``watch_presence``: the device path was missing; the wait also ends as soon
        as it exists again (for local paths: URLs have no path to watch).
        """
        self._wake.clear()
        watcher = (
            asyncio.get_running_loop().create_task(self._watch_presence())
            if watch_presence
            and is_local_path(self.url)
            and self.config.presence_poll > 0
            else None
        )
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _watch_presence(self) -> None:
        """Wake the backoff when the (missing) device path exists again."""
        loop = asyncio.get_running_loop()
        # Polling is the point: a device node has no event to wait for here.
        while True:
            if await loop.run_in_executor(None, os.path.exists, self.url):
                break
            self.stats.presence_checks += 1
            await asyncio.sleep(self.config.presence_poll)
        _LOGGER.debug("%s is back: reconnecting now", self.url)
        self.stats.presence_wakeups += 1
        self._wake.set()

    async def close(self) -> None:
        """Close the link for good and release the port."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        await self._release()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self._set_state(LinkState.CLOSED)

    async def _release(self) -> None:
        """Close the transport (if any) and wait until the port is free."""
        self._cancel_heartbeat()
        self._dead_transport = self._transport
        self._transport = None
        self._protocol = None
        self._queue.clear()
        self._fail_pending(NotConnectedError("link closed"))
        await self._reap_dead_transport()

    async def _reap_dead_transport(self) -> None:
        """Wait until a transport we let go of has released the port."""
        transport = self._dead_transport
        self._dead_transport = None
        if transport is None:
            return
        # abort(): pending writes to a stalled gateway must not delay the close.
        transport.abort()
        try:
            async with asyncio.timeout(self.config.close_timeout):
                await transport.wait_closed()
        except TimeoutError:
            _LOGGER.warning(
                "Port %s did not close within %s s", self.url, self.config.close_timeout
            )

    def _connection_lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return  # a transport we already let go of
        self._protocol = None
        transport = self._transport
        self._transport = None
        self._cancel_heartbeat()
        self._queue.clear()
        error = NotConnectedError(f"link lost: {exc or 'closed'}")
        if self._hello_waiter is not None and not self._hello_waiter.done():
            self._hello_waiter.set_exception(error)
        self._fail_pending(error)
        if transport is not None:
            transport.abort()
            self._dead_transport = transport
        if self.state is LinkState.CONNECTED:
            self.stats.disconnects += 1
            self._set_state(LinkState.DISCONNECTED)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _set_state(self, state: LinkState) -> None:
        if state is self.state:
            return
        self.state = state
        if self._on_state is not None:
            self._on_state(state)

    # ---- receive path -----------------------------------------------------------

    def _data_received(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self._last_rx = loop.time()
        self.stats.reads += 1
        decoder = self._decoder
        self._dispatch(decoder.feed(data))
        if decoder.buffered and self._stale_timer is None:
            self._stale_mark = decoder.stats.bytes_received
            self._stale_timer = loop.call_later(
                self.config.partial_frame_timeout, self._on_stale_timer
            )

    def _on_stale_timer(self) -> None:
        """Flush a pending partial frame if no byte came since the timer was set."""
        self._stale_timer = None
        decoder = self._decoder
        if not decoder.buffered or self._protocol is None:
            return
        if decoder.stats.bytes_received == self._stale_mark:
            self._dispatch(decoder.flush())
            return
        self._stale_mark = decoder.stats.bytes_received
        self._stale_timer = asyncio.get_running_loop().call_later(
            self.config.partial_frame_timeout, self._on_stale_timer
        )

    def _dispatch(self, messages: list[Message]) -> None:
        stats = self.stats
        on_packet = self._on_packet
        for msg in messages:
            if type(msg) is Packet:
                stats.packets += 1
                expected = self._next_seq
                if expected is not None and msg.seq != expected:
                    gap = (msg.seq - expected) & _SEQ_MASK
                    if gap < _SEQ_HALF:
                        stats.packets_lost += gap
                    else:
                        stats.seq_resets += 1
                self._next_seq = (msg.seq + 1) & _SEQ_MASK
                try:
                    on_packet(msg)
                except Exception:
                    stats.callback_errors += 1
                    _LOGGER.exception("Error handling packet from the gateway")
            else:
                self._handle_control(msg)

    def _handle_control(self, msg: Message) -> None:
        match msg:
            case Hello():
                answers = self._unanswered > 0
                self._unanswered -= answers
                waiter = self._hello_waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(msg)
                    return
                if answers and self._late_answer(msg, waiter):
                    return
                # Unsolicited: the gateway restarted; its sequence starts again.
                self.stats.gateway_restarts += 1
                self._next_seq = None
                if msg.protocol_major != PROTOCOL_MAJOR:
                    _LOGGER.warning(
                        "Gateway now speaks unsupported protocol %d", msg.protocol_major
                    )
                    self._drop_link()
                    return
                self.info = msg
            case Pong() if msg.request_id == self._heartbeat_request:
                self._heartbeat_request = None
                self.stats.pongs += 1
                loop = asyncio.get_running_loop()
                self.stats.rtt_ms = (loop.time() - self._heartbeat_sent) * 1000
                return
            case Pong() | SendResult() | CommandResult() | PeerList():
                future = self._pending.get(msg.request_id)
                if future is not None and not future.done():
                    future.set_result(msg)
                return
            case Stats():
                self.gateway_stats = msg
            case Log():
                self.stats.gateway_logs += 1
                _LOGGER.debug("Gateway log [%d]: %s", msg.level, msg.text)
            case _:
                pass
        if self._on_message is not None:
            try:
                self._on_message(msg)
            except Exception:
                self.stats.callback_errors += 1
                _LOGGER.exception(
                    "Error handling %s from the gateway", type(msg).__name__
                )

    def _late_answer(self, hello: Hello, waiter: asyncio.Future[Hello] | None) -> bool:
        """Whether ``hello`` answers another GET_INFO of the handshake (the same HELLO).

        A restart just after a handshake that had to ask again could be taken for
        one: only within ``hello_timeout``, and only with the very same HELLO.
        """
        if waiter is not None:  # the handshake has its HELLO and is finishing
            return hello == waiter.result()
        if asyncio.get_running_loop().time() > self._late_hellos_until:
            self._unanswered = 0
            return False
        return hello == self.info

    def _drop_link(self) -> None:
        if self._protocol is not None:
            self._connection_lost(self._protocol, None)

    # ---- heartbeat --------------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        self._heartbeat = loop.call_later(self.config.ping_interval, self._on_heartbeat)

    def _cancel_heartbeat(self) -> None:
        for timer in (self._heartbeat, self._stale_timer):
            if timer is not None:
                timer.cancel()
        self._heartbeat = self._stale_timer = None
        self._heartbeat_request = None

    def _on_heartbeat(self) -> None:
        self._heartbeat = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self._last_rx >= self.config.dead_after:
            _LOGGER.debug(
                "No data from %s for %.1f s: link is dead",
                self.url,
                now - self._last_rx,
            )
            self.stats.dead_links += 1
            self._drop_link()
            return
        request = self._new_request_id()
        with contextlib.suppress(GatewayError):
            self._write(Ping(request).encode())
            self.stats.pings += 1
            self._heartbeat_request = request
            self._heartbeat_sent = now
        self._schedule_heartbeat()

    # ---- send path --------------------------------------------------------------

    def _write(self, frame: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise NotConnectedError("gateway is not connected")
        if self._paused:
            if len(self._queue) >= self.config.max_queued_frames:
                self.stats.send_queue_full += 1
                raise GatewayBusyError("outgoing queue is full")
            self._queue.append(frame)
            self.stats.send_queue_peak = max(
                self.stats.send_queue_peak, len(self._queue)
            )
            return
        self._transmit(transport, frame)

    def _transmit(self, transport: serialx.BaseSerialTransport, frame: bytes) -> None:
        transport.write(frame)
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(frame)

    def _resume_writing(self) -> None:
        self._paused = False
        transport = self._transport
        while self._queue and not self._paused and transport is not None:
            self._transmit(transport, self._queue.popleft())

    def _new_request_id(self) -> int:
        for _ in range(0x10000):
            self._next_request = (self._next_request % 0xFFFF) + 1
            if self._next_request not in self._pending:
                return self._next_request
        raise GatewayBusyError("no free request id")  # pragma: no cover

    def _fail_pending(self, error: Exception) -> None:
        pending = list(self._pending.values())
        self._pending.clear()
        for future in pending:
            if not future.done():
                future.set_exception(error)

    async def _request(self, build: Callable[[int], Message]) -> Message:
        if self.state is not LinkState.CONNECTED:
            raise NotConnectedError("gateway is not connected")
        if len(self._pending) >= self.config.max_pending:
            raise GatewayBusyError("too many requests in flight")
        request = self._new_request_id()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        try:
            self._write(build(request).encode())
            async with asyncio.timeout(self.config.command_timeout):
                return await future
        except TimeoutError as err:
            raise GatewayTimeoutError("the gateway did not answer") from err
        finally:
            self._pending.pop(request, None)

    def supports(self, capability: Capability) -> bool:
        """Whether the gateway's hello announces ``capability``."""
        return self.info is not None and bool(self.info.capabilities & capability)

    def _require(self, capability: Capability) -> None:
        if self.info is not None and not self.info.capabilities & capability:
            raise CommandFailedError(Status.NOT_SUPPORTED)

    @staticmethod
    def _check(result: Message) -> None:
        status = getattr(result, "status", Status.OK)
        if status != Status.OK:
            raise CommandFailedError(status)

    async def ping(self) -> float:
        """Ping the gateway; return the round-trip time in milliseconds."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self._request(Ping)
        return (loop.time() - start) * 1000

    async def send(self, dst: bytes, payload: bytes) -> None:
        """Send a payload to a peer; raise ``CommandFailedError`` unless delivered."""
        self._require(Capability.SEND)
        limit = self.info.max_payload if self.info else 250
        if len(payload) > limit:
            raise CommandFailedError(Status.INVALID_ARGUMENT)
        self._check(await self._request(lambda rid: Send(rid, dst, payload)))

    async def set_channel(self, channel: int) -> None:
        """Move the gateway's radio to ``channel``."""
        self._require(Capability.SET_CHANNEL)
        if not 1 <= channel <= 14:
            raise CommandFailedError(Status.INVALID_ARGUMENT)
        self._check(await self._request(lambda rid: SetChannel(rid, channel)))
        if self.info is not None:
            self.info = dataclasses.replace(self.info, channel=channel)

    async def add_peer(
        self, mac: bytes, *, channel: int = 0, lmk: bytes | None = None
    ) -> None:
        """Register a peer, encrypted when a 16-byte ``lmk`` is given."""
        self._require(Capability.PEERS)
        flags = 0
        if lmk is not None:
            self._require(Capability.ENCRYPTION)
            if len(lmk) != 16:
                raise CommandFailedError(Status.INVALID_ARGUMENT)
            flags |= AddPeer.FLAG_ENCRYPT
        key = lmk or bytes(16)
        self._check(
            await self._request(lambda rid: AddPeer(rid, mac, channel, flags, key))
        )

    async def remove_peer(self, mac: bytes) -> None:
        """Unregister a peer."""
        self._require(Capability.PEERS)
        self._check(await self._request(lambda rid: RemovePeer(rid, mac)))

    async def get_peers(self) -> PeerList:
        """Return the gateway's radio peer table (protocol 1.1, PEER_LIST)."""
        self._require(Capability.PEER_LIST)
        result = await self._request(GetPeers)
        if not isinstance(result, PeerList):
            self._check(result)
            raise CommandFailedError(Status.ERROR)
        return result

    async def set_pmk(self, pmk: bytes) -> None:
        """Set the primary master key of ESP-NOW encryption (protocol 1.1)."""
        self._require(Capability.SET_PMK)
        if len(pmk) != 16:
            raise CommandFailedError(Status.INVALID_ARGUMENT)
        self._check(await self._request(lambda rid: SetPmk(rid, pmk)))


async def probe(
    url: str, baudrate: int = DEFAULT_BAUDRATE, *, hello_timeout: float = 5.0
) -> Hello:
    """Open ``url``, wait for the hello and release the port again."""
    connection = GatewayConnection(
        url,
        baudrate=baudrate,
        on_packet=lambda _packet: None,
        config=LinkConfig(hello_timeout=hello_timeout),
    )
    try:
        return await connection.connect()
    finally:
        await connection.close()
