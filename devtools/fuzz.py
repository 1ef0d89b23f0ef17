"""Fuzz harness: from payload bytes to the states Home Assistant would write.

Every frame of every simulated sender (:mod:`devtools.fuzz_payloads`) goes through

1. **the library**: ``PeerDecoder.scan()`` and ``decode()`` of a shadow decoder with
   the peer's settings: no exception; the decoders' documented limits; the scan and
   the decode agree (an event or a binary state is always urgent; a non-urgent
   payload's packet id is the decoder's);
2. **the integration's receive path**: a real :class:`Peer` handles the packet (an
   update interval of 0 and a flush after every frame: every frame is written);
   a peer with a key must not change last seen, RSSI or values for a frame its key
   does not decrypt;
3. **the entities**: for every measurement the peer has, the integration's own entity
   classes give their state (``MeasurementSensor``, ``BinaryMeasurement``), Home
   Assistant's ``SensorEntity.state`` validates it (numeric sensors, timestamps,
   units; metric and US customary unit systems), ``validate_state`` its length; a
   warning Home Assistant (or a library) logs on the way is a finding too; every
   event must be one of its entity's event types.

A value no entity could show is refused by the peer and counted (``invalid_values``):
the report gives how many. The regression cases (``fuzz_regressions.json``: every
failure found so far, with its seed) run first, every time.

    python -m devtools.fuzz                  # CI size (scripts/fuzz)
    python -m devtools.fuzz --long           # 1,000,000 payloads, 1,000,000 random senders
    python -m devtools.fuzz --sender SEED    # one sender's frames, to reproduce a finding
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Iterator, Sequence
import contextlib
import dataclasses
from dataclasses import dataclass, field
import json
import logging
import math
from pathlib import Path
import random
import sys
import tempfile
import time
import traceback
from typing import Any, Final

from homeassistant.core import HomeAssistant, validate_state
from homeassistant.util.unit_system import METRIC_SYSTEM, US_CUSTOMARY_SYSTEM

from custom_components.espnow_gateway.binary_sensor import BinaryMeasurement
from custom_components.espnow_gateway.const import MAX_MEASUREMENTS_PER_PEER
from custom_components.espnow_gateway.espnowgw import (
    messages as ha_messages,  # the integration's copy of the library: its types
    model as ha_model,
)
from custom_components.espnow_gateway.events import event_types_for, map_event
from custom_components.espnow_gateway.models import (
    GatewayCounters,
    MeasurementInfo,
    PeerHooks,
)
from custom_components.espnow_gateway.peer import Peer
from custom_components.espnow_gateway.sensor import MeasurementSensor
from espnowgw.decoders.formats import PeerDecoder
from espnowgw.mac import BROADCAST
from espnowgw.model import PayloadFormat
from espnowgw.values import MAX_NUMBER, ValueShape, shape_of

from .fuzz_checks import limit_violations, scan_disagreement
from .fuzz_payloads import Sender, make_sender, random_sender_kind

REGRESSIONS: Final = Path(__file__).with_name("fuzz_regressions.json")
CI_PAYLOADS: Final = 60_000
LONG_PAYLOADS: Final = 1_000_000
LONG_RANDOM_SENDERS: Final = 1_000_000
FRAME_GAP_US: Final = 3_000_000  # beyond the duplicate window: every frame counts
_EXAMPLES: Final = 10  # findings kept per kind
_INTEGRATION: Final = "custom_components.espnow_gateway"


@dataclass(frozen=True, slots=True)
class Finding:
    """One failure: what, where (sender seed and frame), and the frames up to it."""

    kind: str
    detail: str
    seed: int
    profile: str
    frame: int
    frames: tuple[str, ...]


@dataclass
class Report:
    """What a run found."""

    payloads: int = 0
    senders: int = 0
    refused_values: int = 0
    unauthenticated: int = 0
    states_checked: int = 0
    events: int = 0
    by_profile: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[Finding] = field(default_factory=list)

    @property
    def failures(self) -> int:
        """Findings of every kind."""
        return sum(self.counts.values())

    def add(self, finding: Finding) -> None:
        """Count a finding; keep the first few of each kind."""
        self.counts[finding.kind] += 1
        if self.counts[finding.kind] <= _EXAMPLES:
            self.examples.append(finding)


class _Warnings(logging.Handler):
    """Warnings and errors logged while a frame is handled (a log line per frame floods)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _SensorProbe(MeasurementSensor):
    """The integration's measurement sensor, outside a platform.

    Its name comes from a translation, which needs a platform and is no part of the
    state: the probe has none. Everything else is the entity's own code.
    """

    def __init__(self, hass: HomeAssistant, peer: Peer, info: MeasurementInfo) -> None:
        super().__init__(peer, info)
        self.entity_description = dataclasses.replace(
            self.entity_description, translation_key=None, translation_placeholders=None
        )
        self.hass = hass
        self.entity_id = "sensor.fuzz"


