"""Run a real Home Assistant process with this integration and drive it over HTTP.

Used by ``scripts/develop``, the browser test and the benchmarks: it writes a
configuration, starts ``python -m homeassistant`` in a subprocess, onboards a user
through the onboarding API, and adds gateways through the config flow API exactly as
the UI does.

What the instance owns is configured so that Home Assistant has nothing to complain
about: the core settings (country included) in configuration.yaml, the HTTP server's
settings in its storage (``.storage/http``: YAML ``http:`` is deprecated, and a YAML
import is only a five-minute trial that Home Assistant reverts with a restart), and
the onboarding's core-config step marked done before the first start (that step would
add the weather, radio and text-to-speech services of a new installation, which need
the internet). The repair "Unsupported installation method" (a development instance
runs Home Assistant Core from a virtual environment on purpose) is ignored through
the repairs API, as a user would ignore it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import random
import signal
import socket
import sys
from typing import Any

import aiohttp
from homeassistant.const import RESTART_EXIT_CODE

REPO = Path(__file__).resolve().parents[1]
USERNAME = "dev"
PASSWORD = "dev"  # noqa: S105 - a local development instance
COUNTRY = "DE"  # any country: without one Home Assistant raises a repair
# Ports of test and benchmark instances: clear of 8123, a developer's own instance.
INSTANCE_PORTS = range(8300, 8400)
# Repairs that Home Assistant raises about a development instance itself.
OWN_REPAIRS = frozenset({("homeassistant", "deprecated_method")})
LOG_FILE = "home-assistant.log"

CONFIGURATION = """\
# Written by devtools/hass_instance.py (rewritten at every start).
homeassistant:
  name: ESP-NOW development
  unit_system: metric
  time_zone: UTC
  country: {country}
frontend:
config:
history:
logbook:
automation: !include automations.yaml
script: !include scripts.yaml
scene: !include scenes.yaml
{recorder}
logger:
  default: {log_level}
  logs:
    custom_components.espnow_gateway: {integration_log_level}
    # System programs a development instance does without (cameras, text to speech):
    # ffmpeg and libjpeg-turbo; Home Assistant logs an error at each start without them.
    haffmpeg: critical
    homeassistant.components.camera.img_util: critical
{extra_logs}"""
HTTP_YAML = """\
http:
  server_host: 127.0.0.1
  server_port: {port}
