"""The reference firmware's core as a real gateway process, read with the Python codec.

The host gateway (firmware/host) runs the firmware's portable core unchanged. These tests
speak protocol 1.1 to it over a pseudo-terminal (or stdin/stdout), play ESP-NOW senders
at its UDP radio, and decode everything it writes with ``espnowgw``: the two sides of
the protocol, written independently, must agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import os
from pathlib import Path
import random
import select
import socket
import subprocess
import termios
import time
import tty

import pytest

from devtools import protocol_vectors
from devtools.host_gateway import QUEUE_CAPACITY, HostGateway, record
from espnowgw.codec import DecoderStats, encode_frame
from espnowgw.mac import BROADCAST, mac_from_str
from espnowgw.messages import (
    MAX_PAYLOAD,
    AddPeer,
    Capability,
    CommandResult,
    GetInfo,
    GetPeers,
    Hello,
    Log,
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
    host_decoder,
)

PEER = mac_from_str("84:F7:03:12:34:56")
OTHER = mac_from_str("84:F7:03:12:34:57")
GROUP = mac_from_str("01:00:5E:00:00:01")  # a multicast address
PMK = b"0123456789abcdef"
BUILT_IN_PMK = b"pmk1234567890123"  # firmware/host/hal_host.h, ESP-IDF's example key
CAPABILITIES_1_0 = (
    Capability.SEND
    | Capability.PEERS
    | Capability.SET_CHANNEL
    | Capability.ENCRYPTION
    | Capability.ESPNOW_V2
    | Capability.STATS
)
FLAWS = (
    "crc_errors",
    "header_errors",
    "oversize",
    "bytes_skipped",
    "unknown_types",
    "malformed",
    "stale_partials",
)


def _clean(stats: DecoderStats) -> bool:
    """Nothing the host decoder had to skip or reject."""
    return all(getattr(stats, flaw) == 0 for flaw in FLAWS)


def run_stdio(
    binary: Path, commands: bytes, *args: str, radio: bytes | None = None, tmp: Path
) -> tuple[list[Message], DecoderStats, dict[str, int]]:
    """Run the gateway on stdin/stdout until it is idle; decode what it wrote.

    The figures are its exit STATS and its radio's: ``radio peers`` (the table as
    ``mac/channel/flags`` records, in ``radio_peers``) and the PMK (``radio_pmk``, hex).
    """
    command = [str(binary), "--stdio", "--exit-when-idle", "--stats-interval", "0"]
    if radio is not None:
        (tmp / "radio.bin").write_bytes(radio)
        command += ["--radio-file", str(tmp / "radio.bin")]
    done = subprocess.run(
        [*command, *args], input=commands, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    decoder = host_decoder()
    messages = decoder.feed(done.stdout)
    assert decoder.buffered == 0
    line = next(
        line
        for line in done.stderr.decode().splitlines()
        if line.startswith("espnow-gw-host: exit Stats ")
    )
    stats = {
        key: int(value)
        for key, value in (item.split("=", 1) for item in line.split()[3:])
    }
    radio = next(
        line
        for line in done.stderr.decode().splitlines()
        if line.startswith("espnow-gw-host: exit radio ")
    )
    fields = dict(item.split("=", 1) for item in radio.split()[3:])
    stats["radio_pmk"] = int(fields["pmk"], 16)
    stats["radio_pmk_sets"] = int(fields["pmk_sets"])
    stats["radio_peers"] = len(fields["peers"].split(","))
    return messages, decoder.stats, stats


def of_type[T: Message](messages: list[Message], cls: type[T]) -> list[T]:
    """The messages of one type, in order."""
    return [m for m in messages if isinstance(m, cls)]


# ---- stdin/stdout: every command vector ----------------------------------------------


def test_every_command_vector_is_answered_once(
    host_gateway_binary: Path, tmp_path: Path
) -> None:
    """Each well-formed command of the shared vectors gets exactly one answer.

    Malformed bodies and frames of the other direction get none and are counted in
    STATS.host_frames_bad; everything the gateway writes decodes without a flaw.
    """
    commands = [m for m in protocol_vectors.messages() if m.TYPE >= 0x80]
    extended = protocol_vectors.extended()
    malformed = protocol_vectors.malformed()
    stream = b"".join(m.encode() for m in commands)
    stream += b"".join(frame for _, frame in extended)
    stream += b"".join(encode_frame(t, body) for t, body in malformed)

    messages, decoder, stats = run_stdio(host_gateway_binary, stream, tmp=tmp_path)

    assert _clean(decoder), decoder
    hello, *rest = messages
    assert isinstance(hello, Hello)
    assert (hello.protocol_major, hello.protocol_minor) == (1, 1)
    assert hello.max_payload == MAX_PAYLOAD
    assert hello.capabilities == (
        CAPABILITIES_1_0 | Capability.PEER_LIST | Capability.SET_PMK
    )
    assert hello.firmware == "espnow-gw-host 1.1.0"
    sent = commands + [m for m, _ in extended if m.TYPE >= 0x80]
    answers = [m for m in rest if not isinstance(m, Log)]
    expected: list[tuple[type[Message], int | None, int | None]] = []
    for command in sent:
        match command:
            case Ping():
                expected.append((Pong, command.request_id, None))
            case GetInfo():
                expected.append((Hello, None, None))
            case Send():
                expected.append((SendResult, command.request_id, None))
            case GetPeers():
                expected.append((PeerList, command.request_id, None))
            case SetChannel() | AddPeer() | RemovePeer() | SetPmk():
                expected.append((CommandResult, command.request_id, command.TYPE))
    got = [
        (
            type(m),
            getattr(m, "request_id", None),
            m.command if isinstance(m, CommandResult) else None,
        )
        for m in answers
    ]
    # SEND results come after the send callback: compare as multisets.
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    wrong_direction = sum(1 for m, _ in extended if m.TYPE < 0x80)
    assert stats["host_frames_bad"] == len(malformed) + wrong_direction
    sends = of_type(answers, SendResult)
    assert stats["tx_packets"] == len(sends)
    assert stats["tx_failed"] == sum(1 for r in sends if r.status != Status.OK)


def test_command_results(host_gateway_binary: Path, tmp_path: Path) -> None:
    """Statuses as the protocol specifies them, with ESP-NOW's limits.

    (A SEND waits behind the one in flight, so peer commands sent after it in the same
    breath may overtake it: the acknowledgement of a unicast is tested on the pty.)
    """
    script: list[Message] = [
        SetChannel(1, 6),
        SetChannel(2, 0),
        SetChannel(3, 15),
        Send(4, BROADCAST, b"hello"),
        Send(5, PEER, b"x"),  # not registered
        Send(6, BROADCAST, bytes(251)),  # above max_payload 250
        AddPeer(7, PEER, 0, 0, bytes(16)),
        AddPeer(8, PEER, 0, AddPeer.FLAG_ENCRYPT, bytes(range(16))),  # an update
        AddPeer(9, BROADCAST, 0, AddPeer.FLAG_ENCRYPT, bytes(16)),
        AddPeer(10, OTHER, 3, 0, bytes(16)),  # not the current channel
        RemovePeer(12, PEER),
        RemovePeer(13, PEER),
        # Six more encrypted peers fit (seven in all), the eighth does not.
        *(
            AddPeer(
                20 + i, bytes([2, 0, 0, 0, 1, i]), 0, AddPeer.FLAG_ENCRYPT, bytes(16)
            )
            for i in range(8)
        ),
        # 20 peers at most, the broadcast peer and the 7 encrypted ones included.
        *(
            AddPeer(40 + i, bytes([2, 0, 0, 0, 2, i]), 0, 0, bytes(16))
            for i in range(13)
        ),
        GetInfo(),
    ]
    messages, decoder, stats = run_stdio(
        host_gateway_binary,
        b"".join(m.encode() for m in script),
        "--max-payload",
        "250",
        tmp=tmp_path,
    )
    assert _clean(decoder)
    status = {
        (type(m).__name__, m.request_id): m.status
        for m in messages
        if isinstance(m, CommandResult | SendResult)
    }
    assert status.pop(("CommandResult", 1)) == Status.OK
    assert status.pop(("CommandResult", 2)) == Status.INVALID_ARGUMENT
    assert status.pop(("CommandResult", 3)) == Status.INVALID_ARGUMENT
    assert status.pop(("SendResult", 4)) == Status.OK
    assert status.pop(("SendResult", 5)) == Status.UNKNOWN_PEER
    assert status.pop(("SendResult", 6)) == Status.INVALID_ARGUMENT
    assert status.pop(("CommandResult", 7)) == Status.OK
    assert status.pop(("CommandResult", 8)) == Status.OK
    assert status.pop(("CommandResult", 9)) == Status.INVALID_ARGUMENT
    assert status.pop(("CommandResult", 10)) == Status.INVALID_ARGUMENT
    assert status.pop(("CommandResult", 12)) == Status.OK
    assert status.pop(("CommandResult", 13)) == Status.UNKNOWN_PEER
    encrypted = [status.pop(("CommandResult", 20 + i)) for i in range(8)]
    assert encrypted == [Status.OK] * 7 + [Status.PEER_TABLE_FULL]
    plain = [status.pop(("CommandResult", 40 + i)) for i in range(13)]
    assert plain == [Status.OK] * 12 + [Status.PEER_TABLE_FULL]
    assert status == {}
    hellos = of_type(messages, Hello)
    assert [h.channel for h in hellos] == [1, 6]  # boot, then GET_INFO
    assert hellos[0].max_payload == 250
    assert not hellos[0].capabilities & Capability.ESPNOW_V2
    assert (stats["tx_packets"], stats["tx_failed"]) == (3, 2)
    assert stats["host_frames_bad"] == 0


def test_peer_list_and_pmk(host_gateway_binary: Path, tmp_path: Path) -> None:
    """GET_PEERS lists the radio's table as ADD_PEER and REMOVE_PEER left it; SET_PMK
    replaces the built-in key."""
    script: list[Message] = [
        GetPeers(1),
        AddPeer(2, PEER, 0, 0, bytes(16)),
        AddPeer(3, OTHER, 1, AddPeer.FLAG_ENCRYPT, bytes(range(16))),
        AddPeer(4, GROUP, 0, 0, bytes(16)),
        GetPeers(5),
        AddPeer(6, PEER, 0, AddPeer.FLAG_ENCRYPT, bytes(16)),  # an update
        RemovePeer(7, OTHER),
        RemovePeer(8, OTHER),  # gone already: the table stays as it is
        SetPmk(11, PMK),
        GetPeers(12),
    ]
    messages, decoder, stats = run_stdio(
        host_gateway_binary, b"".join(m.encode() for m in script), tmp=tmp_path
    )
    assert _clean(decoder)
    lists = {m.request_id: m for m in of_type(messages, PeerList)}
    assert sorted(lists) == [1, 5, 12]
    assert {(m.max_peers, m.max_encrypted) for m in lists.values()} == {(20, 7)}
    broadcast = PeerEntry(BROADCAST, 0, 0)
    assert lists[1].peers == (broadcast,)
    assert sorted(lists[5].peers, key=lambda p: p.mac) == sorted(
        (
            broadcast,
            PeerEntry(PEER, 0, 0),
            PeerEntry(OTHER, 1, PeerEntry.FLAG_ENCRYPT),
            PeerEntry(GROUP, 0, 0),
        ),
        key=lambda p: p.mac,
    )
    assert sorted(lists[12].peers, key=lambda p: p.mac) == sorted(
        (broadcast, PeerEntry(PEER, 0, PeerEntry.FLAG_ENCRYPT), PeerEntry(GROUP, 0, 0)),
        key=lambda p: p.mac,
    )
    status = {m.request_id: m.status for m in of_type(messages, CommandResult)}
    assert status == {
        2: Status.OK,
        3: Status.OK,
        4: Status.OK,
        6: Status.OK,
        7: Status.OK,
        8: Status.UNKNOWN_PEER,
        11: Status.OK,
    }
    pmk_result = next(m for m in of_type(messages, CommandResult) if m.request_id == 11)
    assert pmk_result.command == SetPmk.TYPE
    assert stats["radio_pmk"] == int.from_bytes(PMK, "big")
    assert stats["radio_pmk_sets"] == 1
    assert stats["radio_peers"] == 3
    assert stats["host_frames_bad"] == 0


def test_hal_without_1_1_hooks(host_gateway_binary: Path, tmp_path: Path) -> None:
    """``--hal-1.0``: HELLO without PEER_LIST and SET_PMK; both refused, once each."""
    script = [GetInfo(), GetPeers(1), SetPmk(2, PMK), Ping(3)]
    messages, decoder, stats = run_stdio(
        host_gateway_binary,
        b"".join(m.encode() for m in script),
        "--hal-1.0",
        tmp=tmp_path,
    )
    assert _clean(decoder)
    hellos = of_type(messages, Hello)
    assert len(hellos) == 2  # boot, GET_INFO
    assert {(h.protocol_minor, h.capabilities) for h in hellos} == {
        (1, CAPABILITIES_1_0)
    }
    assert not of_type(messages, PeerList)
    assert of_type(messages, CommandResult) == [
        CommandResult(1, GetPeers.TYPE, Status.NOT_SUPPORTED),
        CommandResult(2, SetPmk.TYPE, Status.NOT_SUPPORTED),
    ]
    assert of_type(messages, Pong) == [Pong(3)]
    assert stats["radio_pmk"] == int.from_bytes(BUILT_IN_PMK, "big")
    assert stats["radio_pmk_sets"] == 0
    assert stats["host_frames_bad"] == 0


def test_radio_file_becomes_packets(host_gateway_binary: Path, tmp_path: Path) -> None:
    """Frames from the radio come out as PACKETs: fields, order, sequence from 0."""
    rng = random.Random(7)
    sizes = [0, 1, 250, MAX_PAYLOAD, *(rng.randrange(0, 300) for _ in range(296))]
    sent = [
        (
            bytes([0x0A, 0, 0, 0, i >> 8, i & 0xFF]),
            rng.randbytes(size),
            rng.randrange(-100, -20),
            rng.randrange(-100, -80),
            rng.randrange(0, 32),
        )
        for i, size in enumerate(sizes)
    ]
    radio = b"".join(
        record(src, payload, rssi=rssi, noise_floor=noise, rate=rate, dst=PEER)
        for src, payload, rssi, noise, rate in sent
    )
    radio += record(OTHER, b"elsewhere", channel=5)  # the gateway is on channel 1
    radio += b"\x01\x02\x03"  # not a record
    messages, decoder, stats = run_stdio(
        host_gateway_binary, b"", radio=radio, tmp=tmp_path
    )
    assert _clean(decoder)
    packets = of_type(messages, Packet)
    assert [p.seq for p in packets] == list(range(len(sent)))
    for packet, (src, payload, rssi, noise, rate) in zip(packets, sent, strict=True):
        assert (packet.src, packet.dst, packet.payload) == (src, PEER, payload)
        assert (packet.rssi, packet.noise_floor, packet.rate) == (rssi, noise, rate)
        assert packet.channel == 1
    stamps = [p.timestamp_us for p in packets]
    assert stamps == sorted(stamps)
    assert stats["rx_packets"] == len(sent)
    assert stats["rx_dropped"] == 0  # the file is fed as the queue drains
    assert (stats["off_channel"], stats["bad_records"]) == (1, 1)


# ---- the pseudo-terminal and the UDP radio ---------------------------------------------


class Link:
    """The host's end of the gateway's pty, read with the host decoder."""

    def __init__(self, path: str) -> None:
        """Open the pty raw, as serialx would."""
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)  # TCSAFLUSH would drop the boot HELLO
        self.decoder = host_decoder()
        self.messages: list[Message] = []

    def write(self, *messages: Message) -> None:
        """Send commands."""
        os.write(self.fd, b"".join(m.encode() for m in messages))

    def write_raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [], 5)
            view = view[os.write(self.fd, view) :]

    def wait(
        self, condition: Callable[[list[Message]], bool], timeout: float = 10.0
    ) -> list[Message]:
        """Read until ``condition(all messages so far)`` holds (timeout: a hang guard)."""
        deadline = time.monotonic() + timeout
        while not condition(self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"gateway output so far: {self.messages[-5:]}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                self.messages += self.decoder.feed(os.read(self.fd, 65536))
        return self.messages

    def take(self) -> list[Message]:
        """Return and forget the messages read so far."""
        taken, self.messages = self.messages, []
        return taken

    def close(self) -> None:
        """Close the host's end."""
        os.close(self.fd)


