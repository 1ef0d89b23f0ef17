"""Gateway simulator: the gateway side of the link protocol, for tests and develop mode.

It speaks the protocol on a pseudo-terminal (the host opens the slave path, or a stable
symlink to it, exactly like a USB serial port) or on a TCP port (``socket://host:port``)
and simulates ESP-NOW peers: BTHome v2, JSON and raw payloads at configurable rates,
ESPHome ``packet_transport`` nodes (clear, encrypted with a rolling code, and one whose
sensors span two frames) and an Espressif ``esp-now`` button (``espnow_ctrl``, each
press repeated as the component does), button presses repeated like real remotes do, RSSI drift, bursts, corrupted bytes on
the wire, and unplugging/replugging the gateway. On the way back it keeps a radio
peer table bounded like ESP-NOW's, and answers each SEND as told: acknowledged, lost
(no ACK), refused (busy, error), held back until released, or never answered
(``script_sends``). Everything random comes from one seeded ``random.Random``, so a run
is reproducible.

Run it from the repository root::

    python -m devtools.simulator --link /tmp/espnow-gw

Pure Python, no Home Assistant imports.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import deque
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
import random
import signal
import struct
import sys
import time
import tty
from typing import Final, Literal

from espnowgw.decoders import espnow_ctrl
from espnowgw.encoders import EsphomeNode, espnow_ctrl_payload, espnow_frame
from espnowgw.mac import BROADCAST, mac_to_str
from espnowgw.messages import (
    MAX_PAYLOAD,
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    AddPeer,
    Capability,
    CommandResult,
    GetInfo,
    GetPeers,
    Hello,
    Log,
    LogLevel,
    Message,
    Packet,
    PeerEntry,
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
    gateway_decoder,
)

_LOGGER = logging.getLogger(__name__)

type PayloadKind = Literal[
    "bthome",
    "json",
    "raw",
    "esphome",
    "esphome_encrypted",
    "esphome_multi",
    "espnow_button",
]
PAYLOAD_KINDS: Final[tuple[PayloadKind, ...]] = ("bthome", "json", "raw")
"""The kinds simulated by default."""
ALL_KINDS: Final[tuple[PayloadKind, ...]] = (
    *PAYLOAD_KINDS,
    "esphome",
    "esphome_encrypted",
    "esphome_multi",
    "espnow_button",
)
ESPHOME_KEY: Final = "simulated-esphome-key"
"""The ``encryption: key:`` of the ``esphome_encrypted`` nodes (rolling code on)."""
ESPHOME_MULTI_FRAME_SIZE: Final = 72
"""The ``esphome_multi`` node's largest frame: its five sensors take two frames."""
ESPNOW_REPEATS: Final = 10  # the esp-now component's default retransmit count
# How the simulated radio answers one SEND (script_sends): "ack" and "no_ack" as the
# peer would, "busy" and "error" as a refusing gateway, "hold" answers only when
# release_held() is called, "drop" never answers.
type SendBehaviour = Literal["ack", "no_ack", "busy", "error", "hold", "drop"]
CAPABILITIES_1_0: Final = (
    Capability.SEND
    | Capability.PEERS
    | Capability.SET_CHANNEL
    | Capability.ENCRYPTION
    | Capability.ESPNOW_V2
    | Capability.NOISE_FLOOR
    | Capability.STATS
)
ALL_CAPABILITIES: Final = CAPABILITIES_1_0 | Capability.PEER_LIST | Capability.SET_PMK
_BTHOME_PRESS: Final = 0x01  # BTHome v2 button event "press"
_SEND_STATUS: Final[dict[str, Status]] = {
    "ack": Status.OK,
    "no_ack": Status.NO_ACK,
    "busy": Status.BUSY,
    "error": Status.ERROR,
}


