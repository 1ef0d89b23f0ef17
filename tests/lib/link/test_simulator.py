"""The gateway simulator: TCP mode, real-time traffic, unplugging, the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import sys

import pytest

from espnowgw.connection import GatewayConnection, LinkState, probe
from espnowgw.messages import Packet, Stats
from devtools.simulator import PtyGateway, SimulatorConfig, TcpGateway, run_traffic

from .conftest import FAST, Recorder

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.usefixtures("socket_enabled")
async def test_tcp_gateway(recorder: Recorder) -> None:
    server = TcpGateway(SimulatorConfig(peers=2, kinds=("json",), seed=3))
    url = await server.start()
    conn = GatewayConnection(
        url, on_packet=recorder.packet, on_state=recorder.state, config=FAST
    )
    try:
        hello = await conn.connect()
        assert hello.firmware == "sim-1.0.0"
        runner = asyncio.create_task(conn.run())
        server.gateway.emit_traffic(4)
        await server.drain()
        await recorder.wait_for(lambda: len(recorder.packets) == 4)
        assert json.loads(recorder.packets[0].payload)["battery"] == 100
        server.unplug()  # drop the host: it reconnects by itself
        await recorder.wait_for(lambda: conn.stats.disconnects == 1)
        await recorder.wait_for(lambda: conn.state is LinkState.CONNECTED)
        assert conn.stats.connects == 2
    finally:
        await conn.close()
        await server.stop()
    await asyncio.wait_for(runner, 5)


async def test_real_time_traffic_with_bursts_stats_and_unplugs(
    tmp_path: Path, recorder: Recorder
) -> None:
    config = SimulatorConfig(
        peers=4,
        rate=200.0,
        kinds=("bthome", "json", "raw"),
        button_probability=0.5,
        repeats=3,
        burst_every=0.05,
        burst_size=5,
        stats_interval=0.05,
        unplug_every=0.3,
        unplug_for=0.05,
        tick=0.005,
        seed=11,
    )
    pty = PtyGateway(config, tmp_path / "gw")
    pty.plug()
    messages: list[object] = []
    conn = GatewayConnection(
        pty.url, on_packet=recorder.packet, on_message=messages.append, config=FAST
    )
    await conn.connect()
    runner = asyncio.create_task(conn.run())
    traffic = asyncio.create_task(run_traffic(pty, duration=0.8))
    try:
        await traffic
        await recorder.wait_for(lambda: conn.connected)
    finally:
        await conn.close()
        pty.close()
        await runner
    assert conn.stats.disconnects >= 1
    assert conn.stats.connects >= 2
    assert any(isinstance(m, Stats) for m in messages)
    kinds = {p.payload[:1] for p in recorder.packets}
    assert b"\x40" in kinds  # BTHome v2 device info byte
    assert b"{" in kinds  # JSON
    # Button presses are repeated: identical payloads back to back from one peer.
    presses = [
        p
        for p in recorder.packets
        if b"press" in p.payload or p.payload.endswith(b"\x3a\x01")
    ]
    assert presses
    payloads = [p.payload for p in recorder.packets]
    assert any(
        payloads[i] == payloads[i + 1] == payloads[i + 2]
        for i in range(len(payloads) - 2)
    )


async def test_backlog_limit_drops_like_a_full_gateway_queue(tmp_path: Path) -> None:
    pty = PtyGateway(
        SimulatorConfig(backlog_limit=10_000, kinds=("raw",), raw_size=250),
        tmp_path / "gw",
    )
    pty.plug()
    try:
        pty.gateway.emit_traffic(500)  # nobody reads: the pty fills, then the backlog
        stats = pty.gateway.stats
        assert stats.rx_packets == 500
        assert 0 < stats.rx_dropped < 500
        assert (
            pty.gateway.seq == 500 - stats.rx_dropped
        )  # dropped frames use no sequence number
    finally:
        pty.close()


async def test_command_line(tmp_path: Path) -> None:
    link = tmp_path / "espnow-gw"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devtools.simulator",
        "--link",
        str(link),
        "--peers",
        "2",
        "--rate",
        "50",
        "--duration",
        "30",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert f"listening on {link}" in first
        hello = await probe(str(link))
        assert hello.firmware == "sim-1.0.0"
        packets: list[Packet] = []
        conn = GatewayConnection(str(link), on_packet=packets.append, config=FAST)
        await conn.connect()
        async with asyncio.timeout(30):
            while len(packets) < 5:
                await asyncio.sleep(0.01)
        await conn.close()
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0
    assert not link.exists()


def test_command_line_rejects_unknown_payload_kinds() -> None:
    from devtools.simulator import main

    with pytest.raises(SystemExit):
        main(["--kinds", "xml"])
