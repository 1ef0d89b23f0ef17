"""Repair issues and the port repair flow, through Home Assistant's repairs HTTP API."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.espnow_gateway.const import CONF_BAUDRATE, DOMAIN
from devtools.simulator import PtyGateway

from .conftest import GATEWAY_MAC
from .flow_helpers import (
    OTHER_MAC,
    PORT_ERRORS,
    STRINGS,
    Ports,
    PortSetup,
    check_result,
    placeholders,
    suggested,
)

type Client = TestClient[Any, Any]

TITLE = f"ESP-NOW Gateway {GATEWAY_MAC}"
FIX_FLOW_STRINGS = STRINGS["issues"]["port_missing"]["fix_flow"]


pytestmark = pytest.mark.usefixtures("unload_entries")


@pytest.fixture
async def client(hass: HomeAssistant, hass_client: ClientSessionGenerator) -> Client:
    """An HTTP client of the repairs API (HTTP views are registered before it starts)."""
    assert await async_setup_component(hass, "repairs", {})
    assert await async_setup_component(hass, "usb", {})  # a dependency of the entry
    assert await async_setup_component(hass, DOMAIN, {})  # serves the card (a view)
    client: Client = await hass_client()
    return client


@pytest.fixture
async def unplugged_entry(
    hass: HomeAssistant, gateway: PtyGateway, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """An entry whose gateway was unplugged before Home Assistant started."""
    gateway.unplug()
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    return config_entry


def port_issue_id(entry: MockConfigEntry) -> str:
    """The id of an entry's port_missing issue."""
    return f"port_missing_{entry.entry_id}"


def get_issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry | None:
    """Return an issue of this integration, if it exists."""
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


async def start_fix_flow(client: Client, issue_id: str) -> dict[str, Any]:
    """Start a fix flow as the frontend does."""
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert resp.status == HTTPStatus.OK
    result: dict[str, Any] = await resp.json()
    check_result(result, FIX_FLOW_STRINGS)
    return result


async def submit(
    client: Client, result: dict[str, Any], user_input: dict[str, Any]
) -> dict[str, Any]:
    """Submit a fix flow step as the frontend does."""
    resp = await client.post(
        f"/api/repairs/issues/fix/{result['flow_id']}", json=user_input
    )
    assert resp.status == HTTPStatus.OK
    result = await resp.json()
    check_result(result, FIX_FLOW_STRINGS)
    return result


# ---- issues created at setup -----------------------------------------------------


async def test_port_missing_issue_at_setup(
    hass: HomeAssistant, gateway: PtyGateway, unplugged_entry: MockConfigEntry
) -> None:
    issue = get_issue(hass, port_issue_id(unplugged_entry))
    assert issue is not None
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "port_missing"
    assert issue.translation_placeholders == {"port": gateway.url, "title": TITLE}
    assert issue.data == {"entry_id": unplugged_entry.entry_id}
    assert placeholders(STRINGS["issues"]["port_missing"]["title"]) <= set(
        issue.translation_placeholders
    )


async def test_unsupported_version_at_setup(hass: HomeAssistant, ports: Ports) -> None:
    v2 = ports.make("usb-v2-if00", protocol_major=2, protocol_minor=0)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=GATEWAY_MAC,
        data={CONF_PORT: v2.url, CONF_BAUDRATE: 921600},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY  # retried until fixed

    issue = get_issue(hass, f"unsupported_version_{entry.entry_id}")
    assert issue is not None
    assert not issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "unsupported_version"
    assert issue.translation_placeholders == {
        "title": TITLE,
        "port": v2.url,
        "version": "2.0",
        "supported": "1.x",
    }
    assert issue.learn_more_url
    strings = STRINGS["issues"]["unsupported_version"]
    for text in (strings["title"], strings["description"]):
        assert placeholders(text) <= set(issue.translation_placeholders)
    assert get_issue(hass, port_issue_id(entry)) is None


# ---- the port repair flow -----------------------------------------------------------


