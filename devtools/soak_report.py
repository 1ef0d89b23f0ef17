"""The soak's figures and targets, from what ``devtools.soak`` collected.

Delivery is exact: the simulator records, per boot (plug to unplug), how many packet
frames it wrote and which of them it damaged; each fast subscriber records, per boot,
every ``seq`` it received. Within the span the link was up (first to last packet a
subscriber received in that boot) every frame written intact must be there and no
damaged one may be; what was written before the link came up or was still in the pty
when it was pulled is counted apart.
"""

from __future__ import annotations

import argparse
import base64
from collections import Counter
from pathlib import Path
import re
from typing import Any

REPLUG_LIMIT = 2.0  # s from the device reappearing to the Connection entity's "on"
RSS_LIMIT = 5e6  # bytes of growth after the warm-up
INTEGRATION_LIMIT = 0.5e6  # bytes of traced growth in the integration's files
FDS_SLACK = 2  # a stalled client's connection may be open at one sample, not the other
TASKS_SLACK = 5  # per-connection tasks of that client, and timers' one-off tasks
_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d [\d:.]+ (WARNING|ERROR|CRITICAL) \(([^)]*)\) \[([^\]]*)\] (.*)$"
)
_NUMBERS = re.compile(r"\d+(\.\d+)?")


def log_lines(path: Path) -> dict[str, Any]:
    """Every warning and error line of Home Assistant's log, grouped; tracebacks."""
    text = path.read_text(errors="replace") if path.exists() else ""
    groups: Counter[tuple[str, str, str]] = Counter()
    examples: dict[tuple[str, str, str], str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        level, _, logger, message = match.groups()
        key = (level, logger, _NUMBERS.sub("#", message)[:160])
        groups[key] += 1
        examples.setdefault(key, message[:400])
    return {
        "tracebacks": text.count("Traceback (most recent call last)"),
        "error_handling_request": text.count("Error handling request"),
        "task_exceptions": text.count("Task exception was never retrieved"),
        "groups": [
            {"level": k[0], "logger": k[1], "count": n, "example": examples[k]}
            for k, n in groups.most_common()
        ],
        "traceback_excerpt": _excerpt(text),
    }


def _excerpt(text: str) -> list[str]:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "Traceback (most recent call last)" in line:
            return [ln[:300] for ln in lines[max(0, index - 2) : index + 25]]
    return []


def _bits(encoded: str) -> int:
    return int.from_bytes(base64.b64decode(encoded), "little")


def delivery(run: dict[str, Any]) -> dict[str, Any]:
    """Per fast subscriber: frames written intact vs delivered, boot by boot."""
    boots = run["boots"]
    damaged = [_bits(boot["damaged"]) for boot in boots]
    clients = (run.get("clients") or {}).get("fast") or []
    out: list[dict[str, Any]] = []
    for client in clients:
        totals = Counter[str]()
        per_boot: dict[int, Counter[str]] = {}
        for segment in client.get("segments", []):
            index = max(
                (
                    i
                    for i, b in enumerate(boots)
                    if b["plugged_at"] <= segment["first_time"]
                ),
                default=0,
            )
            boot, bad = boots[index], damaged[index]
            first, last = segment["first"], segment["last"]
            width = last - first + 1
            mask = (1 << width) - 1
            bad_window = (bad >> first) & mask
            received = _bits(segment["bits"]) & mask
            counts = per_boot.setdefault(index, Counter())
            counts["intact"] += width - bad_window.bit_count()
            counts["received"] += received.bit_count()
            counts["lost"] += (~bad_window & mask & ~received).bit_count()
            counts["damaged_delivered"] += (received & bad_window).bit_count()
            if index > 0:  # boot 0 began before the subscribers did
                counts["before_link_up"] += (
                    first - (bad & ((1 << first) - 1)).bit_count()
                )
            counts["at_unplug"] += (
                max(0, boot["written"] - last - 1) - (bad >> (last + 1)).bit_count()
            )
        for index, boot in enumerate(boots):
            if index not in per_boot and boot["written"]:
                totals["boots_never_delivered"] += 1
                totals["never_delivered"] += boot["written"] - boot["corrupted"]
        for counts in per_boot.values():
            totals.update(counts)
        out.append(
            {
                **dict(totals),
                "dropped_reported": client["dropped_reported"],
                "closed_by_server": client["closed_by_server"],
                "out_of_order": client["out_of_order"],
                "lost_by_boot": {
                    i: c["lost"] for i, c in per_boot.items() if c["lost"]
                },
            }
        )
    before, after = run["link_before"], run["link_after"]
    return {
        "clients": out,
        "written": sum(b["written"] for b in boots),
        "damaged": sum(b["corrupted"] for b in boots),
        "link_packets": after["packets"] - before["packets"],
        "link_seq_gaps": after["packets_lost"] - before["packets_lost"],
        "link_crc_errors": after["decoder"]["crc_errors"]
        - before["decoder"]["crc_errors"],
        "gateway_queue_drops": run["gateway_stats"]["rx_dropped"],
    }


def reconnects(run: dict[str, Any]) -> dict[str, Any]:
    """Seconds from each replug to the Connection entity's next "on"."""
    changes = [(state, lc) for state, lc in run["connection_changes"]]
    times: list[float | None] = []
    detected: list[float] = []
    boots = run["boots"]
    for boot in boots[1:]:
        plug, end = boot["plugged_at"], boot["unplugged_at"] or float("inf")
        on = [lc for state, lc in changes if state == "on" and plug - 0.01 <= lc <= end]
        times.append(min(on) - plug if on else None)
    for boot in boots[:-1]:
        gone = boot["unplugged_at"]
        off = [lc for state, lc in changes if state == "off" and lc >= gone - 0.01]
        if off:
            detected.append(min(off) - gone)
    done = sorted(t for t in times if t is not None)
    return {
        "replugs": len(times),
        "seconds": [None if t is None else round(t, 3) for t in times],
        "not_recovered": sum(t is None for t in times),
        "p50": _percentile(done, 0.5),
        "p99": _percentile(done, 0.99),
        "max": done[-1] if done else None,
        "over_limit": sum(t is None or t > REPLUG_LIMIT for t in times),
        "unplug_noticed_max": max(detected, default=None),
    }


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def memory(run: dict[str, Any]) -> dict[str, Any]:
    """RSS, fds, tasks and traced memory: warm-up vs end."""
    warm, end = run["figures"]["warm"], run["figures"]["end"]
    trace = run["figures"]["tracemalloc"]
    samples = [s for s in run["samples"] if s["t"] >= warm["t"]]
    third = samples[len(samples) * 2 // 3 :] or samples
    return {
        "rss_warm": warm["rss"],
        "rss_end": end["rss"],
        "rss_growth": end["rss"] - warm["rss"],
        "rss_growth_last_third": third[-1]["rss"] - third[0]["rss"],
        "rss_peak": max(s["rss"] for s in samples),
        "tracemalloc_overhead_growth": end["tracemalloc_overhead"]
        - warm["tracemalloc_overhead"],
        "fds_warm": warm["fds"],
        "fds_end": end["fds"],
        "fds_range": [min(s["fds"] for s in samples), max(s["fds"] for s in samples)],
        "threads_warm": warm.get("threads"),
        "threads_end": end.get("threads"),
        "tasks_warm": warm["tasks"],
        "tasks_end": end["tasks"],
        "tasks_range": [
            min(s["tasks"] for s in samples),
            max(s["tasks"] for s in samples),
        ],
        # None when the run did not trace allocations (the untraced control).
        "traced_growth": trace.get("growth_total"),
        "traced_growth_integration": trace.get("growth_integration"),
        "traced_integration": trace.get("traced_integration"),
        "top_files": trace.get("top_files", [])[:8],
        "top_integration_lines": trace.get("top_integration_lines", [])[:8],
    }


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:+.2f} MB"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _print_run(name: str, run: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    plan = run["plan"]
    mem = memory(run)
    lines = [
        f"== {name}: {plan['duration']:.0f} s, warm-up {plan['warmup']:.0f} s, "
        f"{plan['rate']:.0f} frames/s from {plan['peers']} peers, "
        f"{plan['corrupt_rate'] * 100:g} % damaged bytes, "
        + (
            f"replug every {plan['replug_every']:g} s"
            if plan["replug_every"]
            else "no replugs"
        )
        + f", recorder {'on' if plan['recorder'] else 'off'}"
        + ("" if plan["traffic_after_warmup"] else ", no traffic after the warm-up")
        + (f" ({seconds:.0f} s wall)" if seconds else ""),
        (
            f"   RSS {mem['rss_warm'] / 1e6:.1f} -> {mem['rss_end'] / 1e6:.1f} MB "
            f"({_mb(mem['rss_growth'])}; last third "
            f"{_mb(mem['rss_growth_last_third'])}; peak {mem['rss_peak'] / 1e6:.1f} MB;"
            f" tracemalloc's own {_mb(mem['tracemalloc_overhead_growth'])})"
        ),
        (
            f"   traced Python growth {_mb(mem['traced_growth'])}, in the "
            f"integration's files {_mb(mem['traced_growth_integration'])} "
            f"(it holds {mem['traced_integration'] / 1e6:.2f} MB in all)"
            if mem["traced_growth"] is not None
            else "   Python allocations not traced (no tracemalloc)"
        ),
        (
            f"   open fds {mem['fds_warm']} -> {mem['fds_end']} (range "
            f"{mem['fds_range']}), asyncio tasks {mem['tasks_warm']} -> "
            f"{mem['tasks_end']} (range {mem['tasks_range']}), threads "
            f"{mem['threads_warm']} -> {mem['threads_end']}"
        ),
    ]
    lines += [
        f"     growth {_mb(row['size_diff'])} {row['where']}"
        for row in mem["top_files"][:5]
    ]
    lines += [
        f"     integration {_mb(row['size_diff'])} {row['where']}"
        for row in mem["top_integration_lines"][:5]
    ]
    result: dict[str, Any] = {"memory": mem}
    if plan["replug_every"]:
        rec = reconnects(run)
        result["reconnects"] = rec
        lines.append(
            f"   replugs {rec['replugs']}: reconnect p50 {_s(rec['p50'])}, p99 "
            f"{_s(rec['p99'])}, max {_s(rec['max'])}; over {REPLUG_LIMIT:g} s or not "
            f"recovered: {rec['over_limit']}; unplug noticed within "
            f"{_s(rec['unplug_noticed_max'])}"
        )
        lines.append(f"     each: {rec['seconds']}")
    if run.get("clients"):
        deliv = delivery(run)
        result["delivery"] = deliv
        lines.append(
            f"   frames written {deliv['written']} ({deliv['damaged']} damaged), the "
            f"integration decoded {deliv['link_packets']}, seq gaps "
            f"{deliv['link_seq_gaps']}, CRC errors {deliv['link_crc_errors']}, gateway "
            f"queue drops {deliv['gateway_queue_drops']}"
        )
        for index, client in enumerate(deliv["clients"]):
            lines.append(
                f"   fast subscriber {index + 1}: intact while the link was up "
                f"{client.get('intact', 0)}, delivered {client.get('received', 0)}, LOST "
                f"{client.get('lost', 0)}, damaged delivered "
                f"{client.get('damaged_delivered', 0)}; before the link was up "
                f"{client.get('before_link_up', 0)}, in the pty at unplug "
                f"{client.get('at_unplug', 0)}; dropped reported "
                f"{client['dropped_reported']}, closed {client['closed_by_server']}"
            )
        capped = run["clients"].get("capped")
        if capped:
            lines.append(
                f"   capped subscriber (20/s): received {capped['received']}, dropped "
                f"reported {capped['dropped_reported']}, closed {capped['closed_by_server']}"
            )
        stalled = run["clients"].get("stalled") or []
        closed = [s["server_closed_after_s"] for s in stalled if s["closed_by_server"]]
        lines.append(
            f"   stalled subscriber: {len(stalled)} connections, "
            f"{len(closed)} closed by Home Assistant after "
            + (f"{min(closed):.0f}..{max(closed):.0f} s" if closed else "-")
        )
    card = run.get("card")
    if card:
        lines.append(
            f"   card in Chromium: received {card['received']} packets in "
            f"{card['batches']} batches, dropped reported {card['dropped_reported']}, "
            f"states {card['states']} (live {card['live_share'] * 100:.0f} % of samples), "
            f"console errors {card['console_error_count']}"
        )
        lines += [f"     {text[:200]}" for text in card["console_errors"][:5]]
    log = run["log"]
    lines.append(
        f"   Home Assistant's log: {log['tracebacks']} tracebacks, "
        f"{sum(g['count'] for g in log['groups'])} warning/error lines:"
    )
    lines += [
        f"     {g['count']:5d} x {g['level']} [{g['logger']}] {g['example'][:200]}"
        for g in log["groups"]
    ]
    lines += [f"     | {line}" for line in log["traceback_excerpt"]]
    print("\n".join(lines), flush=True)
    return result


def report(reports: dict[str, Any], args: argparse.Namespace) -> int:
    """Print every run and the targets; return the exit code (1: a target missed)."""
    runs = reports["runs"]
    seconds = reports.get("seconds", {})
    if reports["browser"] is None:
        print(
            "== NOTE: no Chromium (not installed, or the soak was not started by "
            "scripts/soak outside the Python runner): the packet monitor card was NOT one "
            "of the subscribers; a third fast Python client took its place",
            flush=True,
        )
    results = {
        name: _print_run(name, run, seconds.get(name)) for name, run in runs.items()
    }
    main, mem = runs["main"], results["main"]["memory"]
    rec = results["main"].get("reconnects")
    deliv = results["main"].get("delivery")
    targets: list[tuple[str, bool | str, str]] = []
    if rec is not None:
        targets.append(
            (
                f"every replug recovered within {REPLUG_LIMIT:g} s",
                rec["over_limit"] == 0 and rec["replugs"] > 0,
                f"{rec['replugs'] - rec['over_limit']}/{rec['replugs']}, max {_s(rec['max'])}",
            )
        )
    rss_ok: bool | str = mem["rss_growth"] < RSS_LIMIT
    rss_note = f"{_mb(mem['rss_growth'])}"
    controls = {n: r["memory"] for n, r in results.items() if n != "main"}
    traced = {
        n: m
        for n, m in [("main", mem), *controls.items()]
        if m["traced_growth"] is not None
    }
    if controls:
        rss_note += "; controls: " + ", ".join(
            f"{n} {_mb(m['rss_growth'])}"
            + (
                f" (integration traced {_mb(m['traced_growth_integration'])})"
                if n in traced
                else ""
            )
            for n, m in controls.items()
        )
        untraced = controls.get("untraced")
        if not rss_ok and untraced is not None and untraced["rss_growth"] < RSS_LIMIT:
            # The same scenario without tracemalloc: the main run's extra growth is
            # the tracer's own (its traces of everything Home Assistant allocates).
            rss_ok = True
            rss_note += " (met without tracemalloc)"
        if not rss_ok:
            quiet = controls.get("no recorder")
            if (
                quiet is not None
                and quiet["rss_growth"] < RSS_LIMIT
                and mem["traced_growth_integration"] is not None
                and mem["traced_growth_integration"] <= INTEGRATION_LIMIT
            ):
                rss_ok = "explained"
    targets.append(
        (f"RSS growth after warm-up < {RSS_LIMIT / 1e6:g} MB", rss_ok, rss_note)
    )
    for name, m in traced.items():
        targets.append(
            (
                f"integration's traced growth <= {INTEGRATION_LIMIT / 1e6:g} MB ({name})",
                m["traced_growth_integration"] <= INTEGRATION_LIMIT,
                _mb(m["traced_growth_integration"]),
            )
        )
    targets.append(
        (
            "open fds flat",
            mem["fds_end"] <= mem["fds_warm"] + FDS_SLACK,
            f"{mem['fds_warm']} -> {mem['fds_end']} (slack {FDS_SLACK})",
        )
    )
    targets.append(
        (
            "asyncio tasks flat",
            mem["tasks_end"] <= mem["tasks_warm"] + TASKS_SLACK,
            f"{mem['tasks_warm']} -> {mem['tasks_end']} (slack {TASKS_SLACK})",
        )
    )
    tracebacks = {name: run["log"]["tracebacks"] for name, run in runs.items()}
    targets.append(("no traceback", not any(tracebacks.values()), str(tracebacks)))
    if deliv is not None:
        lost = sum(
            c.get("lost", 0) + c.get("never_delivered", 0) for c in deliv["clients"]
        )
        damaged = sum(c.get("damaged_delivered", 0) for c in deliv["clients"])
        targets.append(
            (
                "nothing lost while plugged in (nor damaged delivered)",
                lost == 0 and damaged == 0,
                f"lost {lost}, damaged delivered {damaged}",
            )
        )
    if main.get("card") is not None:
        card = main["card"]
        targets.append(
            (
                "the card stayed live, no console error",
                card["live_share"] == 1.0 and card["console_error_count"] == 0,
                f"live {card['live_share'] * 100:.0f} %, errors {card['console_error_count']}",
            )
        )
    failed = [name for name, ok, _ in targets if ok is False]
    print("== targets", flush=True)
    for name, ok, note in targets:
        verdict = (
            "met" if ok is True else ("EXPLAINED" if ok == "explained" else "MISSED")
        )
        print(f"   {verdict:9} {name}: {note}", flush=True)
    total = reports.get("total_seconds")
    print(
        f"== soak {'--ci ' if args.ci else ''}done in {total or 0:.0f} s: "
        + ("every target met" if not failed else f"MISSED: {', '.join(failed)}"),
        flush=True,
    )
    return 1 if failed else 0
