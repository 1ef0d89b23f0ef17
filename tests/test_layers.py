"""The layering rules: ``link/`` and ``decoders/`` stand alone, without Home Assistant."""

from __future__ import annotations

import ast
from pathlib import Path
import subprocess
import sys

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "custom_components" / "espnow_gateway"
STANDALONE = ("link", "decoders")


def _imports(path: Path) -> list[tuple[str, int]]:
    """Return (module, level) for every import in a file."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


@pytest.mark.parametrize("layer", STANDALONE)
def test_no_home_assistant_imports(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files
    for path in files:
        for module, level in _imports(path):
            assert not (level == 0 and module.split(".")[0] == "homeassistant"), (
                f"{path.relative_to(PACKAGE)} imports {module}"
            )
            # Only relative imports inside the layer itself: it could ship on PyPI as is.
            assert level <= 1, f"{path.relative_to(PACKAGE)} reaches outside {layer}/"
            assert not module.startswith("custom_components"), path


def test_layers_import_without_home_assistant() -> None:
    """Import every module of the standalone layers in a fresh interpreter."""
    modules = [
        f"{layer}.{path.stem}" if path.stem != "__init__" else layer
        for layer in STANDALONE
        for path in sorted((PACKAGE / layer).glob("*.py"))
    ]
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(PACKAGE)!r})\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'homeassistant')\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
