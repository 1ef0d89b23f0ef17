"""The compatibility checks against one Home Assistant interpreter (``CompatRun``).

What is checked, and why, is told in ``devtools/compat.py``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import json
from pathlib import Path
import re
import time
from typing import Any

import aiohttp

from espnowgw.connection import probe
from espnowgw.mac import mac_to_str

from .compat_report import Check, VersionResult, scan_log
from .hass_instance import HassInstance
from .simulator import PtyGateway, SimPeer, SimulatorConfig
from .ws_client import WsClient

DOMAIN = "espnow_gateway"
WAIT = 30.0  # seconds any one thing may take to show
PACKAGES = ("homeassistant", "bthome-ble", "serialx", "cryptography", "habluetooth")


class CheckError(Exception):
    """A check found something wrong."""


# What fails a check (anything else is a bug of the check itself).
FAILURES = (
    CheckError,
    RuntimeError,
    OSError,
    TimeoutError,
    KeyError,
    aiohttp.ClientError,
)


@contextlib.asynccontextmanager
async def _within(what: str, limit: float = WAIT) -> AsyncIterator[None]:
    """Fail with a clear message if the block takes longer than ``limit`` seconds."""
    try:
        async with asyncio.timeout(limit):
            yield
    except TimeoutError as err:
        raise CheckError(f"timed out after {limit:.0f} s waiting for {what}") from err


async def _until[T](
    what: str, probe_once: Callable[[], Awaitable[T | None]], limit: float = WAIT
) -> T:
    """Call ``probe_once`` until it returns something other than None."""
    deadline = time.monotonic() + limit
    last: T | None = None
    while True:
        last = await probe_once()
        if last is not None:
            return last
        if time.monotonic() > deadline:
            raise CheckError(f"timed out after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(0.25)


async def _python_facts(python: str) -> dict[str, Any]:
    """Ask ``python`` for Home Assistant's version, package versions, usb's helper.

    ``usb`` imports only once Home Assistant has installed its requirements.
    """
    code = (
        "import importlib.metadata as m, json\n"
        "from homeassistant.const import __version__\n"
        "try:\n"
        "    from homeassistant.components import usb\n"
        "    helper = hasattr(usb, 'async_is_serial_port_present')\n"
        "except ImportError:\n"
        "    helper = None\n"
        "v = {}\n"
        f"for n in {PACKAGES!r}:\n"
        "    try: v[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps({'version': __version__, 'packages': v, 'helper': helper}))"
    )
    proc = await asyncio.create_subprocess_exec(
        python, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise CheckError(f"{python} cannot import Home Assistant")
    facts: dict[str, Any] = json.loads(out)
    return facts


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _bthome(peer: SimPeer, objects: bytes) -> bytes:
    """Build a BTHome v2 payload of ``peer``: its next packet id (0x00), ``objects``."""
    peer.packet_id = (peer.packet_id + 1) & 0xFF
    return bytes((0x40, 0x00, peer.packet_id)) + objects


class CompatRun:
    """The checks against one Home Assistant interpreter."""

    def __init__(self, python: str, work: Path) -> None:
        """Prepare a run in ``work`` (a fresh folder)."""
        self.result = VersionResult(python=python)
        self.sim = PtyGateway(
            SimulatorConfig(peers=2, kinds=("bthome", "json"), seed=1, rate=0.0),
            work / "gateway",
        )
        self.hass = HassInstance(work / "config", python=python, skip_pip=False)
        self.work = work
        self.entry_id = ""
        self.ws: WsClient | None = None
        self.bthome, self.json_peer = self.sim.gateway.peers
        self.devices: dict[str, str] = {}  # MAC (lower case) -> device id
        self.has_port_helper = False
        self.entity_ids: set[str] = set()  # every entity of ours seen (for the log)
        self._bthome_introduced = False

    # ---- plumbing -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def check(self, name: str, *, critical: bool = False) -> AsyncIterator[Check]:
        """Time a check; an exception fails it. A critical one stops the run."""
        result = Check(name, ok=True)
        start = time.monotonic()
        try:
            yield result
        except FAILURES as err:
            result.ok = False
            result.detail = str(err) if isinstance(err, CheckError) else repr(err)
            if critical:
                raise
        finally:
            result.seconds = time.monotonic() - start
            self.result.checks.append(result)

    def skip(self, name: str, reason: str) -> None:
        """Record a check that does not apply to this version."""
        self.result.checks.append(Check(name, ok=None, detail=reason))

    @property
    def socket(self) -> WsClient:
        """The WebSocket client."""
        assert self.ws is not None
        return self.ws

    async def entry(self) -> dict[str, Any] | None:
        """Return this run's config entry, as the REST API shows it."""
        for entry in await self.hass.entries():
            if entry["entry_id"] == self.entry_id:
                return entry
        return None

    async def wait_entry_state(self, state: str, limit: float = WAIT) -> None:
        """Wait until the entry is in ``state`` (loaded, setup_retry, not_loaded)."""

        async def in_state() -> bool | None:
            entry = await self.entry()
            return True if entry is not None and entry["state"] == state else None

        await _until(f"the entry to be {state}", in_state, limit)

    async def our_entities(self) -> list[dict[str, Any]]:
        """Return the integration's entity registry entries."""
        entities = await self.socket.call("config/entity_registry/list")
        ours = [e for e in entities if e["platform"] == DOMAIN]
        self.entity_ids.update(e["entity_id"] for e in ours)
        return ours

    async def refresh_devices(self) -> list[dict[str, Any]]:
        """Read the device registry; remember our devices by MAC."""
        devices = await self.socket.call("config/device_registry/list")
        ours = [
            d  # config_entries is deprecated (2026.8) for config_entry_id
            for d in devices
            if self.entry_id in (d.get("config_entry_id"), *d.get("config_entries", ()))
        ]
        self.devices = {
            value.lower(): d["id"]
            for d in ours
            for kind, value in d["connections"]
            if kind == "mac"
        }
        return ours

    async def states_of(self, mac: bytes) -> dict[str, dict[str, Any]]:
        """Return the states of one device's entities, by entity id."""
        device_id = self.devices.get(mac_to_str(mac).lower())
        if device_id is None:
            return {}
        ids = {
            e["entity_id"]
            for e in await self.our_entities()
            if e["device_id"] == device_id
        }
        states = await self.hass.request("GET", "/api/states")
        return {s["entity_id"]: s for s in states if s["entity_id"] in ids}

    # ---- the checks ---------------------------------------------------------------

    async def run(self) -> VersionResult:
        """Run every check; the result tells what passed."""
        started = time.monotonic()
        self.sim.plug()
        stdout = (self.work / "hass.stdout.log").open("wb")
        try:
            with contextlib.suppress(*FAILURES):
                await self._checks(stdout.fileno())
        finally:
            if self.ws is not None:
                await self.ws.close()
            with contextlib.suppress(Exception):
                await self._stop()
            stdout.close()
            self.sim.close()
            self._scan_log()
            self.result.seconds = time.monotonic() - started
        return self.result

    async def _checks(self, stdout: int) -> None:
        async with self.check("start", critical=True) as c:
            version = (await _python_facts(self.hass.python))["version"]
            self.result.version = version
            await self.hass.start(stdout=stdout)
            await self.hass.onboard()
            answer = await self.hass.request("GET", "/api/config")
            if answer["version"] != version:
                raise CheckError(f"Home Assistant reports {answer['version']}")
            self.ws = WsClient(await self.hass.websocket())
            c.detail = f"{answer['version']}, {answer['state']}"
        async with self.check("config flow", critical=True) as c:
            self.entry_id = await self.hass.add_gateway(str(self.sim.url))
            await self.wait_entry_state("loaded")
            facts = await _python_facts(self.hass.python)
            self.result.packages = facts["packages"]
            self.has_port_helper = bool(facts["helper"])
            c.detail = f"entry {self.entry_id} on {self.sim.url}"
        await self._entities()
        await self._button_event()
        await self._raw_stream()
        await self._bthome_additions()
        async with self.check("diagnostics") as c:
            diag = await self.hass.diagnostics(self.entry_id)
            if not {"entry", "gateway", "stream"} <= diag.keys():
                raise CheckError(f"diagnostics hold {sorted(diag)}")
            c.detail = "entry, gateway and stream sections"
        async with self.check("options flow") as c:
            since = await self._connected_since()
            await self.hass.set_options(self.entry_id, update_interval=2.0)
            await self._reloaded(since)
            options = (await self.hass.diagnostics(self.entry_id))["entry"]["options"]
            if options.get("update_interval") != 2.0:
                raise CheckError(f"options after the flow: {options}")
            c.detail = "update_interval 2 s stored; the entry reloaded"
        await self._reload()
        await self._disable_and_port_missing()
        await self._delete()
        async with self.check("stop") as c:
            await self._stop()
            c.detail = "Home Assistant stopped"

    async def _stop(self) -> None:
        process = self.hass.process
        await self.hass.stop()
        if process is not None and process.returncode not in (0, None):
            raise CheckError(f"Home Assistant exited with {process.returncode}")

    def _send_values(self) -> dict[bytes, dict[str, float]]:
        """Send one frame from each peer; return the values each should show.

        Each call moves the temperature by a degree, so the values differ from any
        shown before. The first one has the BTHome peer send two short frames
        first: a new sender is BTHome at its third consistent frame.
        """
        if not self._bthome_introduced:
            self._bthome_introduced = True
            for _ in range(2):
                self.sim.gateway.packet(self.bthome.mac, _bthome(self.bthome, b""), -50)
        expected: dict[bytes, dict[str, float]] = {}
        for peer in self.peers:
            peer.temperature += 1.0 if peer.temperature < 30 else -10.0
            self.sim.gateway.emit_from(peer, press=False)
            if peer.kind == "bthome":
                values = {
                    "temperature": round(peer.temperature * 100) / 100,
                    "humidity": round(peer.humidity * 100) / 100,
                }
            else:
                values = {
                    "temperature": round(peer.temperature, 2),
                    "humidity": round(peer.humidity, 1),
                }
            expected[peer.mac] = values | {"battery": float(peer.battery)}
        return expected

    async def _values_shown(self, expected: dict[bytes, dict[str, float]]) -> None:
        """Wait until every peer's sensors show the values sent."""

        async def shown() -> bool | None:
            await self.refresh_devices()
            for mac, values in expected.items():
                by_class = {
                    s["attributes"].get("device_class"): s["state"]
                    for s in (await self.states_of(mac)).values()
                    if s["entity_id"].startswith("sensor.")
                }
                for key, value in values.items():
                    try:
                        if abs(float(by_class[key]) - value) > 1e-6:
                            return None
                    except KeyError, ValueError:
                        return None
            return True

        await _until("the peers' sensors to show the values sent", shown)

    async def _connected(self) -> str:
        """Wait for the gateway's connection binary sensor to be on."""
        gateway_mac = self.sim.config.mac

        async def on() -> str | None:
            await self.refresh_devices()
            for entity_id, state in (await self.states_of(gateway_mac)).items():
                if (
                    entity_id.startswith("binary_sensor.")
                    and state["attributes"].get("device_class") == "connectivity"
                    and state["state"] == "on"
                ):
                    return entity_id
            return None

        return await _until("the gateway's connection sensor to be on", on)

    async def _connected_since(self) -> str:
        """Wait for the connection sensor to be on; return since when it is."""
        entity_id = await self._connected()
        state = await self.hass.request("GET", f"/api/states/{entity_id}")
        return str(state["last_changed"])

    async def _reloaded(self, since: str) -> None:
        """Wait until the entry is loaded again: a new connection sensor state."""

        async def again() -> bool | None:
            return True if await self._connected_since() != since else None

        await self.wait_entry_state("loaded")
        await _until("the entry to load again (a new connection state)", again)

    async def _entities(self) -> None:
        async with self.check("entities") as c:
            expected = self._send_values()
            await self._values_shown(expected)
            connection = await self._connected()
            count = len(await self.our_entities())
            c.detail = (
                f"{count} entities; BTHome and JSON sensors show the values sent; "
                f"{connection} on"
            )

    async def _device_of(self, entity_id: str) -> str | None:
        for entity in await self.our_entities():
            if entity["entity_id"] == entity_id:
                return str(entity["device_id"])
        return None

    async def _fired(
        self, send: Callable[[], None], peers: list[SimPeer], event_type: str
    ) -> list[str]:
        """Send; wait until an event entity of each peer fires ``event_type``.

        With ``multi_press_end`` (a press) the ``espnow_gateway_button`` bus event of
        each peer must come too. Returns the event entities that fired.
        """
        await self.refresh_devices()
        macs = {self.devices[mac_to_str(p.mac).lower()]: p.mac for p in peers}
        waiting = set(macs)
        presses = set(macs) if event_type == "multi_press_end" else set()
        fired: list[str] = []
        async with (
            self.socket.subscription(
                "subscribe_events", event_type="state_changed"
            ) as states,
            self.socket.subscription(
                "subscribe_events", event_type=f"{DOMAIN}_button"
            ) as bus,
        ):
            send()
            try:
                async with asyncio.timeout(WAIT):
                    while waiting:
                        data = (await states.get())["event"]["data"]
                        new = data.get("new_state") or {}
                        entity_id = data["entity_id"]
                        if (
                            entity_id.startswith("event.")
                            and new.get("attributes", {}).get("event_type")
                            == event_type
                            and (device := await self._device_of(entity_id)) in waiting
                        ):
                            waiting.discard(device)
                            fired.append(entity_id)
                    while presses:
                        event = (await bus.get())["event"]["data"]
                        if event["type"] == "press":
                            presses.discard(event["device_id"])
            except TimeoutError as err:
                missing = [
                    f"{what} of {mac_to_str(macs[device])}"
                    for what, devices in (
                        (f"no {event_type} event entity", waiting),
                        (f"no {DOMAIN}_button press", presses),
                    )
                    for device in sorted(devices)
                ]
                raise CheckError(
                    f"timed out after {WAIT:.0f} s: {'; '.join(missing)}"
                ) from err
        return sorted(fired)

    @property
    def peers(self) -> list[SimPeer]:
        """The BTHome and the JSON peer."""
        return [self.bthome, self.json_peer]

    async def _button_event(self) -> None:
        async with self.check("button event") as c:

            def press() -> None:
                for peer in self.peers:
                    self.sim.gateway.emit_from(peer, press=True)

            fired = await self._fired(press, self.peers, "multi_press_end")
            c.detail = f"{', '.join(fired)}: multi_press_end; bus events: press"

    async def _raw_stream(self) -> None:
        async with self.check("raw stream") as c:
            sent: dict[tuple[str, str], str] = {}
            async with self.socket.subscription(
                f"{DOMAIN}/subscribe_packets", entry_id=self.entry_id, batch_interval=50
            ) as packets:
                subscription = packets.subscription
                for peer in self.peers:
                    payload = self.sim.gateway.peer_payload(peer)
                    self.sim.gateway.packet(peer.mac, payload, -50)
                    key = (mac_to_str(peer.mac), base64.b64encode(payload).decode())
                    sent[key] = peer.kind
                batch = 0
                async with _within("both frames in a batch"):
                    while sent:
                        event = (await packets.get())["event"]
                        if "batch" not in event:
                            continue
                        batch = event["batch"]
                        for packet in event["packets"]:
                            key = (packet["src"], packet["payload"])
                            if sent.get(key) not in (None, packet["kind"]):
                                raise CheckError(f"kind {packet['kind']} for {key}")
                            sent.pop(key, None)
                ack = await self.socket.call(
                    f"{DOMAIN}/ack_packets", subscription=subscription, batch=batch
                )
                if ack.get("in_flight") != 0:
                    raise CheckError(f"ack_packets answered {ack}")
            c.detail = f"both frames in batches up to {batch}, acknowledged"

    async def _bthome_additions(self) -> None:
        version = self.result.packages.get("bthome-ble", "0")
        bthome = _version_tuple(version)
        name = "hold_release (bthome-ble 3.25)"
        if bthome < (3, 25):
            self.skip(name, f"bthome-ble {version} has no 0x81 event")
        else:
            async with self.check(name) as c:
                payload = _bthome(self.bthome, bytes((0x3A, 0x81)))

                def hold_release() -> None:
                    self.sim.gateway.packet(self.bthome.mac, payload, -50)

                fired = await self._fired(
                    hold_release,
                    [self.bthome],
                    "long_press_end",
                )
                c.detail = f"{', '.join(fired)}: long_press_end"
        name = "firmware version (bthome-ble 3.24)"
        if bthome < (3, 24):
            self.skip(name, f"bthome-ble {version} has no 0xF1 object")
            return
        async with self.check(name) as c:
            payload = _bthome(self.bthome, bytes((0xF1, 0x00, 0x01, 0x02, 0x04)))
            self.sim.gateway.packet(self.bthome.mac, payload, -50)
            mac = mac_to_str(self.bthome.mac).lower()

            async def sw_version() -> str | None:
                for device in await self.refresh_devices():
                    if self.devices.get(mac) == device["id"]:
                        version = device.get("sw_version")
                        return str(version) if version == "4.2.1.0" else None
                return None

            c.detail = f"sw_version {await _until('the sw_version', sw_version)}"

    async def _reload(self) -> None:
        async with self.check("reload") as c:
            before = sorted(e["entity_id"] for e in await self.our_entities())
            since = await self._connected_since()
            answer = await self.hass.request(
                "POST", f"/api/config/config_entries/entry/{self.entry_id}/reload"
            )
            if answer.get("require_restart"):
                raise CheckError("reload asks for a restart")
            await self._reloaded(since)
            await self._values_shown(self._send_values())
            after = sorted(e["entity_id"] for e in await self.our_entities())
            if after != before:
                raise CheckError(f"entities changed: {before} -> {after}")
            c.detail = f"loaded again, the same {len(after)} entities show new values"

    async def _disable_and_port_missing(self) -> None:
        async with self.check("unload (disable)") as c:
            await self.socket.call(
                "config_entries/disable", entry_id=self.entry_id, disabled_by="user"
            )
            await self.wait_entry_state("not_loaded")
            states = await self.hass.request("GET", "/api/states")
            if live := sorted(
                s["entity_id"]
                for s in states
                if s["entity_id"] in self.entity_ids and s["state"] != "unavailable"
            ):
                raise CheckError(f"entities still live: {live}")
            hello = await probe(str(self.sim.url), hello_timeout=5.0)
            c.detail = f"not loaded, no entity live; the port opens again here ({hello.firmware})"
        helper = "usb.async_is_serial_port_present"
        async with self.check("port missing") as c:
            if _version_tuple(self.result.version) >= (2026, 11) and not (
                self.has_port_helper
            ):
                raise CheckError(f"{helper} is missing")
            issue = f"port_missing_{self.entry_id}"

            async def raised(present: bool) -> bool | None:
                answer = await self.socket.call("repairs/list_issues")
                ids = {i["issue_id"] for i in answer["issues"] if i["domain"] == DOMAIN}
                return True if (issue in ids) == present else None

            self.sim.unplug()
            try:
                await self.socket.call(
                    "config_entries/disable", entry_id=self.entry_id, disabled_by=None
                )
                await self.wait_entry_state("setup_retry")
                await _until(f"the issue {issue}", lambda: raised(True))
            finally:
                self.sim.plug()
            await self.wait_entry_state("loaded", limit=90)
            await _until(f"the issue {issue} to go", lambda: raised(False))
            await self._connected()
            via = helper if self.has_port_helper else f"os.path.exists: no {helper}"
            c.detail = f"issue raised (via {via}), gone once plugged in again"

    async def _delete(self) -> None:
        async with self.check("unload (delete)") as c:
            answer = await self.hass.request(
                "DELETE", f"/api/config/config_entries/entry/{self.entry_id}"
            )
            if answer.get("require_restart"):
                raise CheckError("deleting asks for a restart")
            if await self.hass.entries():
                raise CheckError("the entry is still there")
            if entities := await self.our_entities():
                raise CheckError(f"entities left: {entities}")
            if devices := await self.refresh_devices():
                raise CheckError(f"devices left: {devices}")
            c.detail = "entry, devices and entities gone"

    # ---- the log --------------------------------------------------------------------

    def _scan_log(self) -> None:
        """Fail on any warning or error record that mentions the integration."""
        check = Check("log", ok=True)
        self.result.checks.append(check)
        path = self.hass.config_dir / "home-assistant.log"
        if not path.exists():
            check.ok = False
            check.detail = "no home-assistant.log"
            return
        words = {DOMAIN, str(self.sim.url), *self.entity_ids}
        self.result.log_lines, self.result.ignored = scan_log(
            path.read_text(errors="replace"), words
        )
        if self.result.log_lines:
            check.ok = False
            check.detail = f"{len(self.result.log_lines)} warning/error records"
        else:
            check.detail = f"clean ({len(self.result.ignored)} expected records)"