class _BinaryProbe(BinaryMeasurement):
    """The integration's binary measurement sensor, outside a platform."""

    def __init__(self, hass: HomeAssistant, peer: Peer, info: MeasurementInfo) -> None:
        super().__init__(peer, info)
        self.hass = hass
        self.entity_id = "binary_sensor.fuzz"


class Harness:
    """Runs senders through the library, a real peer and the entities' state code."""

    def __init__(self, hass: HomeAssistant, report: Report) -> None:
        """Check into ``report``, with ``hass`` for the unit system."""
        self.hass = hass
        self.report = report
        self._warnings = _Warnings()

    @contextlib.contextmanager
    def _watching_logs(self) -> Iterator[list[logging.LogRecord]]:
        root = logging.getLogger()
        self._warnings.records.clear()
        root.addHandler(self._warnings)
        try:
            yield self._warnings.records
        finally:
            root.removeHandler(self._warnings)

    def run_sender(self, sender: Sender) -> None:
        """Send every frame of ``sender`` through every layer, checking each.

        A peer keeps at most MAX_MEASUREMENTS_PER_PEER keys; when it has them all,
        the rest of the frames go to a new peer (and shadow decoder), so that every
        key the decoders produce reaches an entity.
        """
        report = self.report
        report.senders += 1
        report.by_profile[sender.profile] += len(sender.frames)
        self.hass.config.units = (
            METRIC_SYSTEM if sender.seed % 2 else US_CUSTOMARY_SYSTEM
        )
        hexes = tuple(frame.hex() for frame in sender.frames)
        checker: _PeerChecker | None = None
        for index, payload in enumerate(sender.frames):
            if checker is None or checker.full:
                if checker is not None:
                    checker.close()
                checker = _PeerChecker(self, sender, hexes)
            report.payloads += 1
            checker.frame = index
            with self._watching_logs() as logged:
                checker.one_frame(payload, index)
            for record in logged:
                checker.logged(record)
        if checker is not None:
            checker.close()


