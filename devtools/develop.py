"""Develop mode: a real Home Assistant with this integration and a simulated gateway.

``scripts/develop`` runs this. Home Assistant keeps its state in ``config/`` (git
ignores it), is onboarded with the user ``dev`` / ``dev`` on first start, and gets a
gateway entry for the simulated gateway behind ``config/espnow-gateway`` (a pty) and
a dashboard "ESP-NOW" with the packet monitor card. Home Assistant's warnings and
errors are shown (and kept in ``config/home-assistant.log``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
import signal
import sys
from typing import Any

from devtools.simulator import PAYLOAD_KINDS, PtyGateway, SimulatorConfig, run_traffic

from . import instance_checks
from .hass_instance import PASSWORD, REPO, USERNAME, HassInstance

DASHBOARD = "espnow-gateway"
DASHBOARD_VIEW = "packets"
MONITOR_CARD = {"type": "custom:espnow-packet-monitor", "title": "Packets"}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/develop", description=__doc__)
    parser.add_argument(
        "--port", type=int, default=8123, help="HTTP port (default 8123)"
    )
    parser.add_argument(
        "--config", type=Path, default=REPO / "config", help="config dir"
    )
    parser.add_argument("--peers", type=int, default=6, help="simulated ESP-NOW peers")
    parser.add_argument("--rate", type=float, default=0.2, help="frames/s per peer")
    parser.add_argument(
        "--repeats", type=int, default=3, help="copies of each button press"
    )
    parser.add_argument(
        "--unplug-every", type=float, default=None, help="unplug every N s"
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after N seconds"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the instance (entities, services, repairs, automations), then exit",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not show Home Assistant's log"
    )
    return parser.parse_args(argv)


async def bring_up(
    hass: HassInstance, link: str, *, card: dict[str, Any] | None = None
) -> None:
    """Onboard a started instance, add the gateway at ``link``, make the dashboard.

    The dashboard a new user finds has the packet monitor (``card``); it is made once
    and then left as the user edits it, unless another ``card`` is given.
    """
    await hass.onboard()
    await hass.ignore_own_repairs()
    if not await hass.entries():
        await hass.add_gateway(link)
    await hass.ensure_dashboard(
        DASHBOARD,
        "ESP-NOW",
        [
            {
                "title": "Packets",
                "path": DASHBOARD_VIEW,
                "type": "panel",  # the whole width: a packet table needs it
                "cards": [card or MONITOR_CARD],
            }
        ],
        overwrite=card is not None,
    )


async def _main(args: argparse.Namespace) -> int:
    config_dir: Path = args.config
    config_dir.mkdir(parents=True, exist_ok=True)
    simulator = PtyGateway(
        SimulatorConfig(
            peers=args.peers,
            rate=args.rate,
            kinds=PAYLOAD_KINDS,
            repeats=args.repeats,
            unplug_every=args.unplug_every,
            seed=1,
        ),
        config_dir / "espnow-gateway",
    )
    link = simulator.plug()
    hass = HassInstance(config_dir, port=args.port, log_level="warning")
    traffic = asyncio.create_task(run_traffic(simulator))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await hass.start(show_log=not args.quiet)
        await bring_up(hass, link)
        print(
            f"\nHome Assistant: {hass.url}  (user {USERNAME!r}, password {PASSWORD!r})\n"
            f"Packet monitor: {hass.url}/{DASHBOARD}/{DASHBOARD_VIEW}\n"
            f"Simulated gateway on {link} with {args.peers} peers\n"
            f"Home Assistant's log: {hass.log_file}\nCtrl-C stops.\n",
            flush=True,
        )
        if args.check:
            for line in await instance_checks.run_all(hass):
                print(f"develop check: {line}", flush=True)
            return 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.duration):
                await stop.wait()
        return 0
    finally:
        traffic.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await traffic
        await hass.stop()
        simulator.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(_main(_parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
