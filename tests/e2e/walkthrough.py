"""The configuration walkthrough of the user docs, as screenshots of the real frontend.

Run by the browser test with ``--walkthrough`` (``--update-docs`` implies it, and
copies the screenshots to docs/images/), in a tab of its own once the card is live
(before the load and the restart), against the same Home Assistant and simulated
gateway. Each view is reached the way a
user reaches it (clicks in the frontend, no flow driven behind its back) and checked
before it is taken:

- setup-add-integration.png: Add integration → the config flow's port step, the
  simulated gateway's port entered (not submitted: that gateway is already set up);
- setup-discovered-peer.png: the discovered sender that needs confirmation (the
  simulator's raw-payload peer) opened from the Discovered card: the confirm step;
- device-page.png: a BTHome peer's device page: its sensors and the diagnostics
  (signal strength, and the last seen and packet counters disabled by default, shown);
- device-options.png: Configure → Device settings → that peer: its settings form
  (Home Assistant has no options form per device: they are the entry's options);
- gateway-device.png: the gateway's device page: connection, radio channel, counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from pathlib import Path
from typing import Any

from devtools.browser import Browser, Page
from devtools.hass_instance import HassInstance

DOMAIN = "espnow_gateway"

SHOTS = (
    "setup-add-integration.png",
    "setup-discovered-peer.png",
    "device-page.png",
    "device-options.png",
    "gateway-device.png",
)

# Every element matching ``selector`` through all shadow roots; those with this text.
HELPERS = """
window.__all = (selector, root = document, out = []) => {
  for (const el of root.querySelectorAll(selector)) out.push(el);
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) window.__all(selector, el.shadowRoot, out);
  }
  return out;
};
window.__text = (selector, text) =>
  window.__all(selector).filter((el) => el.textContent.trim() === text);
window.__form = (field) =>
  window.__all("ha-form").find((f) => (f.schema || []).some((s) => s.name === field));
"""


def _click(selector: str, text: str) -> str:
    return (
        f"(() => {{ const [el] = window.__text({json.dumps(selector)}, {json.dumps(text)});"
        " if (!el) return false; el.click(); return true; })()"
    )


def _shown(selector: str, text: str) -> str:
    return f"window.__text({json.dumps(selector)}, {json.dumps(text)}).length > 0"


async def _nav(page: Page, path: str) -> None:
    await page.evaluate(
        f"history.pushState(null, '', {json.dumps(path)});"
        " window.dispatchEvent(new Event('location-changed')); true"
    )


async def _close_dialog(page: Page) -> None:
    await page.evaluate(
        "window.__all('dialog-data-entry-flow').forEach(d => d.closeDialog()), true"
    )
    await page.wait_for(
        "!window.__all('ha-dialog').some(d => d.open)", 10, "the dialog to close"
    )
    await asyncio.sleep(1)  # its closing animation: a dialog opened meanwhile closes


async def _devices(page: Page, model: str) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = await page.evaluate(
        "Object.values(document.querySelector('home-assistant').hass.devices)"
        f".filter(d => d.model === {json.dumps(model)})"
        ".map(d => ({id: d.id, name: d.name, identifiers: d.identifiers}))"
    )
    return devices


async def _show_disabled(page: Page) -> None:
    """Open a device page's "+N disabled entities" (diagnostics disabled by default)."""
    await page.evaluate(
        "window.__all('button').filter(b => /^\\+\\d+ disabled entit/"
        ".test(b.textContent.trim())).forEach(b => b.click()), true"
    )


async def add_integration(page: Page, url: str, port: str, results: Path) -> str:
    await page.navigate(
        f"{url}/config/integrations/dashboard/add?domain=espnow_gateway"
    )
    await page.wait_for(_shown("ha-button", "OK"), 30, "the set-up question")
    await page.evaluate(_click("ha-button", "OK"))
    # With a discovered sender waiting, the frontend first offers it.
    another = "Set up another instance of ESP-NOW Gateway"
    await page.wait_for(
        f"{_shown('ha-list-item-button', another)} || !!window.__form('port')",
        30,
        "the port step or the discovered list",
    )
    await page.evaluate(_click("ha-list-item-button", another))
    await page.wait_for("!!window.__form('port')", 30, "the port step")
    # A pty is no serial port the selector lists: entered manually, as for a
    # socket:// or rfc2217:// port.
    await page.wait_for(
        "(() => { const field = window.__all('ha-selector-serial_port ha-generic-picker,"
        " ha-generic-picker').map(p => p.shadowRoot?.querySelector('ha-picker-field'))"
        ".find(f => f && f.getAttribute('aria-label') === 'Serial port');"
        " if (!field) return false; field.click(); return true; })()",
        10,
        "the port picker",
    )
    await page.wait_for(
        _shown("ha-combo-box-item", "Enter manually"), 10, "manual entry"
    )
    await page.evaluate(_click("ha-combo-box-item", "Enter manually"))
    await page.wait_for(
        "window.__all('ha-selector-serial_port ha-input, ha-input').length > 0"
        " && !!window.__all('ha-selector-serial_port')[0].shadowRoot.querySelector('ha-input')",
        10,
        "the port's text field",
    )
    data = await page.evaluate(
        "(() => { const field = window.__all('ha-selector-serial_port')[0].shadowRoot"
        ".querySelector('ha-input'); const input = window.__all('input', field.shadowRoot)[0];"
        f" input.focus(); input.value = {json.dumps(port)};"
        " input.dispatchEvent(new InputEvent('input', {bubbles: true, composed: true}));"
        " input.dispatchEvent(new Event('change', {bubbles: true, composed: true}));"
        " input.blur(); return window.__form('port').data; })()"
    )
    assert data["port"] == port, data
    await asyncio.sleep(0.3)  # the field's own transition
    await page.screenshot(results / "setup-add-integration.png")
    await _close_dialog(page)
    return f"Add integration: the port step with {port}"


