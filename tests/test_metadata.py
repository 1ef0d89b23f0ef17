"""Repository metadata checked the way hassfest and the HACS action check it.

Neither tool can run here (no GitHub, no Docker), so their rules for custom
integrations are encoded below (see shared/reference/serialx-bthome.md, sections 3-5).
"""

from __future__ import annotations

import json
from pathlib import Path
import re

from awesomeversion import AwesomeVersion
from packaging.requirements import Requirement
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "espnow_gateway"
INTEGRATION = ROOT / "custom_components" / DOMAIN
TESTED_HA = (
    "2026.10.4"  # pytest-homeassistant-custom-component in requirements_test.txt
)

MANIFEST_KEYS = {
    "domain", "name", "codeowners", "iot_class", "version", "documentation",
    "issue_tracker", "import_executor", "integration_type", "config_flow", "dependencies",
    "after_dependencies", "requirements", "loggers", "usb", "bluetooth", "dhcp",
    "zeroconf", "ssdp", "mqtt", "homekit", "single_config_entry", "quality_scale",
    "preview_features",
}  # fmt: skip
IOT_CLASSES = {
    "assumed_state", "cloud_polling", "cloud_push", "local_polling", "local_push", "calculated",
}  # fmt: skip
INTEGRATION_TYPES = {
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
    "virtual",
}
USB_KEYS = {
    "vid",
    "pid",
    "serial_number",
    "manufacturer",
    "description",
    "known_devices",
}
HACS_KEYS = {
    "name", "content_in_root", "country", "filename", "hacs", "hide_default_branch",
    "homeassistant", "persistent_directory", "render_readme", "zip_release",
}  # fmt: skip
HACS_BOOLS = {"content_in_root", "hide_default_branch", "render_readme", "zip_release"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, object]:
    return json.loads((INTEGRATION / "manifest.json").read_text())


def test_manifest_required_and_allowed_keys(manifest: dict[str, object]) -> None:
    required = {"domain", "name", "codeowners", "iot_class", "version", "documentation"}
    assert required <= manifest.keys()
    assert "issue_tracker" in manifest  # HACS requires it
    assert manifest.keys() <= MANIFEST_KEYS, manifest.keys() - MANIFEST_KEYS


def test_manifest_key_order(manifest: dict[str, object]) -> None:
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:]), "domain, name, then alphabetical order"


def test_manifest_values(manifest: dict[str, object]) -> None:
    assert manifest["domain"] == INTEGRATION.name == DOMAIN
    assert manifest["iot_class"] in IOT_CLASSES
    assert manifest["integration_type"] in INTEGRATION_TYPES
    assert manifest["config_flow"] is True
    version = AwesomeVersion(str(manifest["version"]))
    assert version.valid
    assert version.strategy != "unknown"
    doc = str(manifest["documentation"])
    assert doc.startswith("https://")
    assert not doc.startswith("https://www.home-assistant.io/integrations")
    assert str(manifest["issue_tracker"]).startswith("https://")
    codeowners = manifest["codeowners"]
    assert isinstance(codeowners, list)
    assert codeowners
    assert all(re.fullmatch(r"@[\w-]+(/[\w-]+)?", owner) for owner in codeowners)
    dependencies = manifest["dependencies"]
    assert isinstance(dependencies, list)
    assert "usb" in dependencies


def test_manifest_requirements_are_floors(manifest: dict[str, object]) -> None:
    """Exact pins that differ from Home Assistant's constraints break installation."""
    requirements = manifest["requirements"]
    assert isinstance(requirements, list)
    names = set()
    for text in requirements:
        requirement = Requirement(text)
        names.add(requirement.name)
        assert all(spec.operator == ">=" for spec in requirement.specifier), text
    assert {"serialx", "bthome-ble"} <= names
    assert (
        "pyserial-asyncio" not in names
    )  # deprecated by Home Assistant, breaks in 2027.2


