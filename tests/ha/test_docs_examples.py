"""Every automation example of the README and docs/ loads and runs, as written.

The examples are read from the Markdown files (YAML blocks with ``triggers:``), set
up as automations in a Home Assistant with the integration loaded, and each is run
(its actions, without waiting for its trigger). The light they switch stands for
the reader's own (a template light named ``light.hallway``).
"""

from __future__ import annotations

from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _examples() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for path in DOCS:
        for number, match in enumerate(BLOCK.finditer(path.read_text()), 1):
            loaded = yaml.safe_load(match[1])
            if isinstance(loaded, dict) and "triggers" in loaded:
                found.append((f"{path.name}#{number}", loaded))
    return found


EXAMPLES = _examples()


def test_the_docs_have_automation_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize(
    ("where", "automation"), EXAMPLES, ids=[w for w, _ in EXAMPLES]
)
async def test_example_loads_and_runs(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    where: str,
    automation: dict[str, Any],
) -> None:
    assert await async_setup_component(hass, "persistent_notification", {})
    assert await async_setup_component(
        hass,
        "template",
        {"template": [{"light": [{"name": "Hallway", "turn_on": [], "turn_off": []}]}]},
    )
    config = {"id": "example", "alias": "example", **automation}
    assert await async_setup_component(hass, "automation", {"automation": [config]})
    await hass.async_block_till_done()
    state = hass.states.get("automation.example")
    assert state is not None, f"{where} did not load"
    assert state.state == "on", f"{where}: {state}"
    await hass.services.async_call(
        "automation",
        "trigger",
        {"entity_id": "automation.example", "skip_condition": True},
        blocking=True,
    )
    await hass.async_block_till_done()
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not errors, f"{where}: {[r.getMessage() for r in errors]}"
    assert state.attributes.get("last_triggered") is None  # it ran from here:
    assert hass.states.get("automation.example").attributes["last_triggered"]
