"""The packet monitor card, served by the integration: HACS users install nothing else.

The card's ES modules (``card/``) are served under a path that carries their
digest, with long-lived cache headers: a changed card is a new URL, so no browser or
companion app runs a stale one, and its modules import each other by relative paths
that carry the same digest.

Dashboards in storage mode (Home Assistant's default) get the card as **one** Lovelace
resource, found again by its path at every start and updated in place when the digest
changes (never a second entry). In YAML resource mode resources are read-only: the card
is then loaded on every page with ``add_extra_js_url``, and users can list the stable
``LOADER_URL`` among their resources (docs/websocket.md), a two-line module, never
cached, that imports the current version.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Final

from aiohttp import hdrs, web
from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import HomeAssistantView, StaticPathConfig
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.components.lovelace.resources import ResourceStorageCollection
from homeassistant.core import HomeAssistant

_LOGGER = logging.getLogger(__name__)

CARD_DIR: Final = Path(__file__).parent / "card"
CARD_MODULE: Final = "espnow-packet-monitor.js"
URL_BASE: Final = "/espnow_gateway/frontend"
LOADER_URL: Final = f"{URL_BASE}/{CARD_MODULE}"


def card_digest() -> str:
    """Return the digest of the card's modules (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(CARD_DIR.glob("*.js")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def card_url(digest: str) -> str:
    """Return the versioned URL of the card's entry module."""
    return f"{URL_BASE}/{digest}/{CARD_MODULE}"


def _is_card(resource: dict[str, Any]) -> bool:
    path = str(resource.get("url", "")).split("?", 1)[0]
    return path.startswith(f"{URL_BASE}/") and path.endswith(f"/{CARD_MODULE}")


async def async_register_resource(
    resources: ResourceStorageCollection, url: str
) -> None:
    """Make ``url`` the card's one Lovelace resource (create, update or de-duplicate)."""
    await resources.async_get_info()  # loads the collection from storage
    mine = [item for item in resources.async_items() if _is_card(item)]
    if not mine:
        await resources.async_create_item({"res_type": "module", "url": url})
        _LOGGER.debug("Added the dashboard resource %s", url)
        return
    keep, *duplicates = mine
    if keep["url"] != url or keep.get("type") != "module":
        await resources.async_update_item(
            keep["id"], {"res_type": "module", "url": url}
        )
        _LOGGER.debug("Updated the dashboard resource to %s", url)
    for item in duplicates:
        await resources.async_delete_item(item["id"])
        _LOGGER.debug("Removed a duplicate dashboard resource %s", item["url"])


class CardLoaderView(HomeAssistantView):
    """A stable URL for YAML-mode resources: imports the current version, never cached."""

    url = LOADER_URL
    name = "espnow_gateway:card_loader"
    requires_auth = False  # dashboards load their resources without credentials

    def __init__(self, versioned_url: str) -> None:
        """Serve an import of ``versioned_url``."""
        self._body = f'import "{versioned_url}";\n'

    async def get(self, request: web.Request) -> web.Response:
        """Return the loader module."""
        return web.Response(
            text=self._body,
            content_type="text/javascript",
            headers={hdrs.CACHE_CONTROL: "no-cache"},
        )


async def async_setup_frontend(hass: HomeAssistant) -> None:
    """Serve the card and register it with the dashboards."""
    digest = await hass.async_add_executor_job(card_digest)
    url = card_url(digest)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(f"{URL_BASE}/{digest}", str(CARD_DIR), cache_headers=True)]
    )
    hass.http.register_view(CardLoaderView(url))
    lovelace = hass.data.get(LOVELACE_DATA)
    if lovelace is None or "frontend" not in hass.config.components:
        return  # no dashboards here
    if isinstance(lovelace.resources, ResourceStorageCollection):
        await async_register_resource(lovelace.resources, url)
    else:
        add_extra_js_url(hass, url)
        _LOGGER.debug("Dashboard resources are in YAML: the card loads as %s", url)
