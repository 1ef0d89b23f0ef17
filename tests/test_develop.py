"""``scripts/develop`` works: a real Home Assistant process gets the simulated gateway.

Runs the develop tool with ``--check``: it starts Home Assistant, onboards it, adds the
gateway through the config flow API as the UI does, waits for the peers' entities
over the REST API and exits.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

REPO = Path(__file__).resolve().parents[1]


def test_develop_mode_brings_up_home_assistant_with_the_gateway(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.develop",
            "--check",
            "--quiet",
            "--port",
            "0",
            "--config",
            str(tmp_path / "config"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "develop check: entities are up" in result.stdout
