"""Run the benchmarks: ``scripts/bench [name ...]`` (``--list`` shows the names)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
import importlib
import json
from pathlib import Path
import sys
import time
from typing import Any

BENCHMARKS: dict[str, str] = {
    "codec": "benchmarks.codec",
    "firmware": "benchmarks.firmware",
    "hass": "benchmarks.hass_load",
    "stream": "benchmarks.stream_load",
    "hub": "benchmarks.stream_hub",
    "scale": "benchmarks.scale",
    "hotpath": "benchmarks.hot_path",
}


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and print their reports."""
    parser = argparse.ArgumentParser(prog="scripts/bench")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks")
    parser.add_argument(
        "--quick", action="store_true", help="shorter runs (smoke test)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results: dict[str, Any] = {}
    for name in args.names or list(BENCHMARKS):
        module = importlib.import_module(BENCHMARKS[name])
        run: Callable[[bool], dict[str, Any]] = module.run
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        results[name] = run(args.quick)
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
