"""``scripts/develop`` works, the first time and every time after.

The develop tool runs with ``--check`` twice on one config folder: it starts Home
Assistant, onboards it (the second time: logs in), adds the gateway through the config
flow API as the UI does, and checks what a user meets: the peers' entities, the
service list the Settings pages wait for, no repairs but the integration's, an
automation made through the editor's API that runs, no errors in Home Assistant's log.

The HTTP settings develop mode stores are checked with Home Assistant's own HTTP
configuration code and its time helpers: they are a stable configuration, with no
five-minute trial that Home Assistant would revert with a restart.
"""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path
import subprocess
import sys

from homeassistant.components.http import config as http_config
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

from devtools.hass_instance import write_http_storage

REPO = Path(__file__).resolve().parents[1]


def _develop_check(config: Path) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.develop",
            "--check",
            "--quiet",
            "--port",
            "0",
            "--config",
            str(config),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_develop_mode_works_on_a_new_and_on_an_existing_config(tmp_path: Path) -> None:
    for start in ("first", "second"):
        output = _develop_check(tmp_path / "config")
        for line in (
            "entities are up",
            "no errors in home-assistant.log",
            "the service list loads",
            "all raised by the integration",
            "an automation made through the editor's API ran",
        ):
            assert line in output, (start, output)
    assert json.loads((tmp_path / "config" / "automations.yaml").read_text()) == []


async def _load_http_config(hass: HomeAssistant, config: dict[str, object]) -> None:
    conf = await http_config.async_load_config(hass, config)
    assert conf["server_port"] == 8377


async def test_stored_http_settings_are_stable_beyond_five_minutes(
    hass: HomeAssistant, hass_storage: dict[str, object], tmp_path: Path
) -> None:
    write_http_storage(tmp_path, 8377)
    hass_storage["http"] = json.loads((tmp_path / ".storage" / "http").read_text())
    restarts = async_mock_service(hass, "homeassistant", "restart")

    await _load_http_config(hass, {})

    store = hass.data[http_config.DATA_STORE]
    assert store.active_config_type is http_config.ActiveConfigType.STABLE
    assert store.revert_deadline is None
    assert store.stable["server_host"] == ["127.0.0.1"]
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    assert restarts == []
    # Written again (a later start) it is unchanged: nothing for Home Assistant to try.
    before = (tmp_path / ".storage" / "http").read_text()
    write_http_storage(tmp_path, 8377)
    assert (tmp_path / ".storage" / "http").read_text() == before


async def test_yaml_http_settings_would_be_reverted_after_five_minutes(
    hass: HomeAssistant,
) -> None:
    """What develop mode did before: the same test fails for YAML settings."""
    restarts = async_mock_service(hass, "homeassistant", "restart")

    await _load_http_config(
        hass, {"http": {"server_host": ["127.0.0.1"], "server_port": 8377}}
    )

    assert hass.data[http_config.DATA_STORE].revert_deadline is not None
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    assert len(restarts) == 1