class _PeerChecker:
    """The checks of one sender's frames."""

    def __init__(
        self, harness: Harness, sender: Sender, hexes: tuple[str, ...]
    ) -> None:
        self.harness = harness
        self.report = harness.report
        self.sender = sender
        self.hexes = hexes
        self.frame = 0
        self._sensors: dict[str, MeasurementSensor | BinaryMeasurement] = {}
        self._checked: dict[str, Any] = {}
        self._hints: set[object] = set()  # templates of the warnings logged so far
        fmt = PayloadFormat(sender.payload_format)
        self.shadow = PeerDecoder(
            sender.mac, payload_format=fmt, bindkey=sender.bindkey
        )
        self.peer = Peer(
            sender.mac,
            "fuzz",
            PeerHooks(
                loop=asyncio.get_running_loop(),
                update_interval=0.0,
                slow_interval=0.0,
                link_up=lambda: True,
                counters=GatewayCounters(),
                new_keys=lambda _peer, _keys: None,
                device_changed=lambda _peer: None,
                fire_event=self.event,
            ),
            payload_format=ha_model.PayloadFormat(sender.payload_format),
            bindkey=sender.bindkey,
        )
        self.peer.async_add_listener(self.states)

    @property
    def full(self) -> bool:
        """Whether the peer has all the keys it may have."""
        return len(self.peer.measurements) >= MAX_MEASUREMENTS_PER_PEER

    def close(self) -> None:
        """Add the peer's counters to the report."""
        self.report.refused_values += self.peer.invalid_values
        self.report.unauthenticated += self.peer.unauthenticated

    def logged(self, record: logging.LogRecord) -> None:
        """Judge a warning logged while a frame was handled.

        The integration may tell the user once per peer (a hint such as "set its
        key"); anything it logs again for the same peer, and anything a library logs
        about a frame, would be a log line per frame: any sender could flood the log.
        """
        detail = f"{record.name}: {record.getMessage()[:160]}"
        if not record.name.startswith(_INTEGRATION):
            self.fail("warning logged", detail)
        elif record.msg in self._hints:
            self.fail("warning logged again", detail)
        else:
            self._hints.add(record.msg)

    def fail(self, kind: str, detail: str) -> None:
        sender = self.sender
        self.report.add(
            Finding(
                kind,
                detail,
                sender.seed,
                sender.profile,
                self.frame,
                self.hexes[: self.frame + 1],
            )
        )

    def one_frame(self, payload: bytes, index: int) -> None:
        shadow = self.shadow
        try:
            decoded = shadow.decode(payload)
            disagreement = scan_disagreement(shadow, payload, decoded)
        except Exception:  # noqa: BLE001 - a finding, never a crash of the harness
            self.fail("exception in the library", traceback.format_exc(limit=-3))
            return
        if decoded.error in ("decoder error", "bthome-ble parser error"):
            self.fail("exception in the library", f"contained: {decoded.error}")
        for violation in limit_violations(decoded):
            self.fail("documented limit broken", violation)
        if disagreement is not None:
            self.fail("scan and decode disagree", disagreement)
        peer = self.peer
        before = (peer.heard_at, peer.rssi, dict(peer.values))
        rssi = -20 - index % 80  # a frame's own RSSI, to see who set it
        packet = ha_messages.Packet(
            self.sender.mac,
            BROADCAST,
            rssi,
            -95,
            1,
            0,
            index,
            (index + 1) * FRAME_GAP_US,
            payload,
        )
        try:
            peer.handle(packet)
            peer.flush()
        except Exception:  # noqa: BLE001
            self.fail("exception in the integration", traceback.format_exc(limit=-3))
            return
        if shadow.authenticates and not decoded.authenticated:
            after = (peer.heard_at, peer.rssi, peer.values)
            if (
                after[0] is not before[0]
                or after[1] != before[1]
                or after[2] != before[2]
            ):
                self.fail("unauthenticated frame touched the peer", repr(decoded)[:160])

    def event(self, _peer: Peer, event: Any) -> None:
        self.report.events += 1
        event_type, _attributes = map_event(event)
        if event_type not in event_types_for(event.key):
            self.fail("event of no type of its entity", f"{event.key}: {event_type}")

    def states(self) -> None:
        """Check the state of every measurement whose value changed (the peer writes)."""
        peer = self.peer
        hass = self.harness.hass
        for key, info in peer.measurements.items():
            value = peer.values.get(key, _MISSING)
            if (
                key in self._checked
                and self._checked[key] == value
                and type(self._checked[key]) is type(value)
            ):
                continue
            self._checked[key] = value
            entity = self._sensors.get(key)
            if entity is None:
                probe = _BinaryProbe if info.binary else _SensorProbe
                entity = self._sensors[key] = probe(hass, peer, info)
            self.report.states_checked += 1
            try:
                state = entity._stringify_state(True)  # noqa: SLF001 - what async_write_ha_state writes
                validate_state(state)
            except Exception as err:  # noqa: BLE001
                self.fail(
                    "invalid state",
                    f"{type(err).__name__}: {err}; {key} ({info}) = {value!r}"[:400],
                )
                continue
            if shape_of(info) is ValueShape.NUMBER and state != "unknown":
                number = float(state)
                if not math.isfinite(number) or abs(number) > MAX_NUMBER * 2:
                    self.fail("invalid state", f"{key} = {state}")


_MISSING: Final = object()


def regression_senders(path: Path = REGRESSIONS) -> list[Sender]:
    """Return the committed regression cases, as senders."""
    cases = json.loads(path.read_text())
    return [
        Sender(
            seed=case["seed"],
            profile=f"regression: {case['name']}",
            mac=bytes.fromhex(case["mac"]),
            payload_format=case["payload_format"],
            bindkey=bytes.fromhex(case["bindkey"]) if case.get("bindkey") else None,
            frames=tuple(bytes.fromhex(frame) for frame in case["frames"]),
        )
        for case in cases
    ]