@dataclass(kw_only=True)
class SimulatorConfig:
    """What to simulate. Rates are frames per second, times in seconds."""

    peers: int = 4
    rate: float = 0.2  # per peer, on average
    kinds: Sequence[PayloadKind] = PAYLOAD_KINDS  # assigned to peers round-robin
    raw_size: int = 16
    button_probability: float = 0.1  # chance that a BTHome/JSON frame carries a press
    repeats: int = 1  # how many times each button press is sent (remotes repeat)
    corrupt_rate: float = 0.0  # chance per byte on the wire of a flipped bit
    burst_every: float | None = None
    burst_size: int = 20
    unplug_every: float | None = None
    unplug_for: float = 2.0
    stats_interval: float = 10.0
    tick: float = 0.01
    seed: int = 0
    mac: bytes = b"\x24\x6f\x28\x00\x00\x01"
    channel: int = 1
    firmware: str = "sim-1.0.0"
    protocol_major: int = PROTOCOL_MAJOR
    protocol_minor: int = PROTOCOL_MINOR
    max_payload: int = MAX_PAYLOAD
    capabilities: int = ALL_CAPABILITIES
    channels: range = range(1, 14)  # what the radio accepts (country setting)
    max_peers: int = 20  # ESP_NOW_MAX_TOTAL_PEER_NUM, the broadcast entry included
    max_encrypted: int = 7  # CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM's default
    hello_on_boot: bool = True
    backlog_limit: int = 256 * 1024  # bytes the "USB link" buffers before dropping


@dataclass
class SimPeer:
    """One simulated ESP-NOW node."""

    mac: bytes
    kind: PayloadKind
    rssi: float = -60.0
    packet_id: int = 0
    temperature: float = 21.0
    humidity: float = 45.0
    battery: int = 100
    credit: float = 0.0  # fractional frames owed by the rate schedule
    esphome: EsphomeNode | None = None  # the ESPHome kinds' sender, made on first use
    motion: bool = False  # the ESPHome nodes' binary sensor: on while pressed


@dataclass
class SimStats:
    """Gateway counters reported in STATS."""

    rx_packets: int = 0
    rx_dropped: int = 0
    tx_packets: int = 0
    tx_failed: int = 0
    queue_peak: int = 0
    corrupted_frames: int = 0
    commands: dict[str, int] = field(default_factory=dict)


