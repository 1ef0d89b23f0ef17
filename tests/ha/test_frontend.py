"""The packet monitor card: served by the integration, one dashboard resource.

Real Home Assistant frontend and dashboards (lovelace) in storage and YAML resource
mode; the card's files are fetched over Home Assistant's HTTP server.
"""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.components.lovelace.resources import ResourceStorageCollection
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.espnow_gateway import frontend
from custom_components.espnow_gateway.const import DOMAIN
from custom_components.espnow_gateway.frontend import (
    CARD_DIR,
    CARD_MODULE,
    LOADER_URL,
    URL_BASE,
    async_register_resource,
    card_digest,
    card_url,
)

OLD_URL = f"{URL_BASE}/0123456789abcdef/{CARD_MODULE}"
OTHER = {"id": "other", "type": "module", "url": "/local/other-card.js"}


def _stored_resources(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": 1,
        "minor_version": 1,
        "key": "lovelace_resources",
        "data": {"items": items},
    }


async def _setup(hass: HomeAssistant, lovelace: dict[str, Any] | None = None) -> None:
    assert await async_setup_component(hass, "lovelace", {"lovelace": lovelace or {}})
    assert await async_setup_component(hass, "frontend", {})
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()


def _resources(hass: HomeAssistant) -> ResourceStorageCollection:
    resources = hass.data[LOVELACE_DATA].resources
    assert isinstance(resources, ResourceStorageCollection)
    return resources


def _cards(hass: HomeAssistant) -> list[dict[str, Any]]:
    return [
        item
        for item in _resources(hass).async_items()
        if item["url"].startswith(URL_BASE)
    ]


async def test_new_installation_gets_one_versioned_resource(
    hass: HomeAssistant,
) -> None:
    await _setup(hass)

    cards = _cards(hass)
    assert [(item["type"], item["url"]) for item in cards] == [
        ("module", card_url(card_digest()))
    ]
    # The next start finds it and adds nothing.
    await async_register_resource(_resources(hass), card_url(card_digest()))
    assert _cards(hass) == cards


async def test_restart_after_an_update_changes_the_entry_in_place(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage["lovelace_resources"] = _stored_resources(
        [
            {"id": "mine", "type": "module", "url": OLD_URL},
            OTHER,
            {"id": "copy", "type": "js", "url": f"{LOADER_URL}?v=3"},
        ]
    )

    await _setup(hass)

    items = _resources(hass).async_items()
    assert items == [
        {"id": "mine", "type": "module", "url": card_url(card_digest())},
        OTHER,
    ]
    await async_register_resource(_resources(hass), card_url("fedcba9876543210"))
    assert _cards(hass) == [
        {"id": "mine", "type": "module", "url": card_url("fedcba9876543210")}
    ]


async def test_yaml_resource_mode_loads_the_card_as_an_extra_module(
    hass: HomeAssistant,
) -> None:
    await _setup(hass, {"resource_mode": "yaml"})

    assert card_url(card_digest()) in hass.data[DATA_EXTRA_MODULE_URL].urls
    assert not isinstance(hass.data[LOVELACE_DATA].resources, ResourceStorageCollection)


async def test_without_dashboards_nothing_is_registered(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    assert LOVELACE_DATA not in hass.data
    assert DATA_EXTRA_MODULE_URL not in hass.data


async def test_lovelace_without_frontend_registers_nothing(
    hass: HomeAssistant,
) -> None:
    assert await async_setup_component(hass, "lovelace", {})
    assert await async_setup_component(hass, DOMAIN, {})
    assert _cards(hass) == []


async def test_card_files_are_served_under_their_digest(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> None:
    await _setup(hass)
    client = await hass_client_no_auth()
    url = card_url(card_digest())

    resp = await client.get(url)
    assert resp.status == 200
    assert await resp.text() == (CARD_DIR / CARD_MODULE).read_text()
    assert "max-age" in resp.headers["Cache-Control"]
    for module in ("packets.js", "stream.js", "editor.js"):  # relative imports
        resp = await client.get(url.replace(CARD_MODULE, module))
        assert resp.status == 200, module

    resp = await client.get(LOADER_URL)
    assert resp.status == 200
    assert await resp.text() == f'import "{url}";\n'
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.content_type == "text/javascript"

    assert (await client.get(OLD_URL)).status == 404


def test_digest_follows_every_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "card"
    shutil.copytree(CARD_DIR, copy)
    monkeypatch.setattr(frontend, "CARD_DIR", copy)
    digest = card_digest()
    assert len(digest) == 16
    (copy / "packets.js").write_text((copy / "packets.js").read_text() + "\n")
    changed = card_digest()
    (copy / "packets.js").rename(copy / "renamed.js")
    assert len({digest, changed, card_digest()}) == 3
