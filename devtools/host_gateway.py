"""The reference firmware's host gateway (firmware/host) as a process, for tests and benchmarks.

``espnow-gw-host`` is the firmware's portable core compiled for this machine: a real
gateway whose USB link is a pseudo-terminal and whose radio takes ESP-NOW frames as
UDP datagrams on 127.0.0.1. This module builds it (``make -C firmware``), starts it,
plays senders at its radio and stops it::

    binary = build(Path("build/firmware"))
    with HostGateway.start(binary, link=Path("/tmp/espnow-gw")) as gw:
        gw.radio(record(bytes.fromhex("0a0000000001"), b'{"temperature":21.5}'))

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Iterable
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import time
from types import TracebackType
from typing import Final, Self

from espnowgw.mac import BROADCAST, mac_from_str

REPO: Final = Path(__file__).resolve().parents[1]
FIRMWARE: Final = REPO / "firmware"
DEFAULT_MAC: Final = mac_from_str("24:6F:28:00:00:0A")
QUEUE_CAPACITY: Final = 32  # GW_QUEUE_CAPACITY of the default build
_RECORD: Final = struct.Struct("<6s6sbbBBH")
# The whole line: stderr may arrive in pieces, and a port cut short is another port.
_READY: Final = re.compile(
    rb"espnow-gw-host: ready link=(\S+) radio=udp:127\.0\.0\.1:(\d+)\n"
)
_STATS: Final = re.compile(rb"espnow-gw-host: exit Stats (.*)")
_RADIO: Final = re.compile(rb"espnow-gw-host: exit radio (.*)")


def build(
    out: Path, *, sanitize: bool = False, program: str = "espnow-gw-host"
) -> Path:
    """Build the host gateway (or another program of firmware/Makefile) into ``out``.

    Optimised, or with ``sanitize`` under ASan+UBSan (``bthome-encode`` exists only so).
    """
    target = out / "san" / program if sanitize else out / program
    make = shutil.which("make")
    if make is None:
        raise RuntimeError("building the host gateway needs make and a C compiler")
    subprocess.run(
        [make, "-s", "-C", str(FIRMWARE), f"O={out}", str(target)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return target


def record(
    src: bytes,
    payload: bytes,
    *,
    dst: bytes = BROADCAST,
    rssi: int = -60,
    noise_floor: int = 0,
    channel: int = 0,
    rate: int = 0,
) -> bytes:
    """Return one radio record (firmware/host/hal_host.h); channel 0: the gateway's."""
    return (
        _RECORD.pack(src, dst, rssi, noise_floor, channel, rate, len(payload)) + payload
    )


@dataclass
class HostGateway:
    """A running ``espnow-gw-host``."""

    process: subprocess.Popen[bytes]
    link: str  # the pty (or the symlink to it) the host opens
    radio_port: int
    mac: bytes = DEFAULT_MAC
    _socket: socket.socket = field(
        default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    )
    exit_stats: dict[str, int] = field(default_factory=dict)
    # The radio at exit: "peers" (mac/channel/flags records, by commas), "pmk" (hex),
    # "pmk_sets" (SET_PMKs since the last reboot).
    exit_radio: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        binary: Path,
        *args: str,
        link: Path | None = None,
        mac: bytes = DEFAULT_MAC,
        cpu: int | None = None,
        timeout: float = 10.0,
    ) -> Self:
        """Start the gateway (extra command-line ``args``) and wait until it is ready."""
        command = [str(binary), "--mac", mac.hex(":"), *args]
        if link is not None:
            command += ["--link", str(link)]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if cpu is not None:
            os.sched_setaffinity(process.pid, {cpu})
        assert process.stderr is not None
        deadline = time.monotonic() + timeout
        seen = b""
        while (match := _READY.search(seen)) is None:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([process.stderr], [], [], max(left, 0))
            chunk = os.read(process.stderr.fileno(), 4096) if ready else b""
            if not chunk:
                process.kill()
                process.wait()
                raise RuntimeError(
                    f"espnow-gw-host did not start: {seen.decode(errors='replace')}"
                )
            seen += chunk
        return cls(process, match[1].decode(), int(match[2]), mac)

    def radio(self, *records: bytes) -> None:
        """Send records to the radio in one datagram (heard at the same instant)."""
        self._socket.sendto(b"".join(records), ("127.0.0.1", self.radio_port))

    def radio_each(self, records: Iterable[bytes]) -> None:
        """Send records one datagram each."""
        for one in records:
            self._socket.sendto(one, ("127.0.0.1", self.radio_port))

    def reboot(self) -> None:
        """Restart the gateway's firmware (SIGHUP): HELLO again, sequence from 0."""
        self.process.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """Stop the gateway; return its final STATS figures; raise if it failed.

        Once stopped, it returns the same figures again.
        """
        if self.process.returncode is not None and self._socket.fileno() < 0:
            return self.exit_stats
        self._socket.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if self.process.returncode != 0:
            raise RuntimeError(
                f"espnow-gw-host exited with {self.process.returncode}: "
                f"{err.decode(errors='replace')}"
            )
        match = _STATS.search(err)
        if match:
            self.exit_stats = {
                key: int(value)
                for key, value in (
                    item.split("=", 1) for item in match[1].decode().split()
                )
            }
        match = _RADIO.search(err)
        if match:
            self.exit_radio = dict(
                item.split("=", 1) for item in match[1].decode().split()
            )
        return self.exit_stats

    def __enter__(self) -> Self:
        """Use as a context manager: stopped on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the gateway unless stopped (its failure is raised unless one already is)."""
        if self.process.returncode is not None:
            return
        if exc_type is None:
            self.stop()
        else:
            with contextlib.suppress(RuntimeError):
                self.stop()