def count(cls: type[Message], n: int) -> Callable[[list[Message]], bool]:
    """A wait condition: at least n messages of a type."""
    return lambda messages: len(of_type(messages, cls)) >= n


@pytest.fixture
def link(host_gateway: HostGateway) -> Iterator[Link]:
    """The host's end, after the boot HELLO (it waited in the pty)."""
    opened = Link(host_gateway.link)
    opened.wait(count(Hello, 1))
    opened.take()
    yield opened
    opened.close()


def test_burst_overflows_the_queue_and_stats_count_it(
    host_gateway: HostGateway, link: Link
) -> None:
    """A burst heard at one instant fills the 32-slot queue; the rest is dropped.

    Drops inside the gateway take no sequence number: the PACKETs stay gapless and
    STATS reports the drops.
    """
    host_gateway.radio(record(PEER, b"first"))
    link.wait(count(Packet, 1))
    host_gateway.radio(*(record(PEER, bytes([i]) * 200) for i in range(100)))
    link.write(Ping(0x1234))
    messages = link.wait(
        lambda ms: (
            len(of_type(ms, Packet)) == 1 + QUEUE_CAPACITY
            and any(isinstance(m, Stats) and m.rx_packets == 101 for m in ms)
            and count(Pong, 1)(ms)
        )
    )
    packets = of_type(messages, Packet)
    assert [p.seq for p in packets] == list(range(1 + QUEUE_CAPACITY))
    assert [p.payload[0] for p in packets[1:]] == list(range(QUEUE_CAPACITY))
    stats = [m for m in of_type(messages, Stats) if m.rx_packets == 101][-1]
    assert stats.rx_dropped == 100 - QUEUE_CAPACITY
    assert stats.queue_peak == stats.queue_capacity == QUEUE_CAPACITY
    assert of_type(messages, Pong) == [Pong(0x1234)]
    warning = next(m for m in of_type(messages, Log) if "dropped" in m.text)
    assert warning.text.startswith(f"receive queue full: {100 - QUEUE_CAPACITY} frames")
    assert _clean(link.decoder.stats)


