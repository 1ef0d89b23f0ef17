"""WebSocket clients for ``scripts/bench stream``, run in a process of their own.

``python -m benchmarks.stream_clients URL TOKEN MODE SECONDS [options]`` connects
the clients to a running Home Assistant and prints one JSON line with what each saw:

- ``--fast N`` clients that read everything (and acknowledge each batch in ``ours``
  mode);
- ``--capped`` one client capped at 20 packets/s (``max_rate`` in ``ours`` mode; in
  ``naive`` mode, where the server has no cap, it reads only 20 messages/s);
- ``--large`` one client asking for the largest batches: hex payloads, 2 s batches,
  a 1 MiB buffer (it reports the largest message it received);
- ``--stalled N`` clients that subscribe and then never read their socket again;
  each watches its TCP connection and reports when Home Assistant closed it.

Latency is measured from the time the simulator wrote a packet to the serial port
(the first 8 bytes of each payload) to the time the client decoded it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import AsyncIterator
import contextlib
import fcntl
import os
from pathlib import Path
import struct
import termios
import time
from typing import Any, cast

import aiohttp
import orjson

FAST_SUBSCRIPTION: dict[str, Any] = {
    "batch_interval": 100,
    "high_watermark": 512 * 1024,
    "max_rate": 5000,
    "burst": 5000,
}
CAPPED_SUBSCRIPTION: dict[str, Any] = {"max_rate": 20, "burst": 20}
LARGE_SUBSCRIPTION: dict[str, Any] = {
    "encoding": "hex",
    "batch_interval": 2000,
    "high_watermark": 1024 * 1024,
    "max_rate": 5000,
    "burst": 5000,
}


def _sent_at(payload: str, encoding: str) -> float:
    raw = (
        bytes.fromhex(payload[:16]) if encoding == "hex" else base64.b64decode(payload)
    )
    sent: float = struct.unpack_from("<d", raw)[0]
    return sent


async def _authenticate(ws: aiohttp.ClientWebSocketResponse, token: str) -> None:
    await ws.receive_json()
    await ws.send_json({"type": "auth", "access_token": token})
    answer = await ws.receive_json()
    if answer.get("type") != "auth_ok":
        raise RuntimeError(answer)


async def events(
    ws: aiohttp.ClientWebSocketResponse, seconds: float, result: dict[str, Any]
) -> AsyncIterator[tuple[float, dict[str, Any]]]:
    """The events ``ws`` receives for ``seconds``: (arrival time, event) each.

    Counts the messages and the largest one in ``result``, and notes there when the
    server closed the connection.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(ws.receive(), remaining)
        except TimeoutError:
            return
        if message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ):
            result["closed_by_server"] = True
            return
        now = time.time()
        result["messages"] += 1
        result["largest_message"] = max(result["largest_message"], len(message.data))
        data = orjson.loads(message.data)
        for item in data if isinstance(data, list) else [data]:
            if item.get("type") == "event":
                yield now, item["event"]


async def ack(ws: aiohttp.ClientWebSocketResponse, msg_id: int, batch: int) -> None:
    """Acknowledge the batches of subscription 1 up to ``batch``."""
    await ws.send_json(
        {
            "id": msg_id,
            "type": "espnow_gateway/ack_packets",
            "subscription": 1,
            "batch": batch,
        }
    )


async def reader(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    mode: str,
    seconds: float,
    *,
    subscription: dict[str, Any],
    naive_rate: float | None = None,
) -> dict[str, Any]:
    """A client that reads (everything, or ``naive_rate`` messages/s in naive mode)."""
    result: dict[str, Any] = {
        "received": 0,
        "dropped_reported": 0,
        "latencies": [],
        "closed_by_server": False,
        "statuses": [],
        "largest_message": 0,
        "messages": 0,
    }
    encoding = subscription.get("encoding", "base64") if mode == "ours" else "base64"
    ws = await session.ws_connect(f"{url}/api/websocket", max_msg_size=0)
    await _authenticate(ws, token)
    if mode == "ours":
        subscribe = {"id": 1, "type": "espnow_gateway/subscribe_packets"}
        subscribe |= subscription
    else:
        subscribe = {"id": 1, "type": "naive_stream/subscribe"}
    await ws.send_json(subscribe)
    next_id = 2
    latencies = result["latencies"]
    try:
        async for now, event in events(ws, seconds, result):
            if mode == "naive":
                result["received"] += 1
                latencies.append(now - _sent_at(event["payload"], encoding))
                if naive_rate:
                    await asyncio.sleep(1 / naive_rate)
                continue
            result["dropped_reported"] += event.get("dropped", 0)
            if "status" in event:
                result["statuses"].append(event["status"])
            if "batch" in event:
                packets = event["packets"]
                result["received"] += len(packets)
                for packet in packets:
                    latencies.append(now - _sent_at(packet["payload"], encoding))
                await ack(ws, next_id, event["batch"])
                next_id += 1
    finally:
        await ws.close()
    return result