def test_manifest_usb_matchers(manifest: dict[str, object]) -> None:
    matchers = manifest.get("usb", [])
    assert isinstance(matchers, list)
    for matcher in matchers:
        assert matcher.keys() <= USB_KEYS, matcher
        for key in ("vid", "pid"):
            if key in matcher:
                assert re.fullmatch(r"[0-9A-F]{4}", matcher[key]), matcher
        if "description" in matcher:
            assert matcher["description"] == matcher["description"].lower()
        # Generic bridge chips must be narrowed by a description.
        if (matcher.get("vid"), matcher.get("pid")) in {
            ("10C4", "EA60"),
            ("1A86", "7523"),
            ("1A86", "55D4"),
            ("0403", "6001"),
            ("0403", "6015"),
        }:
            assert "description" in matcher, matcher


def test_hacs_json() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert "name" in hacs
    assert hacs.keys() <= HACS_KEYS, hacs.keys() - HACS_KEYS
    for key in HACS_BOOLS & hacs.keys():
        assert isinstance(hacs[key], bool), key
    if hacs.get("zip_release"):
        assert "filename" in hacs
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum.valid
    assert minimum <= AwesomeVersion(TESTED_HA)
    assert minimum >= AwesomeVersion("2026.10.0"), (
        "serialx and SerialPortSelector need it"
    )


def test_repository_layout() -> None:
    integrations = [
        p
        for p in (ROOT / "custom_components").iterdir()
        if p.is_dir() and p.name != "__pycache__"
    ]
    assert integrations == [INTEGRATION]
    assert (ROOT / "README.md").is_file()
    assert "MIT License" in (ROOT / "LICENSE").read_text()


QUALITY_RULES = {
    # Bronze
    "action-setup", "appropriate-polling", "brands", "common-modules", "config-flow",
    "config-flow-test-coverage", "dependency-transparency", "docs-actions", "docs-conditions",
    "docs-high-level-description", "docs-installation-instructions",
    "docs-removal-instructions", "docs-triggers", "entity-event-setup", "entity-unique-id",
    "has-entity-name", "runtime-data", "test-before-configure", "test-before-setup",
    "unique-config-entry",
    # Silver
    "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
    "docs-installation-parameters", "entity-unavailable", "integration-owner",
    "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    # Gold
    "devices", "diagnostics", "discovery", "discovery-update-info", "docs-data-update",
    "docs-examples", "docs-known-limitations", "docs-supported-devices",
    "docs-supported-functions", "docs-troubleshooting", "docs-use-cases", "dynamic-devices",
    "entity-category", "entity-device-class", "entity-disabled-by-default",
    "entity-translations", "exception-translations", "icon-translations",
    "reconfiguration-flow", "repair-issues", "stale-devices",
    # Platinum
    "async-dependency", "inject-websession", "strict-typing",
}  # fmt: skip


def test_quality_scale_lists_every_rule_honestly() -> None:
    """Every rule is there; exempt ones say why (hassfest's rule for core)."""
    import yaml

    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    assert set(rules) == QUALITY_RULES
    for rule, value in rules.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "todo", "exempt"}, rule
        if status == "exempt":
            assert value["comment"], rule
    # What the integration ships backs what the file claims.
    assert rules["brands"] == "done"
    assert (
        (INTEGRATION / "brand" / "icon.png")
        .read_bytes()
        .startswith(b"\x89PNG\r\n\x1a\n")
    )
    assert rules["diagnostics"] == "done"
    assert (INTEGRATION / "diagnostics.py").is_file()
    assert rules["repair-issues"] == "done"
    assert (INTEGRATION / "repairs.py").is_file()
    for platform in ("sensor", "binary_sensor", "event"):
        assert "PARALLEL_UPDATES = 0" in (INTEGRATION / f"{platform}.py").read_text()
    # A platform that sends commands to the device limits them.
    assert "PARALLEL_UPDATES = 1" in (INTEGRATION / "select.py").read_text()
    # Actions: registered once in async_setup, described, with translated errors.
    for rule in ("action-setup", "action-exceptions", "docs-actions"):
        assert rules[rule] == "done", rule
    assert (INTEGRATION / "services.yaml").is_file()
    setup = (INTEGRATION / "__init__.py").read_text()
    assert "async_setup_services(hass)" in setup.split("async def async_setup_entry")[0]
    assert "## Actions" in (ROOT / "README.md").read_text()
