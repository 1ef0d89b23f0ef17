"""The layering rules of docs/architecture.md, enforced.

1. The protocol library (``custom_components/espnow_gateway/espnowgw``) imports only the
   standard library, its own third-party requirements and itself (relatively, so that
   it works both vendored and as the ``espnowgw`` wheel). Nothing of Home Assistant,
   of the integration, of the development tools.
2. The integration imports Home Assistant, the library and itself; never the
   development tools. ``const.py`` imports nothing of the package; the runtime never
   imports its WebSocket face; there is no import circle between its modules.
3. The development tools (``devtools``, ``benchmarks``) use the library by its own
   name (``espnowgw``), as any other program would; they never ship: nothing of them
   is under ``custom_components/``.
"""

from __future__ import annotations

import ast
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "custom_components" / "espnow_gateway"
LIBRARY = PACKAGE / "espnowgw"
LIBRARY_REQUIREMENTS = {"serialx", "bthome_ble", "habluetooth", "sensor_state_data"}
DEV_TOOLS = ("devtools", "benchmarks", "tests")
# The runtime's WebSocket face: the commands and the raw-packet stream.
STREAM_MODULES = {
    "websocket_api",
    "stream",
    "stream_options",
    "stream_subscriber",
    "stream_wire",
}


def _imports(path: Path) -> list[tuple[str, int, list[str]]]:
    """Return (module, level, names) for every import in a file."""
    found: list[tuple[str, int, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level, [a.name for a in node.names]))
    return found


def _stdlib(module: str) -> bool:
    return (
        module.split(".", maxsplit=1)[0] in sys.stdlib_module_names
        or module == "__future__"
    )


def _library_files() -> list[Path]:
    files = sorted(LIBRARY.rglob("*.py"))
    assert files
    return files


@pytest.mark.parametrize(
    "path", _library_files(), ids=lambda p: str(p.relative_to(LIBRARY))
)
def test_library_imports_only_its_requirements(path: Path) -> None:
    depth = len(path.relative_to(LIBRARY).parts)  # 1: espnowgw/x.py, 2: decoders/x.py
    for module, level, _names in _imports(path):
        if level:
            assert level <= depth, f"{path.name} reaches outside the library"
            continue
        root = module.split(".")[0]
        assert _stdlib(module) or root in LIBRARY_REQUIREMENTS, (
            f"{path.relative_to(LIBRARY)} imports {module}"
        )


def test_library_imports_without_home_assistant() -> None:
    """Import every module of the library by its own name in a fresh interpreter."""
    modules = [
        ".".join(
            ("espnowgw", *path.relative_to(LIBRARY).with_suffix("").parts)
        ).removesuffix(".__init__")
        for path in _library_files()
    ]
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(REPO / 'lib')!r})\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in ('homeassistant', 'custom_components'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _integration_modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(PACKAGE.glob("*.py"))}


def _package_imports(path: Path) -> set[str]:
    """The integration's own modules that ``path`` imports at module level."""
    own = set(_integration_modules())
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:  # module level only: imports inside functions are lazy
        if isinstance(node, ast.If):  # if TYPE_CHECKING: not at run time
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:
                found.update(a.name for a in node.names if a.name in own)
            elif node.module.split(".")[0] in own:
                found.add(node.module.split(".")[0])
    found.discard("__init__")
    return found


def test_integration_never_imports_development_tools() -> None:
    for path in PACKAGE.glob("*.py"):
        for module, level, _names in _imports(path):
            assert level or module.split(".")[0] not in DEV_TOOLS, (path, module)
            assert level or not module.startswith("espnowgw"), (
                f"{path.name}: the integration imports its vendored library relatively"
            )


def test_const_imports_nothing_of_the_package() -> None:
    assert _package_imports(PACKAGE / "const.py") == set()
    assert not [m for m, level, _ in _imports(PACKAGE / "const.py") if level]


def test_runtime_does_not_know_its_websocket_face() -> None:
    for name in ("coordinator", "peer", "peer_table", "scheduler", "radio", "sender"):
        path = PACKAGE / f"{name}.py"
        if path.exists():
            assert not _package_imports(path) & STREAM_MODULES, name


def _assert_acyclic(graph: dict[str, set[str]]) -> None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, "import circle: " + " -> ".join([*visiting, name])
        visiting.append(name)
        for dep in sorted(graph.get(name, ())):
            visit(dep)
        visiting.pop()
        done.add(name)

    for name in graph:
        visit(name)


def test_no_import_circle_in_the_integration() -> None:
    _assert_acyclic(
        {name: _package_imports(path) for name, path in _integration_modules().items()}
    )


def _library_module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY).with_suffix("").parts
    return ".".join(("espnowgw", *parts)).removesuffix(".__init__")


def test_no_import_circle_in_the_library() -> None:
    names = {_library_module_name(path): path for path in _library_files()}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                deps.add(sub if sub in names else target)
        deps.discard(name)
        graph[name] = deps
    _assert_acyclic(graph)


def test_nothing_of_the_development_tools_ships() -> None:
    assert not [p for p in PACKAGE.rglob("*.py") if p.stem == "simulator"]


FIRMWARE_CORE = REPO / "firmware" / "core"
C_LIBRARY_HEADERS = {
    "stdarg.h",
    "stdatomic.h",
    "stdbool.h",
    "stddef.h",
    "stdint.h",
    "stdio.h",
    "stdlib.h",
    "string.h",
}


def test_firmware_core_is_portable() -> None:
    """The core includes only the C library and its own headers: no ESP-IDF."""
    files = sorted([*FIRMWARE_CORE.glob("*.c"), *FIRMWARE_CORE.glob("*.h")])
    assert files
    own = {path.name for path in files}
    for path in files:
        for line in path.read_text().splitlines():
            if not line.lstrip().startswith("#include"):
                continue
            header = line.split("#include", 1)[1].strip()
            name = header.strip('<>"')
            if header.startswith('"'):
                assert name in own, f"{path.name}: {line}"
            else:
                assert name in C_LIBRARY_HEADERS, f"{path.name}: {line}"
