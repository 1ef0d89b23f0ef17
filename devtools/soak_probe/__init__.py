"""Soak probe: figures from inside a Home Assistant process, for ``scripts/soak`` only.

Never shipped: ``scripts/soak`` links this folder into the custom_components of its own
throw-away configuration (``soak_probe:`` in configuration.yaml). It answers three
administrator WebSocket commands:

- ``soak_probe/trace``: start tracing Python allocations (``tracemalloc``, one frame);
  a run that never asks (``scripts/soak --no-trace``, the "untraced" control) shows
  Home Assistant's memory without the tracer's own;
- ``soak_probe/mark``: take the reference snapshot (the end of the soak's warm-up), if
  allocations are traced;
- ``soak_probe/figures``: the event loop's task count, what ``tracemalloc`` traces now
  (and its own overhead), and with ``compare: true`` the growth since the mark, in total
  and in the integration's files (``custom_components/espnow_gateway/``), with the
  largest growths by file and, in the integration, by line.

Snapshots are taken and compared in the executor; the event loop waits for the GIL
meanwhile (a second or two at most), which is why the soak asks only twice.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

from homeassistant.components import websocket_api
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType
import probatio as vol

DOMAIN = "soak_probe"
INTEGRATION_FILES = "/custom_components/espnow_gateway/"
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)
_FILTERS = (
    tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__),
    tracemalloc.Filter(
        inclusive=False, filename_pattern="<frozen importlib._bootstrap>"
    ),
)


class _Probe:
    def __init__(self) -> None:
        self.mark: tracemalloc.Snapshot | None = None


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(_FILTERS)


def _compare(mark: tracemalloc.Snapshot) -> dict[str, Any]:
    now = _snapshot()
    by_file = now.compare_to(mark, "filename")
    ours = [s for s in by_file if INTEGRATION_FILES in s.traceback[0].filename]
    by_line = [
        s
        for s in now.compare_to(mark, "lineno")
        if INTEGRATION_FILES in s.traceback[0].filename
    ]

    def rows(stats: list[tracemalloc.StatisticDiff]) -> list[dict[str, Any]]:
        return [
            {
                "where": f"{s.traceback[0].filename}:{s.traceback[0].lineno}",
                "size_diff": s.size_diff,
                "count_diff": s.count_diff,
                "size": s.size,
            }
            for s in sorted(stats, key=lambda s: -abs(s.size_diff))[:12]
        ]

    return {
        "growth_total": sum(s.size_diff for s in by_file),
        "growth_integration": sum(s.size_diff for s in ours),
        "traced_integration": sum(s.size for s in ours),
        "top_files": rows(by_file),
        "top_integration_lines": rows(by_line),
    }


@callback
def _figures(hass: HomeAssistant) -> dict[str, Any]:
    current, peak = tracemalloc.get_traced_memory()
    return {
        "tasks": len(asyncio.all_tasks(hass.loop)),
        "traced_current": current,
        "traced_peak": peak,
        "tracemalloc_overhead": tracemalloc.get_tracemalloc_memory(),
    }


@websocket_api.require_admin
@websocket_api.websocket_command({vol.Required("type"): "soak_probe/trace"})
@callback
def _trace(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    if not tracemalloc.is_tracing():
        tracemalloc.start(1)
    connection.send_result(msg["id"], _figures(hass))


@websocket_api.require_admin
@websocket_api.websocket_command({vol.Required("type"): "soak_probe/mark"})
@websocket_api.async_response
async def _mark(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    probe: _Probe = hass.data[DOMAIN]
    if tracemalloc.is_tracing():
        probe.mark = await hass.async_add_executor_job(_snapshot)
    connection.send_result(msg["id"], _figures(hass))


@websocket_api.require_admin
@websocket_api.websocket_command(
    {vol.Required("type"): "soak_probe/figures", vol.Optional("compare"): bool}
)
@websocket_api.async_response
async def _report(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    probe: _Probe = hass.data[DOMAIN]
    result = _figures(hass)
    if msg.get("compare") and probe.mark is not None:
        result |= await hass.async_add_executor_job(_compare, probe.mark)
    connection.send_result(msg["id"], result)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the commands."""
    hass.data[DOMAIN] = _Probe()
    websocket_api.async_register_command(hass, _trace)
    websocket_api.async_register_command(hass, _mark)
    websocket_api.async_register_command(hass, _report)
    return True
