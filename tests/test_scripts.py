"""The set-up script is safe to run from the wrong place."""

from __future__ import annotations

from pathlib import Path
import subprocess

REPO = Path(__file__).resolve().parents[1]


def test_setup_never_deletes_an_environment_it_cannot_run(tmp_path: Path) -> None:
    """A .venv of another interpreter (a container's) is kept, with a clear refusal."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to("/nonexistent/python3.14")
    (venv / "keep-me").write_text("an environment that works elsewhere")
    result = subprocess.run(
        [REPO / "scripts" / "setup"],
        env={"VENV": str(venv), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "does not run here" in result.stderr
    assert f"rm -rf {venv}" in result.stderr
    assert (venv / "keep-me").exists()
