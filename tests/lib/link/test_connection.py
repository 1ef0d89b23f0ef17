"""The gateway connection against the simulator on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import dataclasses
from pathlib import Path
import random

import pytest

from espnowgw.connection import READ_SIZE, is_local_path, CommandFailedError, ConnectError, ConnectErrorReason, GatewayBusyError, GatewayConnection, GatewayTimeoutError, LinkConfig, LinkState, NotConnectedError, probe
from espnowgw.mac import BROADCAST
from espnowgw.messages import PROTOCOL_MINOR, AddPeer, Capability, Hello, Log, LogLevel, Packet, PeerEntry, Send, SetPmk, Stats, Status
from devtools.simulator import CAPABILITIES_1_0, PtyGateway, SimulatorConfig

from .conftest import FAST, Recorder

type Factory = Callable[..., GatewayConnection]


async def test_hello_handshake(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    conn = make_connection(gateway.url)
    hello = await conn.connect()
    assert hello.mac == gateway.config.mac
    assert hello.firmware == "sim-1.0.0"
    assert hello.capabilities & Capability.SEND
    assert conn.info == hello
    assert conn.connected
    assert recorder.states == [LinkState.CONNECTING, LinkState.CONNECTED]
    await conn.close()
    assert conn.state is LinkState.CLOSED
    # The port is released: an exclusive open succeeds again.
    assert (await probe(gateway.url)).mac == gateway.config.mac


async def test_stream_10000_frames_without_loss(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    conn = make_connection(gateway.url)
    await conn.connect()
    for _ in range(20):
        gateway.gateway.emit_traffic(500)
        await gateway.drain()
    await recorder.wait_for(lambda: len(recorder.packets) >= 10_000)
    seqs = [p.seq for p in recorder.packets]
    assert seqs == list(range(10_000))
    assert all(len(p.payload) == 250 for p in recorder.packets)
    assert conn.stats.packets == 10_000
    assert conn.stats.packets_lost == 0
    assert gateway.gateway.stats.rx_dropped == 0
    decoder = conn.stats.decoder
    assert (decoder.crc_errors, decoder.header_errors, decoder.bytes_skipped) == (
        0,
        0,
        0,
    )


async def test_corrupted_bytes_lose_only_the_damaged_frames(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    conn = make_connection(gateway.url)
    await conn.connect()
    sim = gateway.gateway
    sent_payloads: list[bytes] = []
    sim.config.corrupt_rate = 0.0005
    for index in range(2000):
        payload = index.to_bytes(4, "little") * 8
        sent_payloads.append(payload)
        sim.packet(b"\x02" * 6, payload)
        if index % 200 == 0:
            await gateway.drain()
    sim.config.corrupt_rate = 0.0
    sim.packet(b"\x02" * 6, b"last")  # a clean frame ends the gap accounting
    await gateway.drain()
    await recorder.wait_for(
        lambda: bool(recorder.packets) and recorder.packets[-1].payload == b"last"
    )
    damaged = sim.stats.corrupted_frames
    assert damaged > 5
    assert len(recorder.packets) == 2001 - damaged
    assert conn.stats.packets_lost == damaged
    # Whatever arrived is exactly what was sent, in order.
    delivered = [p.payload for p in recorder.packets[:-1]]
    assert delivered == [sent_payloads[p.seq] for p in recorder.packets[:-1]]
    decoder = conn.stats.decoder
    # A damaged SOF is just skipped; any other damage is also caught by a check.
    assert decoder.crc_errors + decoder.header_errors + decoder.oversize <= damaged
    assert decoder.bytes_skipped >= damaged


async def test_unplug_and_replug(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    errors: list[ConnectError] = []
    conn = make_connection(gateway.url)
    conn._on_connect_error = errors.append
    await conn.connect()
    runner = asyncio.create_task(conn.run())
    gateway.unplug()
    await recorder.wait_for(lambda: conn.state is not LinkState.CONNECTED)
    assert conn.stats.disconnects == 1
    assert not Path(gateway.url).exists()
    # While unplugged, attempts fail (port not found), are reported, and back off.
    await recorder.wait_for(lambda: conn.stats.connect_failures >= 2)
    assert {e.reason for e in errors} == {ConnectErrorReason.NOT_FOUND}
    gateway.plug()  # a new pty behind the same link
    conn.reconnect_now()
    await recorder.wait_for(lambda: conn.state is LinkState.CONNECTED)
    assert conn.stats.connects == 2
    gateway.gateway.emit_traffic(10)
    await recorder.wait_for(lambda: len(recorder.packets) >= 10)
    assert [p.seq for p in recorder.packets] == list(range(10))
    await conn.close()
    await asyncio.wait_for(runner, 5)


async def test_replug_is_noticed_without_usb_events(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    """A device path that comes back ends the backoff: no USB event, no long wait."""
    slow = dataclasses.replace(
        FAST, reconnect_min=3600.0, reconnect_max=3600.0, presence_poll=0.02
    )
    conn = make_connection(gateway.url, slow)
    await conn.connect()
    runner = asyncio.create_task(conn.run())
    gateway.unplug()
    await recorder.wait_for(lambda: conn.stats.connect_failures >= 1)
    assert conn.state is not LinkState.CONNECTED  # and now waits an hour...
    gateway.plug()
    # ...unless the path is seen again (the timeout only guards against a hang).
    await recorder.wait_for(lambda: conn.state is LinkState.CONNECTED, timeout=10)
    assert conn.stats.presence_wakeups == 1
    assert conn.stats.connects == 2
    await conn.close()
    await asyncio.wait_for(runner, 5)


async def test_presence_is_not_watched_for_urls_or_present_paths(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    """Only a missing path that comes back wakes the backoff."""
    assert not is_local_path("socket://127.0.0.1:1")
    assert not is_local_path("esphome-hass://esphome/x?port_name=y")
    assert is_local_path(gateway.url)
    slow = dataclasses.replace(
        FAST, reconnect_min=3600.0, reconnect_max=3600.0, presence_poll=0.01
    )
    # A path that stays missing: polled, never woken.
    conn = make_connection(str(Path(gateway.url).with_name("nothing-here")), slow)
    runner = asyncio.create_task(conn.run())
    await recorder.wait_for(lambda: conn.stats.connect_failures >= 1)
    await asyncio.sleep(0.1)  # ten polls of a path that stays missing
    assert conn.stats.presence_wakeups == 0
    assert conn.stats.connect_failures == 1  # still in its hour-long backoff
    await conn.close()
    await asyncio.wait_for(runner, 5)


async def test_run_connects_by_itself_and_stops_on_close(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    conn = make_connection(gateway.url)
    runner = asyncio.create_task(conn.run())
    await recorder.wait_for(lambda: conn.connected)
    await conn.close()
    await asyncio.wait_for(runner, 5)
    assert runner.done()
    with pytest.raises(NotConnectedError):
        await conn.connect()


async def test_hello_timeout(tmp_path: Path, make_connection: Factory) -> None:
    pty = PtyGateway(SimulatorConfig(hello_on_boot=False), tmp_path / "gw")
    pty.plug()
    pty.gateway.mute = True
    try:
        conn = make_connection(pty.url, dataclasses.replace(FAST, hello_timeout=0.05))
        with pytest.raises(ConnectError) as err:
            await conn.connect()
        assert err.value.reason is ConnectErrorReason.NO_HELLO
        assert conn.state is LinkState.DISCONNECTED
        assert conn.stats.connect_failures == 1
        # The port was released.
        pty.gateway.mute = False
        assert (await probe(pty.url)).firmware == "sim-1.0.0"
    finally:
        pty.close()


async def test_unsupported_protocol_version(
    tmp_path: Path, make_connection: Factory
) -> None:
    pty = PtyGateway(SimulatorConfig(protocol_major=2), tmp_path / "gw")
    pty.plug()
    try:
        with pytest.raises(ConnectError) as err:
            await make_connection(pty.url).connect()
        assert err.value.reason is ConnectErrorReason.UNSUPPORTED_VERSION
        assert err.value.hello is not None
        assert err.value.hello.protocol_major == 2
    finally:
        pty.close()


async def test_port_not_found(tmp_path: Path, make_connection: Factory) -> None:
    with pytest.raises(ConnectError) as err:
        await make_connection(str(tmp_path / "nothing")).connect()
    assert err.value.reason is ConnectErrorReason.NOT_FOUND


async def test_reads_are_sized_for_frames_not_for_megabytes(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    """A serial port is read 16 KiB at a time (not serialx's 256 KiB): see READ_SIZE."""
    conn = make_connection(gateway.url)
    await conn.connect()
    assert conn._transport is not None
    assert conn._transport.max_size == READ_SIZE  # type: ignore[attr-defined]
    gateway.gateway.emit_traffic(200)  # 50 KB of frames: several reads, none lost
    await recorder.wait_for(lambda: len(recorder.packets) >= 200)
    assert [p.seq for p in recorder.packets] == list(range(200))


async def test_port_busy(gateway: PtyGateway, make_connection: Factory) -> None:
    first = make_connection(gateway.url)
    await first.connect()
    with pytest.raises(ConnectError) as err:
        await make_connection(gateway.url).connect()
    assert err.value.reason is ConnectErrorReason.BUSY
    assert first.connected


async def test_port_released_while_retrying_busy(
    gateway: PtyGateway, make_connection: Factory
) -> None:
    """A close still under way when the next open comes: that open waits for it."""
    first = make_connection(gateway.url)
    await first.connect()
    patient = make_connection(
        gateway.url, dataclasses.replace(FAST, busy_retry=30.0)
    )
    opening = asyncio.create_task(patient.connect())
    await asyncio.sleep(0)  # the first open attempt finds the port locked...
    while patient.stats.busy_retries == 0:
        await asyncio.sleep(0.01)
    await first.close()  # ...and the retry after the release succeeds
    hello = await asyncio.wait_for(opening, 10)
    assert hello.mac == gateway.config.mac
    assert patient.connected


async def test_unknown_scheme_cannot_open(make_connection: Factory) -> None:
    with pytest.raises(ConnectError) as err:
        await make_connection("nonsense://device").connect()
    assert err.value.reason is ConnectErrorReason.OPEN_FAILED


async def test_dead_link_detected(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    config = dataclasses.replace(FAST, ping_interval=0.05, dead_after=0.5)
    conn = make_connection(gateway.url, config)
    await conn.connect()
    await recorder.wait_for(lambda: conn.stats.pongs >= 2)
    assert conn.stats.rtt_ms is not None
    gateway.gateway.mute = True  # the gateway hangs: the port stays open, nothing comes
    await recorder.wait_for(lambda: conn.state is LinkState.DISCONNECTED)
    assert conn.stats.dead_links == 1
    assert conn.stats.disconnects == 1
    # The port was let go of, so the next attempt can open it again.
    gateway.gateway.mute = False
    await conn.connect()
    assert conn.connected


async def test_commands_and_results(
    gateway: PtyGateway, make_connection: Factory
) -> None:
    conn = make_connection(gateway.url)
    await conn.connect()
    peer = gateway.gateway.peers[0].mac
    with pytest.raises(CommandFailedError) as err:
        await conn.send(peer, b"hello")  # unicast needs a registered peer
    assert err.value.status == Status.UNKNOWN_PEER
    await conn.add_peer(peer)
    await conn.send(peer, b"hello")
    await conn.send(BROADCAST, b"all")
    nobody = b"\x01\x02\x03\x04\x05\x06"
    await conn.add_peer(nobody)
    with pytest.raises(CommandFailedError) as err:
        await conn.send(nobody, b"nobody")  # registered, but out of range
    assert err.value.status == Status.NO_ACK
    assert err.value.status_name == "no_ack"
    with pytest.raises(CommandFailedError):
        await conn.send(peer, bytes(1471))
    await conn.set_channel(6)
    assert conn.info is not None
    assert conn.info.channel == 6
    assert gateway.gateway.channel == 6
    with pytest.raises(CommandFailedError):
        await conn.set_channel(15)
    await conn.add_peer(peer, lmk=bytes(range(16)))
    await conn.remove_peer(peer)
    with pytest.raises(CommandFailedError) as err:
        await conn.remove_peer(peer)
    assert err.value.status == Status.UNKNOWN_PEER
    with pytest.raises(CommandFailedError):
        await conn.add_peer(peer, lmk=b"short")
    assert await conn.ping() >= 0
    sent = [m for m in gateway.gateway.received if isinstance(m, Send)]
    assert [m.payload for m in sent] == [b"hello", b"hello", b"all", b"nobody"]


async def test_peer_table_and_primary_key(
    gateway: PtyGateway, make_connection: Factory
) -> None:
    """Protocol 1.1: the gateway lists its radio peers and takes a PMK."""
    conn = make_connection(gateway.url)
    hello = await conn.connect()
    assert (hello.protocol_minor, PROTOCOL_MINOR) == (1, 1)
    assert conn.supports(Capability.PEER_LIST)
    sim = gateway.gateway
    peer = sim.peers[0].mac
    listed = await conn.get_peers()
    assert (listed.max_peers, listed.max_encrypted) == (20, 7)
    assert listed.peers == (PeerEntry(BROADCAST, 0, 0),)  # registered at boot
    await conn.set_pmk(b"pmk1234567890123")
    assert sim.pmk == b"pmk1234567890123"
    await conn.add_peer(peer, lmk=bytes(16))
    listed = await conn.get_peers()
    assert [(p.mac, p.encrypted) for p in listed.peers] == [
        (BROADCAST, False),
        (peer, True),
    ]
    with pytest.raises(CommandFailedError) as err:
        await conn.set_pmk(b"short")
    assert err.value.status == Status.INVALID_ARGUMENT


async def test_peer_table_is_bounded(gateway: PtyGateway, make_connection: Factory) -> None:
    """20 entries in all (the broadcast entry is one), 7 of them encrypted."""
    conn = make_connection(gateway.url)
    await conn.connect()
    macs = [bytes([2, 0, 0, 0, 0, i]) for i in range(20)]
    for mac in macs[:7]:
        await conn.add_peer(mac, lmk=bytes(16))
    with pytest.raises(CommandFailedError) as err:
        await conn.add_peer(macs[7], lmk=bytes(16))
    assert err.value.status == Status.PEER_TABLE_FULL
    await conn.add_peer(macs[0], lmk=bytes(range(16)))  # an update takes no new room
    for mac in macs[7:19]:
        await conn.add_peer(mac)
    with pytest.raises(CommandFailedError) as err:
        await conn.add_peer(macs[19])
    assert err.value.status == Status.PEER_TABLE_FULL
    with pytest.raises(CommandFailedError) as err:
        await conn.add_peer(BROADCAST, lmk=bytes(16))
    assert err.value.status == Status.INVALID_ARGUMENT
    await conn.remove_peer(macs[8])
    await conn.add_peer(macs[19])
    assert len((await conn.get_peers()).peers) == 20


async def test_simulated_radio_answers_as_scripted(
    gateway: PtyGateway, make_connection: Factory
) -> None:
    conn = make_connection(gateway.url, dataclasses.replace(FAST, command_timeout=0.2))
    await conn.connect()
    sim = gateway.gateway
    peer = sim.peers[0].mac
    await conn.add_peer(peer)
    sim.script_sends("no_ack", "busy", "error", "ack")
    statuses = []
    for _ in range(4):
        try:
            await conn.send(peer, b"x")
            statuses.append(Status.OK)
        except CommandFailedError as err:
            statuses.append(Status(err.status))
    assert statuses == [Status.NO_ACK, Status.BUSY, Status.ERROR, Status.OK]
    sim.script_sends("drop")
    with pytest.raises(GatewayTimeoutError):
        await conn.send(peer, b"lost")
    sim.script_sends("hold")
    held = asyncio.create_task(conn.send(peer, b"later"))
    await wait_for(lambda: len(sim.held) == 1)
    assert not held.done()
    assert sim.release_held() == 1
    await held  # answered when released: acknowledged
    sim.in_range.discard(peer)
    with pytest.raises(CommandFailedError) as err:
        await conn.send(peer, b"gone")
    assert err.value.status == Status.NO_ACK
    sim.command_script.extend([Status.BUSY, None])
    with pytest.raises(CommandFailedError) as err:
        await conn.set_channel(3)
    assert err.value.status == Status.BUSY
    with pytest.raises(GatewayTimeoutError):
        await conn.set_channel(3)
    assert sim.stats.tx_failed == 4  # no ACK twice, busy, error (the drop: no answer)


async def test_restart_loses_the_radio_state(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    conn = make_connection(gateway.url)
    await conn.connect()
    sim = gateway.gateway
    await conn.set_channel(6)
    await conn.add_peer(sim.peers[0].mac)
    sim.boot()  # a restart: it says hello again
    await recorder.wait_for(lambda: conn.stats.gateway_restarts == 1)
    assert conn.info is not None
    assert conn.info.channel == 1
    assert [p.mac for p in (await conn.get_peers()).peers] == [BROADCAST]


async def test_protocol_1_0_gateway(tmp_path: Path, make_connection: Factory) -> None:
    """A 1.0 gateway: the host never sends it a 1.1 command."""
    pty = PtyGateway(
        SimulatorConfig(protocol_minor=0, capabilities=int(CAPABILITIES_1_0)),
        tmp_path / "gw",
    )
    pty.plug()
    try:
        conn = make_connection(pty.url)
        hello = await conn.connect()
        assert hello.protocol_minor == 0
        for call in (conn.get_peers(), conn.set_pmk(bytes(16))):
            with pytest.raises(CommandFailedError) as err:
                await call
            assert err.value.status == Status.NOT_SUPPORTED
        await conn.add_peer(BROADCAST)  # 1.0 commands work as before
        assert [type(m) for m in pty.gateway.received][1:] == [AddPeer]
        # Were one sent anyway, a 1.0 gateway would skip it without an answer.
        pty.gateway.receive(SetPmk(1, bytes(16)).encode())
    finally:
        pty.close()


async def wait_for(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition()`` holds (a hang guard, not a threshold)."""
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.001)


async def test_capabilities_are_respected(
    tmp_path: Path, make_connection: Factory
) -> None:
    pty = PtyGateway(
        SimulatorConfig(capabilities=int(Capability.STATS)), tmp_path / "gw"
    )
    pty.plug()
    try:
        conn = make_connection(pty.url)
        await conn.connect()
        for call in (
            conn.send(BROADCAST, b"x"),
            conn.set_channel(3),
            conn.remove_peer(BROADCAST),
        ):
            with pytest.raises(CommandFailedError) as err:
                await call
            assert err.value.status == Status.NOT_SUPPORTED
        assert pty.gateway.received == [pty.gateway.received[0]]  # only GET_INFO
    finally:
        pty.close()


async def test_command_timeout_and_not_connected(
    gateway: PtyGateway, make_connection: Factory
) -> None:
    conn = make_connection(gateway.url, dataclasses.replace(FAST, command_timeout=0.05))
    with pytest.raises(NotConnectedError):
        await conn.ping()
    await conn.connect()
    gateway.gateway.mute = True
    with pytest.raises(GatewayTimeoutError):
        await conn.ping()
    assert not conn._pending


async def test_pending_commands_fail_when_the_link_drops(
    gateway: PtyGateway, make_connection: Factory
) -> None:
    conn = make_connection(gateway.url)
    await conn.connect()
    gateway.gateway.mute = True
    pending = asyncio.create_task(conn.ping())
    await asyncio.sleep(0)
    gateway.unplug()
    with pytest.raises(NotConnectedError):
        await pending


async def test_outgoing_queue_is_bounded(
    gateway: PtyGateway, make_connection: Factory
) -> None:
    config = dataclasses.replace(
        FAST, max_pending=400, max_queued_frames=4, command_timeout=30
    )
    conn = make_connection(gateway.url, config)
    await conn.connect()
    peer = gateway.gateway.peers[0].mac
    await conn.add_peer(peer)
    loop = asyncio.get_running_loop()
    assert gateway._master is not None
    loop.remove_reader(gateway._master)  # the gateway stops reading: the link stalls
    calls = [asyncio.create_task(conn.send(peer, bytes(1400))) for _ in range(300)]
    await asyncio.sleep(0.05)
    busy = [
        t for t in calls if t.done() and isinstance(t.exception(), GatewayBusyError)
    ]
    assert busy, "a stalled link must refuse commands once the queue is full"
    assert conn.stats.send_queue_full == len(busy)
    assert conn.stats.send_queue_peak == 4
    loop.add_reader(
        gateway._master, gateway._readable
    )  # it reads again: the rest completes
    results = await asyncio.gather(*calls, return_exceptions=True)
    delivered = [r for r in results if r is None]
    assert len(delivered) == 300 - len(busy)


async def test_unsolicited_hello_and_stats_and_logs(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    conn = make_connection(gateway.url)
    await conn.connect()
    sim = gateway.gateway
    sim.emit_traffic(3)
    sim.boot()  # the gateway restarts: hello again, sequence from 0
    sim.emit_traffic(2)
    sim.send(dataclasses.replace(sim.gateway_stats(), uptime_s=12))
    sim.log(LogLevel.WARNING, "queue almost full")
    await recorder.wait_for(lambda: any(isinstance(m, Log) for m in recorder.messages))
    assert [p.seq for p in recorder.packets] == [0, 1, 2, 0, 1]
    assert conn.stats.packets_lost == 0
    assert conn.stats.seq_resets == 0
    assert conn.stats.gateway_restarts == 1
    assert conn.stats.gateway_logs == 1
    assert isinstance(conn.gateway_stats, Stats)
    assert conn.gateway_stats.uptime_s == 12
    assert [type(m) for m in recorder.messages] == [Hello, Stats, Log]


async def test_sequence_gaps_and_resets_are_counted(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    conn = make_connection(gateway.url)
    await conn.connect()
    sim = gateway.gateway
    for seq in (0xFFFFFFFE, 0xFFFFFFFF, 0, 1, 5, 2):
        sim.seq = seq
        sim.packet(b"\x02" * 6, b"x")
    await recorder.wait_for(lambda: len(recorder.packets) == 6)
    assert (
        conn.stats.packets_lost == 3
    )  # 2, 3 and 4; the wrap loses nothing; 5 -> 2 resets
    assert conn.stats.seq_resets == 1


async def test_callback_errors_do_not_break_the_link(gateway: PtyGateway) -> None:
    calls: list[int] = []

    def broken(packet: object) -> None:
        calls.append(1)
        raise RuntimeError("bug in a consumer")

    conn = GatewayConnection(
        gateway.url, on_packet=broken, on_message=broken, config=FAST
    )
    try:
        await conn.connect()
        gateway.gateway.emit_traffic(5)
        gateway.gateway.log(LogLevel.INFO, "x")
        async with asyncio.timeout(10):
            while len(calls) < 6:
                await asyncio.sleep(0.01)
        assert conn.stats.callback_errors == 6
        assert conn.connected
    finally:
        await conn.close()


async def test_gateway_switching_to_unsupported_major_drops_link(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    conn = make_connection(gateway.url)
    await conn.connect()
    gateway.gateway.config.protocol_major = 9
    gateway.gateway.boot()
    await recorder.wait_for(lambda: conn.state is LinkState.DISCONNECTED)


def test_backoff_is_capped_exponential_with_jitter() -> None:
    config = LinkConfig(reconnect_min=1.0, reconnect_max=30.0)
    conn = GatewayConnection(
        "/dev/null", on_packet=lambda p: None, config=config, rng=random.Random(1)
    )
    delays = [conn.backoff_delay(n) for n in range(1, 12)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(30.0, 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 30.0
    assert len(set(delays)) == len(delays)  # jittered
    assert conn.backoff_delay(10_000) <= 30.0


async def test_close_is_idempotent_and_safe_without_connect() -> None:
    conn = GatewayConnection("/dev/null", on_packet=lambda p: None)
    await conn.close()
    await conn.close()
    assert conn.state is LinkState.CLOSED
    with contextlib.suppress(NotConnectedError):
        await conn.ping()


async def test_frame_behind_a_truncated_one_arrives_when_the_line_goes_quiet(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    config = dataclasses.replace(FAST, partial_frame_timeout=0.02)
    conn = make_connection(gateway.url, config)
    await conn.connect()
    sim = gateway.gateway
    long_frame = Packet(b"\x02" * 6, BROADCAST, 0, 0, 1, 0, 0, 0, bytes(1000)).encode()
    truncated = long_frame[:8]  # the rest of this frame was lost on the wire
    gateway._write(truncated)
    sim.packet(b"\x02" * 6, b"press")  # a short frame: it cannot fill the bogus length
    await recorder.wait_for(lambda: len(recorder.packets) == 1)
    assert recorder.packets[0].payload == b"press"
    assert conn.stats.decoder.stale_partials == 1


async def test_run_retries_after_a_failed_handshake(
    tmp_path: Path, make_connection: Factory, recorder: Recorder
) -> None:
    """A gateway that does not answer its first hello is retried until it does."""
    pty = PtyGateway(SimulatorConfig(hello_on_boot=False), tmp_path / "gw")
    pty.plug()
    pty.gateway.mute = True
    try:
        conn = make_connection(pty.url, dataclasses.replace(FAST, hello_timeout=0.05))
        runner = asyncio.create_task(conn.run())
        await recorder.wait_for(lambda: conn.stats.connect_failures >= 2)
        pty.gateway.mute = False
        await recorder.wait_for(lambda: conn.connected)
        await conn.close()
        await asyncio.wait_for(runner, 5)
    finally:
        pty.close()


async def test_hello_damaged_on_the_wire_is_asked_for_again(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    """A HELLO dropped by its CRC costs one ``hello_retry``, not the ``hello_timeout``."""
    sim = gateway.gateway
    sim.config.corrupt_rate = 1.0  # every frame damaged: the first answer is lost
    conn = make_connection(
        gateway.url,
        dataclasses.replace(FAST, hello_timeout=60.0, hello_retry=0.01),
    )
    connecting = asyncio.create_task(conn.connect())
    await recorder.wait_for(lambda: sim.stats.commands.get("GetInfo", 0) >= 1)
    sim.config.corrupt_rate = 0.0
    hello = await connecting
    assert hello.mac == gateway.config.mac
    assert sim.stats.corrupted_frames >= 1
    assert sim.stats.commands["GetInfo"] >= 2
    assert conn.stats.connect_failures == 0
    assert conn.stats.gateway_restarts == 0


async def test_late_answers_to_get_info_are_no_gateway_restart(
    gateway: PtyGateway, make_connection: Factory, recorder: Recorder
) -> None:
    """The HELLOs answering the handshake's other GET_INFOs are not restarts; one more is."""
    sim = gateway.gateway
    sim.hold_info = True
    conn = make_connection(
        gateway.url, dataclasses.replace(FAST, hello_timeout=60.0, hello_retry=0.01)
    )
    connecting = asyncio.create_task(conn.connect())
    await recorder.wait_for(lambda: len(sim.held) >= 3)
    sim.hold_info = False
    late = sim.release_held() - 1  # the first completes the handshake
    await connecting
    await recorder.wait_for(lambda: conn._unanswered == 0)
    assert late >= 2
    assert conn.stats.gateway_restarts == 0
    assert not [m for m in recorder.messages if isinstance(m, Hello)]
    sim.boot()  # a real restart now: its boot HELLO is one
    await recorder.wait_for(lambda: conn.stats.gateway_restarts == 1)
    assert [m for m in recorder.messages if isinstance(m, Hello)] == [sim.hello()]