def test_send_goes_on_air(
    host_gateway_binary: Path, tmp_path: Path, socket_enabled: None
) -> None:
    """SEND reaches the air; a unicast is acknowledged once the peer has been heard."""
    air = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    air.bind(("127.0.0.1", 0))
    air.settimeout(10)
    gateway = HostGateway.start(
        host_gateway_binary,
        "--air",
        f"127.0.0.1:{air.getsockname()[1]}",
        "--channel",
        "6",
    )
    host = Link(gateway.link)
    try:
        host.wait(count(Hello, 1))
        host.write(AddPeer(1, PEER, 0, 0, bytes(16)), Send(2, PEER, b"on"))
        host.wait(count(SendResult, 1))
        assert air.recv(4096) == record(gateway.mac, b"on", dst=PEER, rssi=0, channel=6)
        gateway.radio(record(PEER, b"I am here"))
        host.write(Send(3, PEER, b"off"))
        results = host.wait(count(SendResult, 2))
        assert [(r.request_id, r.status) for r in of_type(results, SendResult)] == [
            (2, Status.NO_ACK),
            (3, Status.OK),
        ]
        assert air.recv(4096)[18:] == b"off"
    finally:
        host.close()
        air.close()
        gateway.stop()


def test_reboot_says_hello_and_restarts_the_sequence(
    host_gateway: HostGateway, link: Link
) -> None:
    """After a restart the gateway sends an unsolicited HELLO; seq starts from 0 again."""
    host_gateway.radio_each(record(PEER, bytes([i])) for i in range(3))
    link.wait(count(Packet, 3))
    host_gateway.reboot()
    link.wait(count(Hello, 1))
    host_gateway.radio(record(PEER, b"after"))
    messages = link.wait(count(Packet, 4))
    assert [p.seq for p in of_type(messages, Packet)] == [0, 1, 2, 0]
    hello_at = next(i for i, m in enumerate(messages) if isinstance(m, Hello))
    assert isinstance(messages[-1], Packet)
    assert hello_at < len(messages) - 1