"""
# What the UI editors write to, created empty (as a new installation has them).
EDITOR_FILES = {
    "automations.yaml": "[]\n",
    "scripts.yaml": "{}\n",
    "scenes.yaml": "[]\n",
}


def free_port(ports: range = INSTANCE_PORTS) -> int:
    """Return a free TCP port on 127.0.0.1 from ``ports`` (any free one if none is).

    The search starts at a random place so that parallel runs rarely race.
    """
    first = random.randrange(len(ports))
    for index in range(len(ports)):
        port = ports[(first + index) % len(ports)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def _write_json_if_changed(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        path.chmod(0o600)


def write_http_storage(config_dir: Path, port: int) -> None:
    """Store the HTTP server's settings as Home Assistant's HTTP settings page does.

    A stable configuration (what recovery mode also uses), no pending trial, and the
    YAML migration marked done: Home Assistant then neither warns about YAML nor
    schedules a revert. The schema and storage keys are Home Assistant's own.
    """
    from homeassistant.components.http import config as http_config  # noqa: PLC0415

    path = config_dir / ".storage" / http_config.STORAGE_KEY
    path.parent.mkdir(parents=True, exist_ok=True)
    wanted = http_config.HTTP_STORAGE_SCHEMA(
        {"server_host": ["127.0.0.1"], "server_port": port}
    )
    created = datetime.now(UTC).isoformat()
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        stable = json.loads(path.read_text())["data"][http_config.KEY_STABLE]
        if {key: stable.get(key) for key in wanted} == wanted:
            created = stable[http_config.HTTP_CONFIG_CREATED_AT]
    stable = wanted | {
        http_config.HTTP_CONFIG_CREATED_AT: created,
        http_config.HTTP_CONFIG_ERROR: None,
        http_config.HTTP_CONFIG_ERROR_MESSAGE: None,
    }
    _write_json_if_changed(
        path,
        {
            "version": http_config.STORAGE_VERSION,
            "minor_version": http_config.STORAGE_MINOR_VERSION,
            "key": http_config.STORAGE_KEY,
            "data": {
                http_config.KEY_STABLE: stable,
                http_config.KEY_PENDING: None,
                http_config.KEY_YAML_MIGRATION_DONE: True,
            },
        },
    )


def _mark_core_config_onboarded(config_dir: Path) -> None:
    """Mark onboarding's core-config step done in a config folder never started."""
    from homeassistant.components import onboarding  # noqa: PLC0415

    path = config_dir / ".storage" / onboarding.STORAGE_KEY
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json_if_changed(
        path,
        {
            "version": onboarding.STORAGE_VERSION,
            "minor_version": 1,
            "key": onboarding.STORAGE_KEY,
            "data": {"done": [onboarding.const.STEP_CORE_CONFIG]},
        },
    )


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
        logs: dict[str, str] | None = None,
        python: str | None = None,
        skip_pip: bool = True,
    ) -> None:
        """Prepare an instance in ``config_dir`` (created if needed).

        ``extra_components`` maps more custom integration domains to their folders;
        they are loaded from configuration.yaml (the benchmarks' baselines).
        ``extra_config`` is appended to configuration.yaml as it is.
        ``logs`` sets more loggers' levels (e.g. one module at debug).
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
        self.logs = logs or {}
        self.python = python or sys.executable
        self.skip_pip = skip_pip
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_id = f"{self.url}/"
        self.process: asyncio.subprocess.Process | None = None
        self.token: str | None = None
        self.refresh_token: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_id = 0
        self._watcher: asyncio.Task[None] | None = None
        self._show_log = False
        self._stdout: int | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def log_file(self) -> Path:
        """Home Assistant's own log (warnings and errors at the default level)."""
        return self.config_dir / LOG_FILE

    # ---- process --------------------------------------------------------------------

    def write_config(self) -> None:
        """Write the configuration and link custom_components into the config dir."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        recorder = "recorder:" if self.recorder else ""  # Home Assistant's defaults
        extra = "".join(f"{domain}:\n" for domain in self.extra_components)
        (self.config_dir / "configuration.yaml").write_text(
            CONFIGURATION.format(
                country=COUNTRY,
                recorder=recorder,
                log_level=self.log_level,
                integration_log_level=self.integration_log_level,
                extra_logs="".join(
                    f"    {name}: {level}\n" for name, level in self.logs.items()
                ),
            )
            + extra
            + self.extra_config
        )
        for name, empty in EDITOR_FILES.items():
            if not (self.config_dir / name).exists():
                (self.config_dir / name).write_text(empty)
        if self.python == sys.executable:
            # Storage in this environment's Home Assistant's own format.
            write_http_storage(self.config_dir, self.port)
            _mark_core_config_onboarded(self.config_dir)
        else:  # another version (the compatibility check): its YAML import
            config = self.config_dir / "configuration.yaml"
            config.write_text(config.read_text() + HTTP_YAML.format(port=self.port))
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

    async def start(self, *, show_log: bool = False, stdout: int | None = None) -> None:
        """Start Home Assistant and wait until its HTTP server answers.

        ``show_log``: Home Assistant's console log (warnings and errors) goes to this
        process's standard error; it is always in ``log_file`` too. When Home
        Assistant exits to restart (Settings → Restart), it is started again, as its
        supervisor would.
        """
        self._show_log = show_log
        self._stdout = stdout
        self._stopping = False
        self.write_config()
        await self._spawn()
        self._watcher = asyncio.create_task(self._watch())
        if self._session is None:
            self._session = aiohttp.ClientSession()
        await self.wait_http()

    async def _spawn(self) -> None:
        output = None if self._show_log else asyncio.subprocess.DEVNULL
        if self._stdout is not None:  # one file for both (the compatibility check)
            output = self._stdout
        self.process = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "homeassistant",
            "--config",
            str(self.config_dir),
            *(["--skip-pip"] if self.skip_pip else []),
            # Not the repository: its custom_components would shadow the config's.
            cwd=self.config_dir,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT if self._stdout is not None else output,
            start_new_session=True,
        )

    async def _watch(self) -> None:
        while True:
            assert self.process is not None
            code = await self.process.wait()
            if code != RESTART_EXIT_CODE or self._stopping:
                return
            self.restarts += 1
            await self._spawn()

    @property
    def exited(self) -> bool:
        """Whether Home Assistant has stopped for good (not to restart)."""
        return self._watcher is not None and self._watcher.done()

    async def wait_http(self, limit: float = 180) -> None:
        """Wait until the HTTP server answers (any status: onboarded or not)."""
        async with asyncio.timeout(limit):
            while True:
                if self.exited:
                    code = self.process.returncode if self.process else None
                    raise RuntimeError(
                        f"Home Assistant exited with {code}; see {self.log_file}"
                    )
                with contextlib.suppress(aiohttp.ClientError):
                    async with self.session.get(f"{self.url}/api/onboarding"):
                        return
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        """Stop Home Assistant (SIGTERM, then SIGKILL)."""
        self._stopping = True
        await self._close_ws()
        if self._session is not None:
            await self._session.close()
            self._session = None
        process = self.process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(60):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._watcher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

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

    def threads(self) -> int:
        """Threads of the process (the executor's workers among them)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        return 0

    def rss_bytes(self) -> int:
        """Resident memory of the process."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    # ---- REST API -----------------------------------------------------------------------

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
        """Create the owner user (dev/dev) if needed, log in, finish onboarding.

        Onboarding's views exist only while it is unfinished: on an onboarded
        instance ``/api/onboarding`` is not found, and this just logs in.
        """
        async with self.session.get(f"{self.url}/api/onboarding") as resp:
            steps = await resp.json() if resp.status == 200 else []
        done = {step["step"] for step in steps if step["done"]} if steps else None
        if done is not None and "user" not in done:
            answer = await self.request(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": "Developer",
                    "username": USERNAME,
                    "password": PASSWORD,
                    "language": "en",
                },
            )
            code = answer["auth_code"]
        else:
            code = await self._login_code(USERNAME, PASSWORD)
        tokens = await self._tokens(code)
        self.token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        for step, path, payload in (
            ("core_config", "/api/onboarding/core_config", {}),
            ("analytics", "/api/onboarding/analytics", {}),
            (
                "integration",
                "/api/onboarding/integration",
                {
                    "client_id": self.client_id,
                    "redirect_uri": f"{self.url}/?auth_callback=1",
                },
            ),
        ):
            if done is not None and step not in done:
                await self.request("POST", path, payload)
        await self.wait_running()

    async def wait_running(self, limit: float = 180) -> None:
        """Wait until Home Assistant has set up every integration (state RUNNING)."""
        async with asyncio.timeout(limit):
            while (await self.request("GET", "/api/config")).get("state") != "RUNNING":
                await asyncio.sleep(0.5)

    async def restart(self, limit: float = 180) -> None:
        """Restart Home Assistant as a user does (Settings → Restart)."""
        await self._close_ws()
        old = self.process
        assert old is not None
        with contextlib.suppress(aiohttp.ClientError, RuntimeError):
            await self.request("POST", "/api/services/homeassistant/restart", {})
        async with asyncio.timeout(limit):
            await old.wait()
            while self.process is old and not self.exited:
                await asyncio.sleep(0.1)
        await self.wait_http(limit)
        await self.wait_running(limit)

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in as the frontend does; return the tokens (access and refresh)."""
        return await self._tokens(await self._login_code(username, password))

    async def create_user(self, name: str, username: str, password: str) -> str:
        """Create a user who is not an administrator; return the user id."""
        user = await self.ws_call(
            {"type": "config/auth/create", "name": name, "group_ids": ["system-users"]}
        )
        user_id: str = user["user"]["id"]
        await self.ws_call(
            {
                "type": "config/auth_provider/homeassistant/create",
                "user_id": user_id,
                "username": username,
                "password": password,
            }
        )
        return user_id

    async def _tokens(self, code: str) -> dict[str, Any]:
        async with self.session.post(
            f"{self.url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        ) as resp:
            tokens: dict[str, Any] = await resp.json()
            return tokens

    async def _login_code(self, username: str, password: str) -> str:
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.url}/?auth_callback=1",
            },
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"username": username, "password": password, "client_id": self.client_id},
        )
        code: str = result["result"]
        return code

    # ---- WebSocket API ----------------------------------------------------------------

    async def ws_call(self, message: dict[str, Any]) -> Any:
        """Send one command on a shared WebSocket connection; return its result."""
        if self._ws is None or self._ws.closed:
            self._ws = await self.websocket()
        self._ws_id += 1
        await self._ws.send_json({"id": self._ws_id} | message)
        while True:
            answer = await self._ws.receive_json()
            if answer.get("id") == self._ws_id and answer.get("type") == "result":
                break
        if not answer["success"]:
            raise RuntimeError(f"{message['type']}: {answer['error']}")
        return answer["result"]

    async def _close_ws(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def repairs(self) -> list[dict[str, Any]]:
        """Return the repair issues Settings shows (active and not ignored)."""
        issues: list[dict[str, Any]] = (
            await self.ws_call({"type": "repairs/list_issues"})
        )["issues"]
        return [issue for issue in issues if not issue["ignored"]]

    async def ignore_own_repairs(self, wait: float = 10) -> None:
        """Ignore the repairs Home Assistant raises about a development instance.

        They are raised just after start-up; an ignored one stays ignored across
        restarts. Waits up to ``wait`` seconds for them to appear.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            issues = (await self.ws_call({"type": "repairs/list_issues"}))["issues"]
            own = [i for i in issues if (i["domain"], i["issue_id"]) in OWN_REPAIRS]
            for issue in own:
                if not issue["ignored"]:
                    await self.ws_call(
                        {
                            "type": "repairs/ignore_issue",
                            "domain": issue["domain"],
                            "issue_id": issue["issue_id"],
                            "ignore": True,
                        }
                    )
            if len(own) == len(OWN_REPAIRS) or loop.time() >= deadline:
                return
            await asyncio.sleep(0.25)

    async def ensure_dashboard(
        self,
        url_path: str,
        title: str,
        views: list[dict[str, Any]],
        *,
        overwrite: bool = False,
    ) -> bool:
        """Create a storage-mode dashboard with these views; return True if made.

        An existing dashboard is left as the user edited it unless ``overwrite``.
        """
        dashboards = await self.ws_call({"type": "lovelace/dashboards/list"})
        exists = any(item["url_path"] == url_path for item in dashboards)
        if exists and not overwrite:
            return False
        if not exists:
            await self.ws_call(
                {
                    "type": "lovelace/dashboards/create",
                    "url_path": url_path,
                    "title": title,
                    "icon": "mdi:access-point",
                    "show_in_sidebar": True,
                    "require_admin": False,
                }
            )
        await self.ws_call(
            {
                "type": "lovelace/config/save",
                "url_path": url_path,
                "config": {"title": title, "views": views},
            }
        )
        return not exists

    # ---- REST API: the integration ------------------------------------------------------

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
        # As the frontend does: a field without a default and no value is left out.
        defaults = {
            field["name"]: field["default"]
            for field in form["data_schema"]
            if "default" in field
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