async def test_fix_flow_follows_gateway_to_new_port(
    hass: HomeAssistant,
    gateway: PtyGateway,
    ports: Ports,
    client: Client,
    unplugged_entry: MockConfigEntry,
) -> None:
    entry = unplugged_entry
    issue_id = port_issue_id(entry)
    moved = ports.make("usb-moved-if00")  # the same gateway (MAC) on another port

    result = await start_fix_flow(client, issue_id)
    assert result["type"] == "form"
    assert result["step_id"] == "port"
    assert result["errors"] is None or result["errors"] == {}
    assert result["description_placeholders"] == {
        "title": TITLE,
        "port": gateway.url,
        "detail": "",
    }
    assert suggested(result, CONF_PORT) == gateway.url

    result = await submit(client, result, {CONF_PORT: f" {moved.url} "})
    assert result["type"] == "create_entry"
    assert entry.data == {CONF_PORT: moved.url, CONF_BAUDRATE: 921600}
    assert get_issue(hass, issue_id) is None
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.port == moved.url


async def test_fix_flow_same_port_again(
    hass: HomeAssistant,
    gateway: PtyGateway,
    client: Client,
    unplugged_entry: MockConfigEntry,
) -> None:
    """The gateway was plugged in again where it was."""
    result = await start_fix_flow(client, port_issue_id(unplugged_entry))
    gateway.plug()
    result = await submit(client, result, {CONF_PORT: gateway.url})
    assert result["type"] == "create_entry"
    await hass.async_block_till_done()
    assert unplugged_entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(("setup", "expected_error"), PORT_ERRORS)
async def test_fix_flow_errors_recover(
    hass: HomeAssistant,
    ports: Ports,
    client: Client,
    unplugged_entry: MockConfigEntry,
    *,
    setup: PortSetup,
    expected_error: str,
) -> None:
    entry = unplugged_entry
    configured = entry.data[CONF_PORT]
    issue_id = port_issue_id(entry)
    result = await start_fix_flow(client, issue_id)
    async with setup(ports) as port:
        result = await submit(client, result, {CONF_PORT: port})
    assert result["type"] == "form"
    assert result["step_id"] == "port"
    assert result["errors"] == {"base": expected_error}
    assert suggested(result, CONF_PORT) == port
    assert entry.data[CONF_PORT] == configured
    assert get_issue(hass, issue_id) is not None

    moved = ports.make("usb-moved-if00")
    result = await submit(client, result, {CONF_PORT: moved.url})
    assert result["type"] == "create_entry"
    assert entry.data[CONF_PORT] == moved.url
    assert get_issue(hass, issue_id) is None
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_fix_flow_refuses_other_gateway(
    hass: HomeAssistant,
    gateway: PtyGateway,
    ports: Ports,
    client: Client,
    unplugged_entry: MockConfigEntry,
) -> None:
    entry = unplugged_entry
    issue_id = port_issue_id(entry)
    other = ports.make("usb-other-if00", mac=OTHER_MAC)

    result = await start_fix_flow(client, issue_id)
    result = await submit(client, result, {CONF_PORT: other.url})
    assert result["type"] == "form"
    assert result["errors"] == {"base": "different_gateway"}
    assert entry.data[CONF_PORT] == gateway.url
    assert get_issue(hass, issue_id) is not None

    moved = ports.make("usb-moved-if00")
    result = await submit(client, result, {CONF_PORT: moved.url})
    assert result["type"] == "create_entry"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize("started", [True, False], ids=["during_flow", "before_flow"])
async def test_fix_flow_entry_removed(
    hass: HomeAssistant,
    ports: Ports,
    client: Client,
    unplugged_entry: MockConfigEntry,
    started: bool,
) -> None:
    """The gateway was deleted: nothing to repair, and the issue goes too."""
    issue_id = port_issue_id(unplugged_entry)
    result = await start_fix_flow(client, issue_id) if started else None
    assert await hass.config_entries.async_remove(unplugged_entry.entry_id)
    # Removing the entry removes its issues (async_remove_entry).
    assert get_issue(hass, issue_id) is None
    if result is None:
        return
    moved = ports.make("usb-moved-if00")
    result = await submit(client, result, {CONF_PORT: moved.url})
    assert result["type"] == "abort"
    assert result["reason"] == "entry_removed"
    assert get_issue(hass, issue_id) is None
