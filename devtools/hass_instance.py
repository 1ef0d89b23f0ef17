"""Run a real Home Assistant process with this integration and drive it over HTTP.

Used by ``scripts/develop`` and the benchmarks: it writes a configuration, starts
``python -m homeassistant`` in a subprocess, onboards a user through the onboarding
API, and adds gateways through the config flow API exactly as the UI does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
import signal
import socket
import sys
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
CLIENT_ID_PATH = "/"
USERNAME = "dev"
PASSWORD = "dev"  # noqa: S105 - a local development instance

CONFIGURATION = """\
# Written by devtools/hass_instance.py
homeassistant:
  name: ESP-NOW development
  unit_system: metric
  time_zone: UTC
http:
  server_host: 127.0.0.1
  server_port: {port}
frontend:
config:
history:
logbook:
{recorder}
logger:
  default: {log_level}
  logs:
    custom_components.espnow_gateway: {integration_log_level}
"""


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HassInstance:
    """A Home Assistant process serving on 127.0.0.1."""

    def __init__(
        self,
        config_dir: Path,
        *,
        port: int | None = None,
        recorder: bool = True,
        log_level: str = "warning",
        integration_log_level: str = "info",
        extra_components: dict[str, Path] | None = None,
        extra_config: str = "",
        python: str | None = None,
        skip_pip: bool = True,
    ) -> None:
        """Prepare an instance in ``config_dir`` (created if needed).

        ``extra_components`` maps more custom integration domains to their folders;
        they are loaded from configuration.yaml (the benchmarks' baselines).
        ``extra_config`` is appended to configuration.yaml as it is.
        ``python`` is the interpreter that runs Home Assistant (default: this one);
        ``skip_pip=False`` lets Home Assistant install missing requirements itself.
        """
        self.config_dir = config_dir
        self.port = port or free_port()
        self.recorder = recorder
        self.log_level = log_level
        self.integration_log_level = integration_log_level
        self.extra_components = extra_components or {}
        self.extra_config = extra_config
        self.python = python or sys.executable
        self.skip_pip = skip_pip
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.token: str | None = None
        self._session: aiohttp.ClientSession | None = None

    # ---- process --------------------------------------------------------------------

    def write_config(self) -> None:
        """Write configuration.yaml and link custom_components into the config dir."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        recorder = "recorder:" if self.recorder else ""  # Home Assistant's defaults
        extra = "".join(f"{domain}:\n" for domain in self.extra_components)
        (self.config_dir / "configuration.yaml").write_text(
            CONFIGURATION.format(
                port=self.port,
                recorder=recorder,
                log_level=self.log_level,
                integration_log_level=self.integration_log_level,
            )
            + extra
            + self.extra_config
        )
        components = self.config_dir / "custom_components"
        if components.is_symlink():  # made by an older version of this tool
            components.unlink()
        components.mkdir(exist_ok=True)
        wanted = {"espnow_gateway": REPO / "custom_components" / "espnow_gateway"}
        wanted |= self.extra_components
        for domain, folder in wanted.items():
            link = components / domain
            if not link.is_symlink():
                link.symlink_to(folder)

    async def start(self, *, stdout: int | None = None) -> None:
        """Start Home Assistant and wait until its HTTP API answers."""
        self.write_config()
        self.process = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "homeassistant",
            "--config",
            str(self.config_dir),
            *(["--skip-pip"] if self.skip_pip else []),
            # Not the repository: its custom_components would shadow the config's.
            cwd=self.config_dir,
            stdout=stdout if stdout is not None else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.STDOUT
            if stdout is not None
            else asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self._session = aiohttp.ClientSession()
        async with asyncio.timeout(180):
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(
                        f"Home Assistant exited with {self.process.returncode}"
                    )
                with contextlib.suppress(aiohttp.ClientError):
                    async with self._session.get(f"{self.url}/api/onboarding") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        """Stop Home Assistant (SIGTERM, then SIGKILL)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(60):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used by the process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_bytes(self) -> int:
        """Resident memory of the process."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    # ---- HTTP API ---------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session."""
        assert self._session is not None
        return self._session

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(self, method: str, path: str, payload: Any = None) -> Any:
        """Call the REST API and return the decoded JSON answer."""
        async with self.session.request(
            method, f"{self.url}{path}", json=payload, headers=self._headers()
        ) as resp:
            if resp.status >= 400:
                raise RuntimeError(
                    f"{method} {path}: {resp.status} {await resp.text()}"
                )
            return await resp.json()

    async def onboard(self) -> None:
        """Create the owner user (dev/dev) if needed and log in."""
        client_id = f"{self.url}{CLIENT_ID_PATH}"
        steps = await self.request("GET", "/api/onboarding")
        done = {step["step"] for step in steps if step["done"]}
        if "user" not in done:
            answer = await self.request(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": client_id,
                    "name": "Developer",
                    "username": USERNAME,
                    "password": PASSWORD,
                    "language": "en",
                },
            )
            code = answer["auth_code"]
        else:
            code = await self._login_code(client_id)
        async with self.session.post(
            f"{self.url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
            },
        ) as resp:
            self.token = (await resp.json())["access_token"]
        for step, path, payload in (
            ("core_config", "/api/onboarding/core_config", {}),
            ("analytics", "/api/onboarding/analytics", {}),
            (
                "integration",
                "/api/onboarding/integration",
                {
                    "client_id": client_id,
                    "redirect_uri": f"{self.url}/?auth_callback=1",
                },
            ),
        ):
            if step not in done:
                await self.request("POST", path, payload)
        await self.wait_running()

    async def wait_running(self, limit: float = 180) -> None:
        """Wait until Home Assistant has set up every integration (state RUNNING)."""
        async with asyncio.timeout(limit):
            while (await self.request("GET", "/api/config")).get("state") != "RUNNING":
                await asyncio.sleep(0.5)

    async def _login_code(self, client_id: str) -> str:
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.url}/?auth_callback=1",
            },
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"username": USERNAME, "password": PASSWORD, "client_id": client_id},
        )
        code: str = result["result"]
        return code

    async def entries(self) -> list[dict[str, Any]]:
        """Return the integration's config entries."""
        entries: list[dict[str, Any]] = await self.request(
            "GET", "/api/config/config_entries/entry?domain=espnow_gateway"
        )
        return entries

    async def add_gateway(self, port: str, baudrate: int = 921_600) -> str:
        """Run the config flow as the UI does; return the entry id."""
        flow = await self.request(
            "POST", "/api/config/config_entries/flow", {"handler": "espnow_gateway"}
        )
        result = await self.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"port": port, "baudrate": str(baudrate)},
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"config flow did not create an entry: {result}")
        entry_id: str = result["result"]["entry_id"]
        return entry_id

    async def set_options(self, entry_id: str, **settings: Any) -> None:
        """Change the gateway settings through the options flow."""
        flow = await self.request(
            "POST", "/api/config/config_entries/options/flow", {"handler": entry_id}
        )
        flow_path = f"/api/config/config_entries/options/flow/{flow['flow_id']}"
        form = await self.request("POST", flow_path, {"next_step_id": "settings"})
        defaults = {
            field["name"]: field.get("default") for field in form["data_schema"]
        }
        await self.request("POST", flow_path, defaults | settings)

    async def diagnostics(self, entry_id: str) -> dict[str, Any]:
        """Download the entry's diagnostics."""
        answer = await self.request("GET", f"/api/diagnostics/config_entry/{entry_id}")
        data: dict[str, Any] = answer["data"]
        return data

    async def websocket(self) -> aiohttp.ClientWebSocketResponse:
        """Open an authenticated WebSocket connection."""
        ws = await self.session.ws_connect(f"{self.url}/api/websocket", max_msg_size=0)
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": self.token})
        answer = await ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise RuntimeError(f"WebSocket authentication failed: {answer}")
        return ws