class SimulatedGateway:
    """The gateway's protocol brain, independent of the byte transport.

    ``write`` is called with every byte string the gateway sends to the host;
    ``backlog`` tells how many bytes are still waiting to reach the host (to emulate
    the gateway's bounded queue).
    """

    def __init__(
        self,
        config: SimulatorConfig,
        write: Callable[[bytes], None],
        backlog: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Initialize with a configuration and a write function."""
        self.config = config
        self.rng = random.Random(config.seed)
        self.stats = SimStats()
        self.channel = config.channel
        self.seq = 0
        self.mute = False  # True: ignore the host entirely (a hung gateway)
        self.hold_info = False  # True: answers to GET_INFO wait for release_held()
        self.registered: dict[bytes, PeerEntry] = {}  # the radio's peer table
        self.pmk: bytes | None = None  # None: the firmware's built-in key
        self.in_range: set[bytes] = set()  # nodes that acknowledge unicast frames
        self.send_script: deque[SendBehaviour] = deque()
        self.command_script: deque[Status | None] = deque()  # None: no answer
        self.held: list[Message] = []  # answers held back by "hold"
        self.air: list[tuple[bytes, bytes]] = []  # (dst, payload) transmitted, bounded
        self.received: list[Message] = []  # commands from the host, bounded below
        # Told of every PACKET written to the host: its sequence number, and whether
        # a bit of it was flipped on the wire (the soak's accounting of what is lost).
        self.on_packet: Callable[[int, bool], None] | None = None
        self._write = write
        self._backlog = backlog
        self._clock = clock
        self._decoder = gateway_decoder()
        self._booted = 0.0
        self.peers = [
            SimPeer(
                mac=bytes([0x02, 0x4E, *self.rng.randbytes(3), index & 0xFF]),
                kind=config.kinds[index % len(config.kinds)],
                rssi=self.rng.uniform(-80, -45),
            )
            for index in range(config.peers)
        ]
        self.in_range.update(peer.mac for peer in self.peers)

    # ---- host -> gateway --------------------------------------------------------

    @property
    def host_frames_bad(self) -> int:
        """Frames from the host that failed the frame checks."""
        d = self._decoder.stats
        return d.crc_errors + d.header_errors + d.oversize + d.malformed

    def boot(self) -> None:
        """Start (or restart) the gateway: sequence from 0, hello if configured.

        A restart loses the runtime state, as on a real gateway: the peer table
        (only the broadcast entry is registered at boot), the channel set by the
        host, the key set by the host, answers held back.
        """
        self._booted = self._clock()
        self.seq = 0
        self._decoder.reset()
        self.channel = self.config.channel
        self.pmk = None
        self.registered = {BROADCAST: PeerEntry(BROADCAST, 0, 0)}
        self.held.clear()
        if self.config.hello_on_boot:
            self.send(self.hello())

    def script_sends(self, *behaviours: SendBehaviour) -> None:
        """Answer the next SENDs so, one behaviour each, then as the radio would."""
        self.send_script.extend(behaviours)

    def release_held(self) -> int:
        """Send the answers held back by "hold"; return how many."""
        held, self.held = self.held, []
        for msg in held:
            self.send(msg)
        return len(held)

    def receive(self, data: bytes) -> None:
        """Handle bytes from the host."""
        for msg in self._decoder.feed(data):
            if self.mute:
                continue
            name = type(msg).__name__
            self.stats.commands[name] = self.stats.commands.get(name, 0) + 1
            if len(self.received) < 1000:
                self.received.append(msg)
            self._answer(msg)

    def _answer(self, msg: Message) -> None:
        match msg:
            case Ping():
                self.send(Pong(msg.request_id))
            case GetInfo() if self.hold_info:
                self.held.append(self.hello())  # answered by release_held()
            case GetInfo():
                self.send(self.hello())
            case Send():
                self._send(msg)
            case GetPeers() if self.config.capabilities & Capability.PEER_LIST:
                self.send(
                    PeerList(
                        msg.request_id,
                        self.config.max_peers,
                        self.config.max_encrypted,
                        tuple(self.registered.values()),
                    )
                )
            case SetChannel() | AddPeer() | RemovePeer():
                self._command(msg)
            case SetPmk() if self.config.capabilities & Capability.SET_PMK:
                self._command(msg)
            case _:
                pass  # unknown to this gateway (a 1.0 gateway and the 1.1 commands)

    def _send(self, msg: Send) -> None:
        self.stats.tx_packets += 1
        if not self.config.capabilities & Capability.SEND:
            status = Status.NOT_SUPPORTED
        elif len(msg.payload) > self.config.max_payload:
            status = Status.INVALID_ARGUMENT
        elif msg.dst != BROADCAST and msg.dst not in self.registered:
            status = Status.UNKNOWN_PEER  # esp_now_send(): ESP_ERR_ESPNOW_NOT_FOUND
        else:
            behaviour = self.send_script.popleft() if self.send_script else None
            if behaviour == "drop":
                return
            if behaviour in _SEND_STATUS:
                status = _SEND_STATUS[behaviour]
            elif msg.dst == BROADCAST or msg.dst in self.in_range:
                status = Status.OK
            else:
                status = Status.NO_ACK
            if status in (Status.OK, Status.NO_ACK) and len(self.air) < 1000:
                self.air.append((msg.dst, msg.payload))  # transmitted
            if behaviour == "hold":
                self.held.append(SendResult(msg.request_id, msg.dst, status))
                return
        if status != Status.OK:
            self.stats.tx_failed += 1
        self.send(SendResult(msg.request_id, msg.dst, status))

    def _command(self, msg: SetChannel | AddPeer | RemovePeer | SetPmk) -> None:
        if self.command_script:
            scripted = self.command_script.popleft()
            if scripted is not None:
                self.send(CommandResult(msg.request_id, msg.TYPE, scripted))
            return
        required = (
            Capability.SET_CHANNEL if type(msg) is SetChannel else Capability.PEERS
        )
        if type(msg) is not SetPmk and not self.config.capabilities & required:
            self.send(CommandResult(msg.request_id, msg.TYPE, Status.NOT_SUPPORTED))
            return
        match msg:
            case SetChannel():
                status = Status.INVALID_ARGUMENT
                if msg.channel in self.config.channels:
                    self.channel = msg.channel
                    status = Status.OK
            case AddPeer():
                status = self._add_peer(msg)
            case RemovePeer():
                known = self.registered.pop(msg.mac, None) is not None
                status = Status.OK if known else Status.UNKNOWN_PEER
            case SetPmk():
                self.pmk = msg.pmk
                status = Status.OK
        self.send(CommandResult(msg.request_id, msg.TYPE, status))

    def _add_peer(self, msg: AddPeer) -> Status:
        entry = PeerEntry(msg.mac, msg.channel, msg.flags & PeerEntry.FLAG_ENCRYPT)
        others = [p for mac, p in self.registered.items() if mac != msg.mac]
        if entry.encrypted and not self.config.capabilities & Capability.ENCRYPTION:
            return Status.NOT_SUPPORTED
        if msg.mac == BROADCAST and entry.encrypted:
            return Status.INVALID_ARGUMENT  # broadcast cannot be encrypted
        if len(others) >= self.config.max_peers or (
            entry.encrypted
            and sum(p.encrypted for p in others) >= self.config.max_encrypted
        ):
            return Status.PEER_TABLE_FULL
        self.registered[msg.mac] = entry  # a known peer is updated (esp_now_mod_peer)
        return Status.OK

    # ---- gateway -> host --------------------------------------------------------

    def hello(self) -> Hello:
        """Return this gateway's hello."""
        cfg = self.config
        return Hello(
            cfg.protocol_major,
            cfg.protocol_minor,
            cfg.mac,
            self.channel,
            cfg.max_payload,
            cfg.capabilities,
            cfg.firmware,
        )

    def gateway_stats(self) -> Stats:
        """Return the STATS message for now."""
        s = self.stats
        return Stats(
            int(self._clock() - self._booted),
            s.rx_packets,
            s.rx_dropped,
            s.tx_packets,
            s.tx_failed,
            self.host_frames_bad,
            200_000 - 40 * len(self.registered),
            180_000,
            s.queue_peak,
            32,
        )

    def log(self, level: LogLevel, text: str) -> None:
        """Send a log line."""
        self.send(Log(level, text))

    def send(self, msg: Message) -> None:
        """Send a message to the host (unless muted)."""
        if not self.mute:
            self._emit(msg.encode())

    def _emit(self, frame: bytes) -> bool:
        """Write ``frame`` to the host; return True if a bit of it was flipped."""
        rate = self.config.corrupt_rate
        corrupted = False
        if rate and self.rng.random() < 1 - (1 - rate) ** len(frame):
            self.stats.corrupted_frames += 1
            damaged = bytearray(frame)
            damaged[self.rng.randrange(len(frame))] ^= 1 << self.rng.randrange(8)
            frame = bytes(damaged)
            corrupted = True
        self._write(frame)
        return corrupted

    def packet(self, src: bytes, payload: bytes, rssi: int = -60) -> bool:
        """Forward one received ESP-NOW frame to the host; False if the queue dropped it."""
        self.stats.rx_packets += 1
        if self.mute or self._backlog() > self.config.backlog_limit:
            self.stats.rx_dropped += 1
            return False
        frame = Packet(
            src,
            BROADCAST,
            rssi,
            -95,
            self.channel,
            0,
            self.seq,
            round((self._clock() - self._booted) * 1_000_000),
            payload,
        ).encode()
        seq, self.seq = self.seq, (self.seq + 1) & 0xFFFFFFFF
        corrupted = self._emit(frame)
        if self.on_packet is not None:
            self.on_packet(seq, corrupted)
        return True

    # ---- simulated peers --------------------------------------------------------

    def peer_payload(self, peer: SimPeer, *, press: bool = False) -> bytes:
        """Build the next payload of ``peer`` (advances its state; the first frame)."""
        return self.peer_frames(peer, press=press)[0]

    def peer_frames(self, peer: SimPeer, *, press: bool = False) -> list[bytes]:
        """Build the next frames of ``peer`` (one, except a multi-frame ESPHome node)."""
        rng = self.rng
        peer.packet_id = (peer.packet_id + 1) & 0xFF
        peer.temperature = min(35.0, max(5.0, peer.temperature + rng.gauss(0, 0.05)))
        peer.humidity = min(95.0, max(10.0, peer.humidity + rng.gauss(0, 0.2)))
        if rng.random() < 0.001:
            peer.battery = max(0, peer.battery - 1)
        if peer.kind == "bthome":
            body = struct.pack(
                "<BBBBBhBH",
                0x00,
                peer.packet_id,
                0x01,
                peer.battery,
                0x02,
                round(peer.temperature * 100),
                0x03,
                round(peer.humidity * 100),
            )
            if press:
                body += bytes((0x3A, _BTHOME_PRESS))
            return [b"\x40" + body]
        if peer.kind == "json":
            doc: dict[str, object] = {
                "temperature": round(peer.temperature, 2),
                "humidity": round(peer.humidity, 1),
                "battery": peer.battery,
                "seq": peer.packet_id,
            }
            if press:
                doc["button"] = "press"
            return [json.dumps(doc, separators=(",", ":")).encode()]
        if peer.kind == "espnow_button":
            return [self._espnow_button_frame(peer, press=press)]
        if peer.kind != "raw":
            return self._esphome_frames(peer, press=press)
        return [rng.randbytes(self.config.raw_size)]

    def _esphome_frames(self, peer: SimPeer, *, press: bool) -> list[bytes]:
        """Build an ESPHome node's send: every sensor, and ``motion`` (on while pressed)."""
        if peer.esphome is None:
            suffix = peer.mac[-2:].hex()
            match peer.kind:
                case "esphome_encrypted":
                    peer.esphome = EsphomeNode(
                        f"sim-secret-{suffix}", key=ESPHOME_KEY, rolling_code=True
                    )
                case "esphome_multi":
                    peer.esphome = EsphomeNode(
                        f"sim-multi-{suffix}", max_size=ESPHOME_MULTI_FRAME_SIZE
                    )
                case _:
                    peer.esphome = EsphomeNode(f"sim-esphome-{suffix}")
        peer.motion = press
        sensors = [
            ("temperature", round(peer.temperature, 2)),
            ("humidity", round(peer.humidity, 1)),
            ("battery", float(peer.battery)),
        ]
        if peer.kind == "esphome_multi":
            sensors += [("pressure", 1013.25), ("illuminance", 320.0)]
        return peer.esphome.frames(sensors, [("motion", peer.motion)])

    def _espnow_button_frame(self, peer: SimPeer, *, press: bool) -> bytes:
        """Build an esp-now button frame: a press (KEY_1 -> POWER toggle) or its battery."""
        if press:
            data = espnow_ctrl_payload(
                espnow_ctrl.ATTRIBUTE_KEY_1, espnow_ctrl.ATTRIBUTE_POWER, 2
            )
        else:
            data = espnow_ctrl_payload(
                espnow_ctrl.ATTRIBUTE_BATTERY_LEVEL, 0, peer.battery
            )
        return espnow_frame(
            espnow_ctrl.FrameType.CONTROL_DATA,
            data,
            src=peer.mac,
            magic=self.rng.getrandbits(16),
            retransmit_count=ESPNOW_REPEATS,
        )

    def emit_from(self, peer: SimPeer, *, press: bool | None = None) -> int:
        """Send one frame of ``peer`` (repeated if it is a button press); return frames.

        A press is repeated ``repeats`` times (``ESPNOW_REPEATS`` for the esp-now
        button, as the component does); a multi-frame ESPHome node sends its frames.
        """
        if press is None:
            press = (
                peer.kind != "raw"
                and self.rng.random() < self.config.button_probability
            )
        frames = self.peer_frames(peer, press=press)
        peer.rssi = min(-30.0, max(-95.0, peer.rssi + self.rng.gauss(0, 1.0)))
        count = 1  # ESPHome nodes do not repeat a send
        if press and peer.kind == "espnow_button":
            count = ESPNOW_REPEATS
        elif press and peer.kind in PAYLOAD_KINDS:
            count = self.config.repeats
        for _ in range(count):
            for payload in frames:
                self.packet(peer.mac, payload, round(peer.rssi))
        return count * len(frames)

    def emit_traffic(self, frames: int) -> None:
        """Send ``frames`` peer frames at once, round-robin over the peers."""
        peers = self.peers
        for index in range(frames):
            peer = peers[index % len(peers)]
            self.packet(peer.mac, self.peer_payload(peer), round(peer.rssi))

    def advance(self, elapsed: float) -> int:
        """Send what the peers' rates owe for ``elapsed`` seconds; return frames sent."""
        sent = 0
        for peer in self.peers:
            peer.credit += self.config.rate * elapsed * self.rng.uniform(0.5, 1.5)
            while peer.credit >= 1.0:
                peer.credit -= 1.0
                sent += self.emit_from(peer)
        return sent


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


class PtyGateway:
    """A simulated gateway behind a pseudo-terminal.

    The host opens ``path`` (the pty slave) or ``link`` (a symlink to it, like
    /dev/serial/by-id). ``unplug()`` closes the pty, which the host sees as EIO, and
    removes the link; ``plug()`` creates a new pty behind the same link.
    """

    def __init__(self, config: SimulatorConfig, link: Path | None = None) -> None:
        """Initialize; call ``plug()`` to create the pty."""
        self.config = config
        self.link = link
        self.path: str | None = None
        self.gateway = SimulatedGateway(config, self._write, self._pending, _loop_time)
        self._master: int | None = None
        self._slave: int | None = None
        self._buffer = bytearray()
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def plugged(self) -> bool:
        """Whether the pty exists."""
        return self._master is not None

    @property
    def url(self) -> str:
        """What the host should open."""
        if self.link is not None:
            return str(self.link)
        assert self.path is not None
        return self.path

    def plug(self) -> str:
        """Create the pty (and link); boot the gateway. Return the url."""
        if self._master is not None:
            return self.url
        loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo or line editing, even before the host opens it
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.path)
            tmp.replace(self.link)
        loop.add_reader(master, self._readable)
        self.gateway.boot()
        return self.url

    def unplug(self) -> None:
        """Close the pty as a USB unplug would."""
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        os.close(self._master)
        if self._slave is not None:
            os.close(self._slave)
        self._master = self._slave = None
        self._buffer.clear()
        self._drained.set()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def _pending(self) -> int:
        return len(self._buffer)

    def _readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: nobody has the slave open; cannot happen while we hold it
        if data:
            self.gateway.receive(data)

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        if not self._buffer:
            try:
                written = os.write(self._master, data)
            except BlockingIOError:
                written = 0
            if written == len(data):
                return
            data = data[written:]
            asyncio.get_running_loop().add_writer(self._master, self._writable)
            self._drained.clear()
        self._buffer += data

    def _writable(self) -> None:
        assert self._master is not None
        try:
            written = os.write(self._master, self._buffer)
        except BlockingIOError:
            return
        del self._buffer[:written]
        if not self._buffer:
            asyncio.get_running_loop().remove_writer(self._master)
            self._drained.set()

    async def drain(self) -> None:
        """Wait until everything written has gone into the pty."""
        await self._drained.wait()

    def close(self) -> None:
        """Unplug for good."""
        self.unplug()


