"""The outgoing path of one gateway: rate limits, a bounded queue, retries, counters.

:meth:`Sender.submit` accepts a send or refuses it at once, and returns a future
that tells how it ended (a :class:`SendReport`). Bounded everywhere:

- **rate**: a token bucket per destination (``SEND_BURST`` sends at once, then
  ``SEND_RATE`` per second); a send above it is refused (``rate_limited``), never
  delayed, so an automation stuck in a loop cannot flood the air;
- **queue**: at most ``MAX_QUEUED_SENDS`` accepted sends not finished yet per
  gateway; above it a send is refused (``queue_full``);
- **air**: at most ``MAX_SENDS_IN_FLIGHT`` SENDs wait for the gateway's answer at
  once; sends to one destination go out in order, one at a time;
- **time**: each send ends within its ``timeout`` (waiting, retries and all), with
  at most ``retries`` retries after a lost acknowledgement, a busy or silent gateway.

Nothing waits for a gateway that is not connected: when the link drops, every
unfinished send ends ``disconnected``; when the entry unloads, ``cancelled``.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .const import (
    DOMAIN,
    LOGGER,
    MAX_QUEUED_SENDS,
    MAX_RATE_BUCKETS,
    MAX_SENDS_IN_FLIGHT,
    SEND_BURST,
    SEND_RATE,
    SEND_RETRY_DELAY,
)
from .espnowgw.connection import (
    CommandFailedError,
    GatewayBusyError,
    GatewayConnection,
    GatewayTimeoutError,
    NotConnectedError,
)
from .espnowgw.mac import BROADCAST, mac_to_str
from .espnowgw.messages import Status
from .radio import GatewayRadio, PeerTableFullError


class SendOutcome(StrEnum):
    """How one send ended (the action's response data)."""

    QUEUED = "queued"  # accepted; the caller did not wait for the end
    DELIVERED = "delivered"  # unicast: the peer acknowledged the frame
    SENT = "sent"  # broadcast: transmitted (nobody acknowledges a broadcast)
    NOT_ACKNOWLEDGED = "not_acknowledged"  # transmitted, no acknowledgement
    GATEWAY_BUSY = "gateway_busy"  # the gateway's own queue was full
    TIMED_OUT = "timed_out"  # no end within the timeout
    RATE_LIMITED = "rate_limited"  # refused: too many sends to this destination
    QUEUE_FULL = "queue_full"  # refused: too many sends waiting on this gateway
    PEER_TABLE_FULL = "peer_table_full"  # no room in the gateway's peer table
    DISCONNECTED = "disconnected"  # the link dropped first
    CANCELLED = "cancelled"  # the entry was unloaded first
    FAILED = "failed"  # refused by the gateway (see the status)


SUCCESSES: Final = frozenset({SendOutcome.DELIVERED, SendOutcome.SENT})
# A gateway's answer, what it means, and whether another attempt may help.
_ANSWERS: Final[dict[int, tuple[SendOutcome, bool]]] = {
    Status.NO_ACK: (SendOutcome.NOT_ACKNOWLEDGED, True),
    Status.BUSY: (SendOutcome.GATEWAY_BUSY, True),
    Status.ERROR: (SendOutcome.FAILED, True),
    Status.UNKNOWN_PEER: (SendOutcome.FAILED, True),  # registered again first
}


@dataclass(frozen=True, slots=True)
class SendReport:
    """How a send ended: the outcome, SEND frames written, the gateway's last answer."""

    outcome: SendOutcome
    attempts: int = 0
    status: str | None = None  # e.g. "no_ack", as docs/protocol.md names it


@dataclass(slots=True)
class SendCounters:
    """Counters of one gateway's outgoing path (cumulative while loaded).

    Every send is refused or sent (accepted); every sent one ends acknowledged,
    broadcast or failed, or is still queued: sent = acknowledged + broadcast +
    failed + queued.
    """

    sent: int = 0  # sends accepted
    acknowledged: int = 0  # unicast sends a peer acknowledged
    broadcast: int = 0  # broadcast sends transmitted
    failed: int = 0  # accepted sends that ended without success
    refused: int = 0  # sends not accepted: rate limit or full queue
    rate_limited: int = 0  # of which for the rate limit
    attempts: int = 0  # SENDs handed to the link, retries included
    retries: int = 0
    queue_peak: int = 0


class TokenBucket:
    """``SEND_BURST`` tokens, refilled at ``SEND_RATE`` per second."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, now: float) -> None:
        """Start full."""
        self.tokens = float(SEND_BURST)
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.tokens = min(SEND_BURST, self.tokens + (now - self.stamp) * SEND_RATE)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Take a token if there is one."""
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def full(self, now: float) -> bool:
        """Whether the bucket is full again (it carries no state then)."""
        self._refill(now)
        return self.tokens >= SEND_BURST


@dataclass(eq=False, slots=True)
class _Job:
    mac: bytes
    payload: bytes
    retries: int
    timeout: float
    future: asyncio.Future[SendReport]
    task: asyncio.Task[None] | None = None
    attempts: int = 0
    status: str | None = None
    lane: asyncio.Lock = field(default_factory=asyncio.Lock)


class Sender:
    """The outgoing path of one gateway (owned by its runtime)."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        connection: GatewayConnection,
        radio: GatewayRadio,
    ) -> None:
        """Initialize; nothing runs until something is submitted."""
        self.hass = hass
        self.entry = entry
        self.connection = connection
        self.radio = radio
        self.counters = SendCounters()
        self._jobs: set[_Job] = set()
        self._buckets: dict[bytes, TokenBucket] = {}
        self._lanes: dict[
            bytes, asyncio.Lock
        ] = {}  # one send at a time per destination
        self._in_flight = asyncio.Semaphore(MAX_SENDS_IN_FLIGHT)
        self._limited: set[bytes] = set()  # rate-limited, logged, not refilled since

    @property
    def queued(self) -> int:
        """Accepted sends not finished yet."""
        return len(self._jobs)

    # ---- accepting -------------------------------------------------------------------

    @callback
    def submit(
        self, mac: bytes, payload: bytes, *, timeout: float, retries: int
    ) -> asyncio.Future[SendReport]:
        """Accept a send, or refuse it at once; the future tells how it ended.

        Raises ``NotConnectedError`` if the gateway is not connected: nothing is
        queued for it.
        """
        if not self.connection.connected:
            raise NotConnectedError("gateway is not connected")
        loop = self.hass.loop
        future: asyncio.Future[SendReport] = loop.create_future()
        if len(self._jobs) >= MAX_QUEUED_SENDS:
            self.counters.refused += 1
            future.set_result(SendReport(SendOutcome.QUEUE_FULL))
            return future
        if not self._take_token(mac, loop.time()):
            self.counters.refused += 1
            self.counters.rate_limited += 1
            future.set_result(SendReport(SendOutcome.RATE_LIMITED))
            return future
        lane = self._lanes.setdefault(mac, asyncio.Lock())
        job = _Job(mac, payload, retries, timeout, future, lane=lane)
        self._jobs.add(job)
        self.counters.sent += 1
        self.counters.queue_peak = max(self.counters.queue_peak, len(self._jobs))
        # Eager: the job is inside _run's try before anything can cancel it.
        job.task = self.entry.async_create_background_task(
            self.hass, self._run(job), f"{DOMAIN} send to {mac_to_str(mac)}"
        )
        return future

    def _take_token(self, mac: bytes, now: float) -> bool:
        bucket = self._buckets.get(mac)
        if bucket is None:
            if len(self._buckets) >= MAX_RATE_BUCKETS:
                self._prune_buckets(now)
            bucket = self._buckets[mac] = TokenBucket(now)
        if bucket.take(now):
            self._limited.discard(mac)
            return True
        if mac not in self._limited:
            self._limited.add(mac)
            LOGGER.warning(
                "Sends to %s exceed %d at once or %g per second: refused until the "
                "rate drops (an automation in a loop?)",
                mac_to_str(mac),
                SEND_BURST,
                SEND_RATE,
            )
        return False

    def _prune_buckets(self, now: float) -> None:
        """Forget full buckets; if none is full, the oldest (bounded either way)."""
        full = [mac for mac, bucket in self._buckets.items() if bucket.full(now)]
        for mac in full or [next(iter(self._buckets))]:
            del self._buckets[mac]
            self._limited.discard(mac)

    # ---- sending -------------------------------------------------------------------

    async def _run(self, job: _Job) -> None:
        report = SendReport(SendOutcome.CANCELLED)
        try:
            async with asyncio.timeout(job.timeout):
                async with job.lane:
                    report = await self._attempts(job)
        except TimeoutError:
            report = SendReport(SendOutcome.TIMED_OUT, job.attempts, job.status)
        finally:
            self._finish(job, report)

    async def _attempts(self, job: _Job) -> SendReport:
        unicast = job.mac != BROADCAST
        outcome = SendOutcome.FAILED
        for attempt in range(job.retries + 1):
            if attempt:
                self.counters.retries += 1
                await asyncio.sleep(SEND_RETRY_DELAY * 2 ** (attempt - 1))
            try:
                if unicast:
                    await self.radio.async_ensure(job.mac)
                async with self._in_flight:
                    job.attempts += 1
                    self.counters.attempts += 1
                    await self.connection.send(job.mac, job.payload)
            except CommandFailedError as err:
                job.status = err.status_name
                outcome, again = _ANSWERS.get(err.status, (SendOutcome.FAILED, False))
                if err.status == Status.UNKNOWN_PEER:
                    self.radio.forget(job.mac)  # the gateway lost it: register again
                if not again:
                    break
            except GatewayTimeoutError:
                job.status = None
                outcome = SendOutcome.TIMED_OUT
            except GatewayBusyError:
                outcome = SendOutcome.GATEWAY_BUSY  # the host's own link queue
            except PeerTableFullError:
                outcome = SendOutcome.PEER_TABLE_FULL
                break
            except NotConnectedError:
                outcome = SendOutcome.DISCONNECTED
                break
            else:
                outcome = SendOutcome.DELIVERED if unicast else SendOutcome.SENT
                break
        return SendReport(outcome, job.attempts, job.status)

    def _finish(self, job: _Job, report: SendReport) -> None:
        """Count a send's end and tell its caller (once; later calls do nothing)."""
        if job not in self._jobs:
            return
        self._jobs.discard(job)
        if report.outcome is SendOutcome.DELIVERED:
            self.counters.acknowledged += 1
        elif report.outcome is SendOutcome.SENT:
            self.counters.broadcast += 1
        else:
            self.counters.failed += 1
            LOGGER.debug(
                "Send to %s failed: %s after %d attempts (%s)",
                mac_to_str(job.mac),
                report.outcome,
                report.attempts,
                report.status,
            )
        if not job.future.done():
            job.future.set_result(report)
        if not any(other.mac == job.mac for other in self._jobs):
            self._lanes.pop(job.mac, None)

    # ---- the end of unfinished sends ---------------------------------------------------

    def _end_all(self, outcome: SendOutcome) -> list[asyncio.Task[None]]:
        tasks = []
        for job in list(self._jobs):
            self._finish(job, SendReport(outcome, job.attempts, job.status))
            if job.task is not None:
                job.task.cancel()
                tasks.append(job.task)
        return tasks

    @callback
    def link_lost(self) -> None:
        """End every unfinished send ``disconnected`` now: the link dropped."""
        self._end_all(SendOutcome.DISCONNECTED)

    async def async_shutdown(self) -> None:
        """End every unfinished send ``cancelled`` and wait for them (unloading)."""
        tasks = self._end_all(SendOutcome.CANCELLED)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def diagnostics(self) -> dict[str, Any]:
        """Return the outgoing path's figures for diagnostics."""
        return asdict(self.counters) | {
            "queued": len(self._jobs),
            "limits": {
                "burst": SEND_BURST,
                "rate_per_second": SEND_RATE,
                "queue": MAX_QUEUED_SENDS,
                "in_flight": MAX_SENDS_IN_FLIGHT,
            },
        }
