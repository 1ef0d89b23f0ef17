"""Loop probe: where Home Assistant's event loop spends its CPU, for ``scripts/bench`` only.

Never shipped: ``scripts/bench hass`` and ``scripts/bench scale`` link this folder into
the custom_components of their throw-away configurations (``loop_probe:`` in
configuration.yaml); ``hass`` times the spans in one extra run that is not part of
the comparisons (timing adds its own cost), ``scale`` only counts collections. At
set-up, before the gateway's entry exists, it wraps, with the event loop thread's CPU
clock (``time.thread_time_ns``):

- ``select``: the event loop's selector (waiting for the port; on a virtual machine
  the wake-up itself is charged to the waiting thread);
- ``port_read``: serialx's read callback (``os.read`` and serialx around it), which
  contains
- ``receive``: the integration's ``data_received`` (the frame codec, every peer's
  handling of its frames, writes an urgent frame makes at once);
- ``writes``: the integration's write scheduler's timer (coalesced state writes, Home
  Assistant's state machine and the recorder's listener included).

It also times every garbage collection (``gc.callbacks``; wall time, in whichever
thread it runs: the collector holds the GIL, so every thread waits meanwhile): per
generation, how many, their total and the longest.

Two administrator WebSocket commands: ``loop_probe/start`` starts counting (the spans
only with ``spans: true``: their timing costs CPU; the collections always);
``loop_probe/figures`` returns CPU nanoseconds and calls per span, the loop thread's
CPU since the start and the collections, and stops counting.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
import gc
import threading
import time
from typing import Any

from homeassistant.components import websocket_api
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType
import probatio as vol
from serialx.descriptor_transport import DescriptorTransport

# By the integration's own path, not as ``espnowgw``: what is wrapped must be the
# classes the running integration uses (its vendored copy of the library).
from custom_components.espnow_gateway.espnowgw.connection import _Protocol
from custom_components.espnow_gateway.scheduler import WriteScheduler

DOMAIN = "loop_probe"
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)
SPANS = ("select", "port_read", "receive", "writes")


class _Probe:
    def __init__(self) -> None:
        self.counting = False
        self.collecting = False
        self._collection_started: dict[int, int] = {}  # by thread
        self.reset()

    def reset(self) -> None:
        """Zero every figure; the loop thread's CPU clock starts again."""
        self.cpu_ns = dict.fromkeys(SPANS, 0)
        self.calls = dict.fromkeys(SPANS, 0)
        self.collections: dict[int, list[int]] = {}  # generation: pauses (ns)
        self.started_ns = time.thread_time_ns()

    def on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if not self.collecting:
            return
        thread = threading.get_ident()
        if phase == "start":
            self._collection_started[thread] = time.perf_counter_ns()
        elif (started := self._collection_started.pop(thread, None)) is not None:
            pauses = self.collections.setdefault(info["generation"], [])
            pauses.append(time.perf_counter_ns() - started)

    def timed[**P, R](self, span: str, func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not self.counting:
                return func(*args, **kwargs)
            start = time.thread_time_ns()
            try:
                return func(*args, **kwargs)
            finally:
                self.cpu_ns[span] += time.thread_time_ns() - start
                self.calls[span] += 1

        return wrapper


def _install(hass: HomeAssistant, probe: _Probe) -> None:
    selector = hass.loop._selector  # type: ignore[attr-defined]
    selector.select = probe.timed("select", selector.select)
    DescriptorTransport._read_ready = probe.timed(  # type: ignore[method-assign]
        "port_read", DescriptorTransport._read_ready
    )
    _Protocol.data_received = probe.timed(  # type: ignore[method-assign]
        "receive", _Protocol.data_received
    )
    WriteScheduler._scheduled = probe.timed(  # type: ignore[method-assign]
        "writes", WriteScheduler._scheduled
    )


@websocket_api.require_admin
@websocket_api.websocket_command(
    {
        vol.Required("type"): "loop_probe/start",
        vol.Optional("spans", default=False): bool,
    }
)
@callback
def _start(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    probe: _Probe = hass.data[DOMAIN]
    probe.reset()
    probe.counting = msg["spans"]
    probe.collecting = True
    connection.send_result(msg["id"], {})


@websocket_api.require_admin
@websocket_api.websocket_command({vol.Required("type"): "loop_probe/figures"})
@callback
def _figures(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    probe: _Probe = hass.data[DOMAIN]
    probe.counting = probe.collecting = False
    connection.send_result(
        msg["id"],
        {
            "loop_cpu_ns": time.thread_time_ns() - probe.started_ns,
            "cpu_ns": probe.cpu_ns,
            "calls": probe.calls,
            "collections": {
                str(generation): {
                    "count": len(pauses),
                    "total_ns": sum(pauses),
                    "longest_ns": max(pauses),
                }
                for generation, pauses in sorted(probe.collections.items())
            },
        },
    )


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Wrap what is timed and register the commands."""
    probe = _Probe()
    hass.data[DOMAIN] = probe
    _install(hass, probe)
    gc.callbacks.append(probe.on_collection)
    websocket_api.async_register_command(hass, _start)
    websocket_api.async_register_command(hass, _figures)
    return True