def test_reboot_forgets_peers_and_key(host_gateway: HostGateway, link: Link) -> None:
    """A restart loses what the host set up: the table is the broadcast entry again."""
    link.write(AddPeer(1, PEER, 0, 0, bytes(16)), SetPmk(2, PMK), GetPeers(3))
    before = of_type(link.wait(count(PeerList, 1)), PeerList)[0]
    assert {p.mac for p in before.peers} == {BROADCAST, PEER}
    host_gateway.reboot()
    link.wait(count(Hello, 1))
    link.write(GetPeers(4))
    after = of_type(link.wait(count(PeerList, 2)), PeerList)[-1]
    assert after == PeerList(4, 20, 7, (PeerEntry(BROADCAST, 0, 0),))
    host_gateway.stop()
    assert host_gateway.exit_radio["pmk"] == BUILT_IN_PMK.hex()


def test_random_input_never_breaks_the_output(
    host_gateway: HostGateway, link: Link
) -> None:
    """Garbage, damaged and truncated commands: the gateway answers the good ones,
    counts the rest, and never writes a frame the host would reject."""
    rng = random.Random(11)
    good = [Ping(i) for i in range(200)]
    chunks = []
    for ping in good:
        frame = ping.encode()
        damaged = bytearray(frame)
        damaged[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
        chunks += [
            rng.randbytes(rng.randrange(0, 40)),
            bytes(damaged),
            frame[: rng.randrange(1, len(frame))],
            rng.choice([b"\xe5", b"\xe5\xa7", b""]),
            frame,
        ]
    link.write_raw(b"".join(chunks))
    time.sleep(0.3)  # a partial frame at the end is given up after 250 ms of silence
    link.write(Ping(0xFFFF))
    messages = link.wait(lambda ms: Pong(0xFFFF) in ms)
    answered = {m.request_id for m in of_type(messages, Pong)}
    # (A cut frame followed by a byte equal to the one it lost is whole again: random
    # streams may answer a PING twice, and that is right.)
    # Fed at once on stdin the same bytes get all 200 answered; on the pty a pause of
    # the writer longer than 250 ms would make the gateway give up the frame it holds.
    assert len(answered) >= len(good) - 3
    link.write(GetInfo())
    link.wait(count(Hello, 1))
    stats = link.wait(lambda ms: any(isinstance(m, Stats) for m in ms[-3:]))
    assert [m for m in stats if isinstance(m, Stats)][-1].host_frames_bad >= len(good)
    assert _clean(link.decoder.stats)
    assert link.decoder.stats.malformed == link.decoder.stats.unknown_types == 0


def test_random_input_on_stdin_is_deterministic(
    host_gateway_binary: Path, tmp_path: Path
) -> None:
    """The same damaged stream on stdin: every good PING is answered, every damaged or
    truncated frame counted, and the output is flawless."""
    rng = random.Random(11)
    stream = b""
    frames_damaged = 0
    for i in range(500):
        frame = Ping(i).encode()
        damaged = bytearray(frame)
        at = rng.randrange(len(frame))
        damaged[at] ^= 1 << rng.randrange(8)
        frames_damaged += at >= 2  # with its SOF damaged it is no frame at all
        cut = rng.randrange(6, len(frame) - 1)  # not the last byte: see above
        stream += bytes(damaged) + frame[:cut] + frame
    messages, decoder, stats = run_stdio(host_gateway_binary, stream, tmp=tmp_path)
    assert _clean(decoder)
    assert [m.request_id for m in of_type(messages, Pong)] == list(range(500))
    # Each damaged frame is one bad frame; a truncated one is rejected by its CRC,
    # which then spans into the good frame behind it.
    assert stats["host_frames_bad"] == frames_damaged + 500
