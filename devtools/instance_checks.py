"""Checks that a development instance works as a user expects (``develop --check``).

Each check drives the instance through the APIs its UI uses and raises
``AssertionError`` with what is wrong.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .hass_instance import HassInstance

CHECK_AUTOMATION_ID = "espnow_develop_check"
CHECK_EVENT = "espnow_develop_check"


async def entities_up(hass: HassInstance, minimum: int = 2, limit: float = 120) -> int:
    """Wait until the simulated peers have sensors; return how many."""
    async with asyncio.timeout(limit):
        while True:
            states = await hass.request("GET", "/api/states")
            count = sum(
                1 for s in states if s["entity_id"].startswith("sensor.esp_now_")
            )
            if count >= minimum:
                return count
            await asyncio.sleep(0.5)


async def services_load(hass: HassInstance) -> int:
    """Check that the service list Settings pages wait for loads; return its domains.

    The frontend asks for it (``get_services``) before it shows a Settings page; it
    fails when an integration the instance loads cannot be imported.
    """
    services: dict[str, Any] = await hass.ws_call({"type": "get_services"})
    for domain in ("homeassistant", "automation", "conversation", "tts"):
        assert domain in services, f"no {domain} services: {sorted(services)}"
    return len(services)


async def only_integration_repairs(hass: HassInstance) -> list[dict[str, Any]]:
    """Check that Settings → Repairs lists only what this integration raises."""
    issues = await hass.repairs()
    foreign = [i for i in issues if i["domain"] != "espnow_gateway"]
    assert not foreign, f"repairs not raised by the integration: {foreign}"
    return issues


async def automation_runs(hass: HassInstance, limit: float = 30) -> None:
    """Check that an automation saved as the automation editor does runs to its end."""
    path = f"/api/config/automation/config/{CHECK_AUTOMATION_ID}"
    await hass.request(
        "POST",
        path,
        {
            "id": CHECK_AUTOMATION_ID,
            "alias": "ESP-NOW develop check",
            "description": "Made and removed by scripts/develop --check",
            "triggers": [{"trigger": "event", "event_type": CHECK_EVENT}],
            "conditions": [],
            "actions": [{"event": f"{CHECK_EVENT}_done"}],
            "mode": "single",
        },
    )
    try:
        async with asyncio.timeout(limit):
            while not await _automation_state(hass):  # the editor's save reloads
                await asyncio.sleep(0.25)
            await hass.request("POST", f"/api/events/{CHECK_EVENT}", {})
            while True:
                traces = await hass.ws_call(
                    {
                        "type": "trace/list",
                        "domain": "automation",
                        "item_id": CHECK_AUTOMATION_ID,
                    }
                )
                if any(t.get("script_execution") == "finished" for t in traces):
                    break
                await asyncio.sleep(0.25)
    finally:
        await hass.request("DELETE", path)


async def _automation_state(hass: HassInstance) -> dict[str, Any] | None:
    for state in await hass.request("GET", "/api/states"):
        if state["attributes"].get("id") == CHECK_AUTOMATION_ID:
            result: dict[str, Any] = state
            return result
    return None


def no_errors_logged(hass: HassInstance) -> None:
    """Home Assistant logged no error since it started (a missing package, say)."""
    errors = [
        line
        for line in hass.log_file.read_text(errors="replace").splitlines()
        if " ERROR (" in line or " CRITICAL (" in line
    ]
    assert not errors, "Home Assistant logged errors:\n" + "\n".join(errors)


async def run_all(hass: HassInstance) -> list[str]:
    """Run every check; return one line per check for the report."""
    entities = await entities_up(hass)
    no_errors_logged(hass)
    domains = await services_load(hass)
    issues = await only_integration_repairs(hass)
    await automation_runs(hass)
    return [
        f"entities are up ({entities} peer sensors); no errors in {hass.log_file.name}",
        f"the service list loads ({domains} domains)",
        f"repairs: {len(issues)}, all raised by the integration",
        "an automation made through the editor's API ran",
    ]
