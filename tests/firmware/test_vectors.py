"""The shared protocol vectors: the committed file is what the Python library generates.

The C tests (scripts/test-firmware) check the firmware core against the same file, so a
change on either side that breaks the other fails CI.
"""

from __future__ import annotations

from pathlib import Path

from devtools import protocol_vectors


def test_committed_vectors_are_current() -> None:
    committed = protocol_vectors.PATH.read_text(encoding="utf-8")
    assert committed == protocol_vectors.generate(), (
        "firmware/tests/vectors.txt is out of date: python -m devtools.protocol_vectors"
    )


def test_check_mode(tmp_path: Path) -> None:
    stale = tmp_path / "vectors.txt"
    stale.write_text("# old\n", encoding="utf-8")
    assert protocol_vectors.main(["--check", "--output", str(stale)]) == 1
    assert protocol_vectors.main(["--output", str(stale)]) == 0
    assert protocol_vectors.main(["--check", "--output", str(stale)]) == 0
