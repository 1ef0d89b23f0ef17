"""Throughput of the reference firmware's core: the host gateway, radio in, pty out.

The host gateway (firmware/host: the firmware's portable core, compiled -O2 for this
machine) runs pinned to one CPU. On the other CPU this process plays ESP-NOW senders at
its UDP radio and reads the pseudo-terminal with the host's decoder, exactly as the
integration does. Payloads are 250 bytes (ESP-NOW v1's largest), so PACKET frames are
290 bytes.

1. Sustained: senders keep at most WINDOW frames in flight (below the gateway's 32-slot
   queue), so nothing may be dropped; frames/s out of the pty is the figure, as a ratio
   to 3,200 frames/s (the native-USB line rate the gateway must keep up with).
2. Overload: a blast far above what the link takes; the queue overflows and the
   drops must appear in STATS, and add up: forwarded + dropped = offered.
3. Baseline, same machine, same reader, same CPUs: the Python simulator's gateway
   (devtools/simulator.py) writing 250-byte PACKETs into a pty as fast as the reader
   takes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
from pathlib import Path
import select
import subprocess
import sys
import tempfile
import termios
import time
import tty
from typing import Any

from devtools.host_gateway import QUEUE_CAPACITY, REPO, HostGateway, build, record
from devtools.simulator import SimulatedGateway, SimulatorConfig
from espnowgw.messages import Packet, Stats, host_decoder

LINE_RATE_FPS = (
    3_200  # frames/s of 250-byte payloads over native USB (the target)
)
PAYLOAD = 250
WINDOW = 24  # frames in flight: below the queue's 32 slots, so none may be dropped
BATCH = 8  # records per datagram
GATEWAY_CPU, READER_CPU = 0, 1


@dataclass
class Reader:
    """The host's end of a gateway's pty: decodes, counts PACKETs, keeps STATS."""

    fd: int
    decoder: Any = field(default_factory=host_decoder)
    packets: int = 0
    stats: Stats | None = None
    seq_gaps: int = 0
    _next_seq: int | None = None

    @classmethod
    def open(cls, path: str) -> Reader:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd, termios.TCSANOW)
        return cls(fd)

    def poll(self, timeout: float) -> int:
        """Read what arrives within ``timeout``; return the PACKETs it held."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return 0
        got = 0
        for message in self.decoder.feed(os.read(self.fd, 1 << 16)):
            if isinstance(message, Packet):
                got += 1
                if self._next_seq is not None and message.seq != self._next_seq:
                    self.seq_gaps += 1
                self._next_seq = (message.seq + 1) & 0xFFFFFFFF
            elif isinstance(message, Stats):
                self.stats = message
        self.packets += got
        return got

    def close(self) -> None:
        os.close(self.fd)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sustained(gateway: HostGateway, reader: Reader, duration: float) -> dict[str, Any]:
    """Windowed load: frames/s out of the pty with no drop allowed."""
    payload = bytes(range(PAYLOAD))
    records = [record(bytes([0x0A, 0, 0, 0, 0, i]), payload) for i in range(BATCH)]
    sent = received = 0
    cpu0 = _cpu_seconds(gateway.process.pid)
    start = time.perf_counter()
    end = start + duration
    while (now := time.perf_counter()) < end:
        if sent - received + BATCH <= WINDOW:
            gateway.radio(*records)
            sent += BATCH
            continue
        received += reader.poll(end - now)
    while received < sent:  # the last window
        got = reader.poll(2.0)
        if not got:
            break
        received += got
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds(gateway.process.pid) - cpu0
    return {
        "frames": received,
        "seconds": elapsed,
        "frames_per_s": received / elapsed,
        "gateway_cpu_share": cpu / elapsed,
        # What one core would carry if the reader kept up: the reader is the limit here.
        "frames_per_gateway_cpu_second": received / cpu if cpu > 0 else None,
        "lost": sent - received,
    }


