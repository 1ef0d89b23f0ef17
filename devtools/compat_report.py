"""The compatibility check's results, its judgement of Home Assistant's log, its report.

No I/O: ``devtools.compat_checks`` fills the results, ``devtools.compat`` prints them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import re

# Log records that mention the integration and are fine, each with its reason.
EXPECTED_LOG: tuple[tuple[str, str], ...] = (
    (
        r"We found a custom integration espnow_gateway which has not been tested",
        "Home Assistant's standard notice for every custom integration",
    ),
)
_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?:[+-]\d\d:\d\d)? "
    r"(?P<level>[A-Z]+) \((?P<thread>[^)]*)\) \[(?P<logger>[^\]]+)\] "
)


@dataclass
class Check:
    """The outcome of one check."""

    name: str
    ok: bool | None  # None: skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass
class VersionResult:
    """Everything one Home Assistant version did."""

    python: str
    version: str = "?"
    packages: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)  # offending records
    ignored: list[str] = field(default_factory=list)  # expected records, with reasons
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every check that ran passed (and at least one ran)."""
        return bool(self.checks) and all(c.ok is not False for c in self.checks)


def scan_log(text: str, words: Iterable[str]) -> tuple[list[str], list[str]]:
    """Find the warning and error records of a log that mention any of ``words``.

    Returns the offending records (with their tracebacks), and the first lines of
    the expected ones (``EXPECTED_LOG``) with the reason each is fine.
    """
    words = set(words)
    offending: list[str] = []
    expected: list[str] = []
    for record in log_records(text):
        head = _RECORD.match(record)
        if head is None or head["level"] not in ("WARNING", "ERROR", "CRITICAL"):
            continue
        if not any(word in record for word in words):
            continue
        reason = next(
            (why for pattern, why in EXPECTED_LOG if re.search(pattern, record)), None
        )
        if reason is None:
            offending.append(record.rstrip())
        else:
            expected.append(f"{record.splitlines()[0][:160]}  [{reason}]")
    return offending, expected


def log_records(text: str) -> list[str]:
    """Split Home Assistant's log into records (a line and its traceback, if any)."""
    records: list[str] = []
    for line in text.splitlines(keepends=True):
        if _RECORD.match(line) or not records:
            records.append(line)
        else:
            records[-1] += line
    return records


def _mark(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "skip"}[ok]


def version_report(result: VersionResult) -> list[str]:
    """One version's table: every check, expected log records, offending ones."""
    packages = ", ".join(f"{k} {v}" for k, v in result.packages.items())
    lines = [f"== Home Assistant {result.version} ({packages or result.python})"]
    lines.extend(
        f"  {_mark(c.ok)}  {c.name:<34} {c.seconds:6.2f} s  {c.detail}"
        for c in result.checks
    )
    lines.extend(f"  expected log record: {line}" for line in result.ignored)
    lines.extend(
        "  log: " + record.replace("\n", "\n       ") for record in result.log_lines
    )
    lines.append(f"  {'passed' if result.ok else 'FAILED'} in {result.seconds:.1f} s")
    return lines


def summary(results: list[VersionResult]) -> list[str]:
    """One line per version."""
    lines = ["== Summary"]
    for result in results:
        marks = [_mark(c.ok) for c in result.checks]
        lines.append(
            f"  {'PASS' if result.ok else 'FAIL'}  Home Assistant {result.version}: "
            f"{marks.count('PASS')} passed, {marks.count('FAIL')} failed, "
            f"{marks.count('skip')} skipped, {result.seconds:.0f} s"
        )
    return lines
