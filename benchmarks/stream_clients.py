"""WebSocket clients for ``scripts/bench stream``, run in a process of their own.

``python -m benchmarks.stream_clients URL TOKEN MODE SECONDS`` connects ten clients to
a running Home Assistant and prints one JSON line with what each saw:

- 8 fast clients that read everything (and acknowledge each batch in ``ours`` mode);
- 1 client capped at 20 packets/s (``max_rate`` in ``ours`` mode; in ``naive`` mode,
  where the server has no cap, it reads only 20 messages/s);
- 1 client that subscribes and then never reads its socket again.

Latency is measured from the time the simulator wrote a packet to the serial port
(the first 8 bytes of each payload) to the time the client decoded it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
from pathlib import Path
import struct
import sys
import termios
import time
from typing import Any, cast

import aiohttp

FAST = 8


def _latency_ms(payload_b64: str, now: float) -> float:
    sent: float = struct.unpack_from("<d", base64.b64decode(payload_b64))[0]
    return (now - sent) * 1000


async def _authenticate(ws: aiohttp.ClientWebSocketResponse, token: str) -> None:
    await ws.receive_json()
    await ws.send_json({"type": "auth", "access_token": token})
    answer = await ws.receive_json()
    if answer.get("type") != "auth_ok":
        raise RuntimeError(answer)


async def reader(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    mode: str,
    seconds: float,
    *,
    capped: bool,
) -> dict[str, Any]:
    """A client that reads (everything, or 20 messages/s in naive capped mode)."""
    result: dict[str, Any] = {
        "received": 0,
        "dropped_reported": 0,
        "latencies": [],
        "closed_by_server": False,
        "statuses": [],
    }
    ws = await session.ws_connect(f"{url}/api/websocket", max_msg_size=0)
    await _authenticate(ws, token)
    if mode == "ours":
        subscribe: dict[str, Any] = {
            "id": 1,
            "type": "espnow_gateway/subscribe_packets",
            "batch_interval": 100,
            "high_watermark": 512 * 1024,
            "max_rate": 20 if capped else 5000,
            "burst": 20 if capped else 5000,
        }
    else:
        subscribe = {"id": 1, "type": "naive_stream/subscribe"}
    await ws.send_json(subscribe)
    next_id = 2
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                message = await asyncio.wait_for(ws.receive(), remaining)
            except TimeoutError:
                break
            if message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                result["closed_by_server"] = True
                break
            now = time.time()
            data = json.loads(message.data)
            for item in data if isinstance(data, list) else [data]:
                if item.get("type") != "event":
                    continue
                event = item["event"]
                if mode == "naive":
                    result["received"] += 1
                    result["latencies"].append(_latency_ms(event["payload"], now))
                    if capped:
                        await asyncio.sleep(1 / 20)
                    continue
                result["dropped_reported"] += event.get("dropped", 0)
                if "status" in event:
                    result["statuses"].append(event["status"])
                if "batch" in event:
                    for packet in event["packets"]:
                        result["received"] += 1
                        result["latencies"].append(_latency_ms(packet["payload"], now))
                    await ws.send_json(
                        {
                            "id": next_id,
                            "type": "espnow_gateway/ack_packets",
                            "subscription": 1,
                            "batch": event["batch"],
                        }
                    )
                    next_id += 1
    finally:
        await ws.close()
    return result


async def stalled(url: str, token: str, mode: str, seconds: float) -> dict[str, Any]:
    """Subscribe, then never read again; report what piled up in the kernel."""
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
        payload: dict[str, Any] = json.loads(await reader_.readexactly(length))
        return payload

    def send_frame(obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
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
        send_frame({"id": 1, "type": "espnow_gateway/subscribe_packets"})
    else:
        send_frame({"id": 1, "type": "naive_stream/subscribe"})
    await writer.drain()
    sock = writer.get_extra_info("socket")
    local_port = sock.getsockname()[1]
    # From now on nothing is read: the transport must not read for us either.
    cast("asyncio.ReadTransport", writer.transport).pause_reading()
    await asyncio.sleep(seconds)
    pending = bytearray(4)
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, pending)
    client_rx = struct.unpack("i", pending)[0]
    server_tx = _server_tx_queue(local_port, int(port))
    # Did the server give up on us? Its end is closed (FIN) if so.
    closed = _server_closed(local_port, int(port))
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return {
        "client_kernel_rx_bytes": client_rx,
        "server_kernel_tx_bytes": server_tx,
        "closed_by_server": closed,
    }


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


async def main(url: str, token: str, mode: str, seconds: float) -> None:
    """Run the ten clients and print the JSON result."""
    async with aiohttp.ClientSession() as session:
        tasks = [
            reader(session, url, token, mode, seconds, capped=False)
            for _ in range(FAST)
        ]
        tasks.append(reader(session, url, token, mode, seconds, capped=True))
        results = await asyncio.gather(*tasks, stalled(url, token, mode, seconds))
    for result in results[: FAST + 1]:
        latencies = sorted(result.pop("latencies"))
        result["latency_ms_p50"] = _percentile(latencies, 0.50)
        result["latency_ms_p99"] = _percentile(latencies, 0.99)
    print(
        json.dumps(
            {
                "fast": results[:FAST],
                "capped": results[FAST],
                "stalled": results[FAST + 1],
            }
        )
    )


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