def _overload(gateway: HostGateway, reader: Reader, frames: int) -> dict[str, Any]:
    """A blast: the queue overflows; STATS must count every drop.

    Datagrams the kernel's socket buffer cannot hold never reach the radio (the air
    lost them); of those heard, every one is forwarded or counted as dropped.
    """
    # A STATS that counts everything read so far: the starting point.
    deadline = time.monotonic() + 10
    while (before := reader.stats) is None or (
        before.rx_packets - before.rx_dropped != reader.packets
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("no STATS in step with the PACKETs read")
        reader.poll(0.1)
    packets0 = reader.packets
    payload = bytes(PAYLOAD)
    chunk = [record(bytes([0x0A, 0, 0, 0, 1, i]), payload) for i in range(BATCH)]
    for _ in range(frames // BATCH):
        gateway.radio(*chunk)
        reader.poll(0)
    offered = frames // BATCH * BATCH

    def settled() -> bool:
        stats = reader.stats
        if stats is None or stats is before:
            return False
        heard = stats.rx_packets - before.rx_packets
        dropped = stats.rx_dropped - before.rx_dropped
        return reader.packets - packets0 + dropped == heard

    deadline = time.monotonic() + 10
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if reader.poll(0.1):
            quiet_since = time.monotonic()
        elif settled() and time.monotonic() - quiet_since > 1.0:
            break
    after = reader.stats
    assert after is not None
    heard = after.rx_packets - before.rx_packets
    dropped = after.rx_dropped - before.rx_dropped
    forwarded = reader.packets - packets0
    return {
        "offered": offered,
        "heard": heard,  # the rest overflowed the kernel's UDP buffer: not the gateway's
        "forwarded": forwarded,
        "dropped_in_stats": dropped,
        "adds_up": forwarded + dropped == heard,
        "queue_peak": after.queue_peak,
        "queue_capacity": after.queue_capacity,
    }


def drive_simulator(link: str, seconds: float) -> None:
    """Run in a subprocess: the simulator's gateway writing 250-byte PACKETs to a pty.

    Its write blocks while the pty is full, so it goes as fast as the reader takes, with
    no drop, and with no input to parse (the host gateway has its UDP radio to read).
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    os.symlink(os.ttyname(slave), link)

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(master, view) :]

    gateway = SimulatedGateway(SimulatorConfig(peers=4, kinds=("raw",)), write)
    payload = bytes(range(PAYLOAD))
    src = bytes([0x0A, 0, 0, 0, 2, 0])
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(100):
            gateway.packet(src, payload)


def _simulator(link: Path, duration: float) -> dict[str, Any]:
    """The Python simulator's gateway as fast as it goes, into a pty, read the same way."""
    code = "import sys; from benchmarks.firmware import drive_simulator as d; d(sys.argv[1], float(sys.argv[2]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(link), str(duration + 3)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    os.sched_setaffinity(process.pid, {GATEWAY_CPU})
    try:
        deadline = time.monotonic() + 20
        while not link.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)
        reader = Reader.open(str(link))
        reader.poll(0.5)  # warm up
        counted = reader.packets
        cpu0 = _cpu_seconds(process.pid)
        start = time.perf_counter()
        while time.perf_counter() - start < duration:
            reader.poll(0.1)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds(process.pid) - cpu0
        frames = reader.packets - counted
        reader.close()
    finally:
        process.kill()
        process.wait()
    return {
        "frames": frames,
        "seconds": elapsed,
        "frames_per_s": frames / elapsed,
        "simulator_cpu_share": cpu / elapsed,
        "frames_per_simulator_cpu_second": frames / cpu if cpu > 0 else None,
        "seq_gaps": reader.seq_gaps,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark and print the report."""
    duration = 1.0 if quick else 5.0
    cpus = os.sched_getaffinity(0)
    if not {GATEWAY_CPU, READER_CPU} <= cpus:
        raise RuntimeError(
            "needs two CPUs: the gateway on one, the reader on the other"
        )
    os.sched_setaffinity(0, {READER_CPU})
    binary = build(REPO / "build" / "firmware")
    with tempfile.TemporaryDirectory() as tmp:
        gateway = HostGateway.start(
            binary,
            "--max-payload",
            "250",
            "--stats-interval",
            "500",
            link=Path(tmp) / "gateway",
            cpu=GATEWAY_CPU,
        )
        with gateway:
            reader = Reader.open(gateway.link)
            sustained = _sustained(gateway, reader, duration)
            sustained["seq_gaps"] = reader.seq_gaps
            sustained["rx_dropped"] = reader.stats.rx_dropped if reader.stats else None
            overload = _overload(gateway, reader, 20_000 if quick else 100_000)
            reader.close()
        baseline = _simulator(Path(tmp) / "simulator", duration)
    os.sched_setaffinity(0, cpus)

    fps = sustained["frames_per_s"]
    result = {
        "payload_bytes": PAYLOAD,
        "window": WINDOW,
        "sustained": sustained,
        "ratio_to_line_rate": fps / LINE_RATE_FPS,
        "overload": overload,
        "simulator": baseline,
        # Both are limited by the one Python reader; what each costs is the comparison.
        "ratio_to_simulator_out_of_pty": fps / baseline["frames_per_s"],
        "ratio_to_simulator_per_cpu_second": (
            sustained["frames_per_gateway_cpu_second"]
            / baseline["frames_per_simulator_cpu_second"]
            if sustained["frames_per_gateway_cpu_second"]
            and baseline["frames_per_simulator_cpu_second"]
            else None
        ),
    }
    print(
        f"   host gateway (CPU {GATEWAY_CPU}), {PAYLOAD}-byte payloads, {WINDOW} in flight,"
        f" {duration:.0f} s"
    )
    print(
        f"   sustained out of the pty : {fps:12,.0f} frames/s"
        f"  (gateway CPU {sustained['gateway_cpu_share']:.0%}),"
        f" {sustained['lost']} lost, {sustained['seq_gaps']} sequence gaps,"
        f" rx_dropped {sustained['rx_dropped']}"
    )
    if sustained["frames_per_gateway_cpu_second"]:
        print(
            f"   per second of gateway CPU  : {sustained['frames_per_gateway_cpu_second']:12,.0f}"
            " frames (the Python reader is the limit above)"
        )
    print(
        f"   ratio to the line rate {LINE_RATE_FPS:,} frames/s : {result['ratio_to_line_rate']:8.1f}x"
        "   (target >= 1x)"
    )
    print(
        f"   overload: {overload['offered']:,} sent, {overload['heard']:,} heard,"
        f" {overload['forwarded']:,} forwarded, {overload['dropped_in_stats']:,} dropped per STATS"
        f" ({'adds up' if overload['adds_up'] else 'DOES NOT ADD UP'}),"
        f" queue peak {overload['queue_peak']}/{overload['queue_capacity']}"
    )
    print(
        f"   baseline, Python simulator into a pty: {baseline['frames_per_s']:12,.0f} frames/s"
        f"  (simulator CPU {baseline['simulator_cpu_share']:.0%})"
    )
    if result["ratio_to_simulator_per_cpu_second"]:
        print(
            "   ratio host gateway / simulator per CPU-second:"
            f" {result['ratio_to_simulator_per_cpu_second']:6.1f}x"
            f"   (out of the pty, both reader-bound: {result['ratio_to_simulator_out_of_pty']:.1f}x)"
        )
    assert overload["queue_capacity"] == QUEUE_CAPACITY
    return result
