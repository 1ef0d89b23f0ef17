"""Compatibility check: the integration in a real ``hass`` of each supported version.

``scripts/test-compat`` builds one virtual environment per Home Assistant version and
runs this module with their interpreters (``--hass-python``, once per version). For
each, a fresh Home Assistant process with this integration and a simulated gateway on
a pty goes through what a user's installation does:

- ``hass`` starts without ``--skip-pip``, so Home Assistant installs what it and the
  integration need itself, as on a Core installation: each requirement with its own
  ``package_constraints.txt`` as constraints (bthome-ble is not pinned there, so the
  resolver picks what the version's pins allow);
- the entry is created through the config flow REST API on the simulator's pty;
- a BTHome and a JSON peer send frames: their sensors show the values sent, the
  gateway's connection binary sensor is on; a button press fires the peers' event
  entities and the ``espnow_gateway_button`` event (WebSocket ``subscribe_events``);
- the raw stream (``espnow_gateway/subscribe_packets``) delivers the frames, and
  ``ack_packets`` acknowledges the batch;
- what newer bthome-ble versions add (checked when the version Home Assistant
  installed has it): a hold release (0x81) reaches the event entity as
  ``long_press_end``; firmware-version objects (0xF1) become the device's
  ``sw_version`` (WebSocket ``config/device_registry/list``);
- diagnostics download; the options flow stores a setting; a reload brings the
  entities back;
- disabling the entry unloads it and lets go of the port (probed from here); enabled
  again with the gateway unplugged, set-up finds the port missing (through
  ``usb.async_is_serial_port_present`` where Home Assistant has it, 2026.11+) and
  raises the ``port_missing`` repair issue; plugged back in, the entry recovers and
  the issue goes;
- deleting the entry removes its devices and entities;
- Home Assistant stops, and its log (warnings of every logger) holds no warning or
  error that mentions the integration or its entities (see ``EXPECTED_LOG``).

Prints a table per version and a summary; exits non-zero if any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
import shutil
import sys
import tempfile

from .compat_checks import CompatRun
from .compat_report import summary, version_report


def _keep_logs(work: Path, version: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config/home-assistant.log", "hass.stdout.log"):
        if (work / name).exists():
            shutil.copyfile(work / name, folder / f"{version}-{Path(name).name}")


async def _main(args: argparse.Namespace) -> int:
    # Home Assistant installs requirements with uv, which trusts SSL_CERT_FILE but
    # not pip's PIP_CERT: hand pip's certificate bundle on when only that is set.
    if "SSL_CERT_FILE" not in os.environ and os.environ.get("PIP_CERT"):
        os.environ["SSL_CERT_FILE"] = os.environ["PIP_CERT"]
    results = []
    for python in args.hass_python:
        work = Path(tempfile.mkdtemp(prefix="espnow-compat-"))
        try:
            result = await CompatRun(python, work).run()
            if args.keep_logs is not None:
                _keep_logs(work, result.version, args.keep_logs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        results.append(result)
        print("\n".join(["", *version_report(result)]), flush=True)
    print("\n".join(["", *summary(results)]), flush=True)
    return 0 if results and all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.compat",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--hass-python",
        action="append",
        required=True,
        help="a Python with Home Assistant installed (once per version)",
    )
    parser.add_argument(
        "--keep-logs", type=Path, help="copy Home Assistant's logs here"
    )
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