async def discovered_peer(page: Page, results: Path) -> str:
    await page.wait_for(_shown("ha-button", "Add"), 60, "the Discovered card")
    await page.evaluate(_click("ha-button", "Add"))
    text = await page.wait_for(
        "window.__all('*').map(e => e.textContent.trim())"
        ".find(t => t.includes('hears the ESP-NOW device') && t.length < 400)",
        30,
        "the confirm step",
    )
    assert "Add it?" in text, text
    await page.wait_for(
        "window.__all('ha-dialog').some(d => d.open)", 10, "the confirm dialog"
    )
    await asyncio.sleep(1)  # the dialog's opening animation
    assert await page.evaluate("window.__all('ha-dialog').some(d => d.open)")
    await page.screenshot(results / "setup-discovered-peer.png")
    await _close_dialog(page)
    return f"the discovered sender: {text!r}"


async def device_page(page: Page, device: dict[str, Any], results: Path) -> str:
    await page.set_viewport(1000, 860)
    await _nav(page, f"/config/devices/device/{device['id']}")
    await page.wait_for(_shown("*", "Signal strength"), 30, "the peer's diagnostics")
    await _show_disabled(page)
    await page.wait_for(_shown("*", "Last seen"), 10, "the disabled diagnostics")
    await asyncio.sleep(0.5)
    await page.screenshot(results / "device-page.png")
    return f"{device['name']}'s device page"


async def gateway_device(page: Page, gateway: dict[str, Any], results: Path) -> str:
    await page.set_viewport(1000, 1000)
    await _nav(page, f"/config/devices/device/{gateway['id']}")
    for text in ("Radio channel", "Connection", "Frames lost on the link"):
        await page.wait_for(_shown("*", text), 30, f"the gateway's {text}")
    await _show_disabled(page)
    await asyncio.sleep(0.5)
    await page.screenshot(results / "gateway-device.png")
    return "the gateway's device page"


async def device_options(page: Page, mac: str, results: Path) -> str:
    await page.set_viewport(1000, 900)
    await _nav(page, "/config/integrations/integration/espnow_gateway")
    configure = "window.__all('ha-icon-button').filter(b => b.label === 'Configure')"
    await page.wait_for(f"{configure}.length > 0", 30, "the entry's Configure")
    await page.evaluate(f"{configure}[0].click(), true")
    await page.wait_for(_shown("ha-list-item", "Device settings"), 30, "the menu")
    await page.evaluate(_click("ha-list-item", "Device settings"))
    await page.wait_for("!!window.__form('peer')", 30, "the device step")
    await page.evaluate(
        "window.__form('peer').dispatchEvent(new CustomEvent('value-changed',"
        f" {{detail: {{value: {{peer: {json.dumps(mac)}}}}}}})), true"
    )
    await asyncio.sleep(0.2)
    await page.evaluate(_click("ha-button", "Submit"))
    await page.wait_for("!!window.__form('bindkey')", 30, f"the settings of {mac}")
    fields = await page.evaluate("window.__form('bindkey').schema.map(s => s.name)")
    assert {"payload_format", "bindkey", "expected_interval"} <= set(fields), fields
    await asyncio.sleep(0.3)
    await page.screenshot(results / "device-options.png")
    await _close_dialog(page)
    return f"the settings of {mac}: {', '.join(fields)}"


async def run(
    browser: Browser,
    hass: HassInstance,
    port: str,
    results: Path,
    prepare: Callable[[Page], Any],
) -> tuple[Page, list[str]]:
    """Take the walkthrough's screenshots; ``prepare`` logs a new page in."""
    page = await browser.new_page()
    await page.set_viewport(1000, 700)
    await page.add_init_script(HELPERS)
    await prepare(page)
    try:
        done = [await add_integration(page, hass.url, port, results)]
        done.append(await discovered_peer(page, results))
        peers = await _devices(page, "BTHome v2 device")
        [gateway] = await _devices(page, "ESP-NOW gateway")
        assert peers, "no BTHome peer"
        peer = min(peers, key=lambda d: d["name"])
        # Its identifier is the gateway's MAC and its own, in hex.
        own = next(value for domain, value in peer["identifiers"] if domain == DOMAIN)
        mac = ":".join(own.split("-")[-1][i : i + 2] for i in range(0, 12, 2)).upper()
        done.append(await device_page(page, peer, results))
        done.append(await device_options(page, mac, results))
        done.append(await gateway_device(page, gateway, results))
    except BaseException:
        await page.screenshot(results / "walkthrough-failure.png")
        raise
    return page, done