class TcpGateway:
    """A simulated gateway on a TCP port (``socket://host:port``), one host at a time."""

    def __init__(
        self, config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        """Initialize; call ``start()``."""
        self.config = config
        self.host = host
        self.port = port
        self.gateway = SimulatedGateway(config, self._write, self._pending, _loop_time)
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """What the host should open."""
        return f"socket://{self.host}:{self.port}"

    @property
    def plugged(self) -> bool:
        """Whether the server accepts hosts."""
        return self._server is not None

    async def start(self) -> str:
        """Listen; return the url."""
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.gateway.boot()
        return self.url

    async def _client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = writer
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while data := await reader.read(65536):
                self.gateway.receive(data)
        except ConnectionError:
            pass
        finally:
            self._tasks.discard(task)
            if self._writer is writer:
                self._writer = None
            writer.close()

    def _pending(self) -> int:
        writer = self._writer
        return writer.transport.get_write_buffer_size() if writer is not None else 0

    def _write(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def drain(self) -> None:
        """Wait until the socket buffer has room."""
        if self._writer is not None:
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    def unplug(self) -> None:
        """Drop the host's connection."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def stop(self) -> None:
        """Close the server and any connection."""
        self.unplug()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()


async def run_traffic(
    endpoint: PtyGateway | TcpGateway, *, duration: float | None = None
) -> None:
    """Drive the simulated peers in real time (plus bursts, stats and unplugs)."""
    cfg = endpoint.config
    gateway = endpoint.gateway
    loop = asyncio.get_running_loop()
    start = last = loop.time()
    next_stats = start + cfg.stats_interval
    next_burst = start + cfg.burst_every if cfg.burst_every else None
    next_unplug = start + cfg.unplug_every if cfg.unplug_every else None
    replug_at: float | None = None
    while duration is None or loop.time() - start < duration:
        await asyncio.sleep(cfg.tick)
        now = loop.time()
        if replug_at is not None and now >= replug_at:
            replug_at = None
            if isinstance(endpoint, PtyGateway):
                endpoint.plug()
            _LOGGER.info("Replugged: %s", endpoint.url)
        if next_unplug is not None and now >= next_unplug and replug_at is None:
            next_unplug = now + cfg.unplug_every if cfg.unplug_every else None
            endpoint.unplug()
            _LOGGER.info("Unplugged for %.1f s", cfg.unplug_for)
            replug_at = now + cfg.unplug_for
        if not endpoint.plugged:
            last = now
            continue
        gateway.advance(now - last)
        last = now
        if next_burst is not None and now >= next_burst:
            next_burst = now + (cfg.burst_every or 0)
            gateway.emit_traffic(cfg.burst_size)
        if now >= next_stats:
            next_stats = now + cfg.stats_interval
            gateway.send(gateway.gateway_stats())
    if replug_at is not None and isinstance(endpoint, PtyGateway):
        endpoint.plug()  # a run never ends with the gateway unplugged


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.simulator",
        description="Simulate an ESP-NOW USB gateway on a pseudo-terminal or TCP port.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--link", type=Path, help="stable symlink to the pty (e.g. /tmp/espnow-gw)"
    )
    where.add_argument(
        "--tcp", metavar="HOST:PORT", help="listen on TCP instead of a pty"
    )
    parser.add_argument("--peers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.2, help="frames/s per peer")
    parser.add_argument(
        "--kinds",
        default="bthome,json,raw",
        help=f"payload kinds, round-robin, of: {','.join(ALL_KINDS)}",
    )
    parser.add_argument("--raw-size", type=int, default=16)
    parser.add_argument("--button-probability", type=float, default=0.1)
    parser.add_argument(
        "--repeats", type=int, default=1, help="copies of each button press"
    )
    parser.add_argument(
        "--corrupt-rate", type=float, default=0.0, help="bit flips per byte"
    )
    parser.add_argument("--burst-every", type=float, default=None)
    parser.add_argument("--burst-size", type=int, default=20)
    parser.add_argument("--unplug-every", type=float, default=None)
    parser.add_argument("--unplug-for", type=float, default=2.0)
    parser.add_argument("--channel", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after N seconds"
    )
    args = parser.parse_args(argv)
    kinds = tuple(args.kinds.split(","))
    if not kinds or any(kind not in ALL_KINDS for kind in kinds):
        parser.error(f"--kinds: choose from {','.join(ALL_KINDS)}")
    args.kinds = kinds
    return args


async def _main(args: argparse.Namespace) -> None:
    config = SimulatorConfig(
        peers=args.peers,
        rate=args.rate,
        kinds=args.kinds,
        raw_size=args.raw_size,
        button_probability=args.button_probability,
        repeats=args.repeats,
        corrupt_rate=args.corrupt_rate,
        burst_every=args.burst_every,
        burst_size=args.burst_size,
        unplug_every=args.unplug_every,
        unplug_for=args.unplug_for,
        channel=args.channel,
        seed=args.seed,
    )
    endpoint: PtyGateway | TcpGateway
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        endpoint = TcpGateway(config, host or "127.0.0.1", int(port))
        url = await endpoint.start()
    else:
        endpoint = PtyGateway(config, args.link)
        url = endpoint.plug()
    print(f"Simulated gateway {mac_to_str(config.mac)} listening on {url}", flush=True)
    for peer in endpoint.gateway.peers:
        print(f"  peer {mac_to_str(peer.mac)}: {peer.kind}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    traffic = asyncio.create_task(run_traffic(endpoint, duration=args.duration))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({traffic, stopper}, return_when=asyncio.FIRST_COMPLETED)
    traffic.cancel()
    stopper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await traffic
    if isinstance(endpoint, TcpGateway):
        await endpoint.stop()
    else:
        endpoint.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