async def run(
    payloads: int,
    seed: int,
    *,
    senders: Sequence[Sender] = (),
    regressions: bool = True,
) -> Report:
    """Run the regression cases, ``senders``, then seeded senders up to ``payloads``."""
    report = Report()
    with tempfile.TemporaryDirectory() as config_dir:
        hass = HomeAssistant(config_dir)
        try:
            harness = Harness(hass, report)
            for sender in (*(regression_senders() if regressions else ()), *senders):
                harness.run_sender(sender)
            index = 0
            while report.payloads < payloads:
                harness.run_sender(make_sender(sender_seed(seed, index)))
                index += 1
                if index % 200 == 0:
                    await asyncio.sleep(0)  # let the loop run what the peers scheduled
        finally:
            await hass.async_stop(force=True)
    return report


def sender_seed(seed: int, index: int) -> int:
    """Return the seed of sender ``index`` of a run with ``seed``."""
    return seed * 1_000_003 + index


def random_senders(count: int, seed: int, frames: int = 30) -> Counter[str]:
    """Kinds committed for ``count`` senders of random payloads (``FormatEvidence``)."""
    rng = random.Random(seed)
    committed: Counter[str] = Counter()
    for _ in range(count):
        kind = random_sender_kind(rng, frames)
        committed[kind.value if kind else "none"] += 1
    return committed


def _print_report(report: Report, seconds: float) -> None:
    print(
        f"payloads:         {report.payloads:,} from {report.senders:,} senders in {seconds:.1f} s"
    )
    print(f"states checked:   {report.states_checked:,}; events: {report.events:,}")
    print(f"refused values:   {report.refused_values:,} (counted as invalid_values)")
    print(f"unauthenticated:  {report.unauthenticated:,} frames of keyed peers refused")
    print(
        "by profile:       "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(report.by_profile.items()))
    )
    print(
        f"exceptions:       {report.counts['exception in the library'] + report.counts['exception in the integration']:,}"
    )
    print(f"invalid states:   {report.counts['invalid state']:,}")
    print(f"findings:         {report.failures:,}")
    for kind, count in sorted(report.counts.items()):
        print(f"  {kind}: {count:,}")
    for finding in report.examples:
        print(
            f"- {finding.kind} (seed {finding.seed}, {finding.profile}, frame {finding.frame}): {finding.detail}"
        )
        print(f"  frames: {' '.join(finding.frames)[:400]}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--payloads", type=int, default=CI_PAYLOADS, help="payloads to send"
    )
    parser.add_argument(
        "--random-senders",
        type=int,
        default=20_000,
        help="random senders for the false-positive rate",
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help=f"{LONG_PAYLOADS:,} payloads, {LONG_RANDOM_SENDERS:,} random senders",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--sender",
        type=int,
        help="print the frames of the sender of this seed, and check it",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness; exit status 1 if anything was found."""
    args = _parse_args(argv)
    if args.sender is not None:
        sender = make_sender(args.sender)
        print(
            f"seed {sender.seed}: {sender.profile}, format {sender.payload_format}, mac {sender.mac.hex()}, key {sender.bindkey.hex() if sender.bindkey else None}"
        )
        for frame in sender.frames:
            print(frame.hex())
        report = asyncio.run(run(0, 0, senders=[sender], regressions=False))
        _print_report(report, 0)
        return 1 if report.failures else 0
    payloads = LONG_PAYLOADS if args.long else args.payloads
    randoms = LONG_RANDOM_SENDERS if args.long else args.random_senders
    start = time.perf_counter()
    report = asyncio.run(run(payloads, args.seed))
    seconds = time.perf_counter() - start
    _print_report(report, seconds)
    start = time.perf_counter()
    committed = random_senders(randoms, args.seed)
    given = randoms - committed["none"]
    print(
        f"random senders:   {randoms:,} of 30 frames, {given} given a kind other than raw "
        f"({dict(committed)}) in {time.perf_counter() - start:.1f} s"
    )
    return 1 if report.failures or given else 0


if __name__ == "__main__":
    sys.exit(main())