async def stalled(
    url: str, token: str, mode: str, seconds: float, stall_timeout: float | None
) -> dict[str, Any]:
    """Subscribe, then never read again; watch when Home Assistant closes the socket."""
    host, port = url.removeprefix("http://").split(":")
    reader_, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /api/websocket HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader_.readuntil(b"\r\n\r\n")

    async def read_frame() -> dict[str, Any]:
        head = await reader_.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack(">H", await reader_.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", await reader_.readexactly(8))[0]
        payload: dict[str, Any] = orjson.loads(await reader_.readexactly(length))
        return payload

    def send_frame(obj: dict[str, Any]) -> None:
        data = orjson.dumps(obj)
        mask = os.urandom(4)
        header = (
            bytes([0x81, 0x80 | len(data)])
            if len(data) < 126
            else bytes([0x81, 0xFE]) + struct.pack(">H", len(data))
        )
        writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    await read_frame()  # auth_required
    send_frame({"type": "auth", "access_token": token})
    await read_frame()  # auth_ok
    if mode == "ours":
        subscribe: dict[str, Any] = {
            "id": 1,
            "type": "espnow_gateway/subscribe_packets",
        }
        if stall_timeout is not None:
            subscribe["stall_timeout"] = stall_timeout
    else:
        subscribe = {"id": 1, "type": "naive_stream/subscribe"}
    send_frame(subscribe)
    await writer.drain()
    last_sent = time.time()  # nothing more is ever sent, not even a pong
    sock = writer.get_extra_info("socket")
    local_port = sock.getsockname()[1]
    # From now on nothing is read: the transport must not read for us either.
    cast("asyncio.ReadTransport", writer.transport).pause_reading()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    closed_after: float | None = None
    peak_kernel = 0
    while loop.time() < deadline:
        await asyncio.sleep(0.5)
        kernel = _client_rx(sock) + _server_tx_queue(local_port, int(port))
        peak_kernel = max(peak_kernel, kernel)
        if closed_after is None and _server_closed(local_port, int(port)):
            closed_after = time.time() - last_sent
    client_rx = _client_rx(sock)
    server_tx = _server_tx_queue(local_port, int(port))
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return {
        "subscribed_at": last_sent,
        "client_kernel_rx_bytes": client_rx,
        "server_kernel_tx_bytes": server_tx,
        "peak_kernel_bytes": peak_kernel,
        "closed_by_server": closed_after is not None,
        "server_closed_after_s": closed_after,
    }


def _client_rx(sock: Any) -> int:
    pending = bytearray(4)
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, pending)
    value: int = struct.unpack("i", pending)[0]
    return value


def _tcp_rows() -> list[list[str]]:
    rows = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            rows += [line.split() for line in Path(name).read_text().splitlines()[1:]]
    return rows


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)


def _server_tx_queue(client_port: int, server_port: int) -> int:
    """Bytes Home Assistant's socket to this client has not got out (its send queue)."""
    for row in _tcp_rows():
        if _port(row[1]) == server_port and _port(row[2]) == client_port:
            return int(row[4].split(":")[0], 16)
    return 0


def _server_closed(client_port: int, server_port: int) -> bool:
    """Whether Home Assistant has closed its end (state other than ESTABLISHED)."""
    for row in _tcp_rows():
        if _port(row[1]) == server_port and _port(row[2]) == client_port:
            return row[3] != "01"
    return True


def _summarise(result: dict[str, Any]) -> dict[str, Any]:
    latencies = sorted(result.pop("latencies"))
    result["latency_ms_p50"] = _percentile(latencies, 0.50)
    result["latency_ms_p99"] = _percentile(latencies, 0.99)
    return result


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def main(args: argparse.Namespace) -> None:
    """Run the clients and print the JSON result."""
    url, token, mode, seconds = args.url, args.token, args.mode, args.seconds
    if args.fast_interval:
        FAST_SUBSCRIPTION["batch_interval"] = args.fast_interval
    async with aiohttp.ClientSession() as session:
        fast = [
            reader(session, url, token, mode, seconds, subscription=FAST_SUBSCRIPTION)
            for _ in range(args.fast)
        ]
        capped = (
            [
                reader(
                    session,
                    url,
                    token,
                    mode,
                    seconds,
                    subscription=CAPPED_SUBSCRIPTION,
                    naive_rate=20,
                )
            ]
            if args.capped
            else []
        )
        large = (
            [
                reader(
                    session, url, token, mode, seconds, subscription=LARGE_SUBSCRIPTION
                )
            ]
            if args.large
            else []
        )
        stall = [
            stalled(url, token, mode, seconds, args.stall_timeout)
            for _ in range(args.stalled)
        ]
        started = time.process_time()
        results = await asyncio.gather(*fast, *capped, *large, *stall)
        cpu = time.process_time() - started
    readers = [_summarise(r) for r in results[: len(fast) + len(capped) + len(large)]]
    report = {
        "fast": readers[: len(fast)],
        "capped": readers[len(fast)] if capped else None,
        "large": readers[len(fast) + len(capped)] if large else None,
        "stalled": results[len(results) - len(stall) :],
        "clients_cpu_s": cpu,
    }
    print(orjson.dumps(report).decode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("mode", choices=("ours", "naive"))
    parser.add_argument("seconds", type=float)
    parser.add_argument("--fast", type=int, default=8)
    parser.add_argument("--fast-interval", type=int, help="batch_interval (ms)")
    parser.add_argument("--capped", action="store_true")
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--stalled", type=int, default=0)
    parser.add_argument("--stall-timeout", type=float)
    asyncio.run(main(parser.parse_args()))
