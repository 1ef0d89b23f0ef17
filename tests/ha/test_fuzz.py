"""The fuzz harness (devtools/fuzz.py) in the suite: its regression cases, a sample, itself.

``scripts/fuzz`` (in .ci/run) runs it at CI size and ``scripts/fuzz --long`` a million
payloads; here every committed regression case runs through every layer, a small
seeded sample keeps the harness honest, and the harness is shown to find what it
looks for when the protections are taken away.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest

from devtools import fuzz
from devtools.fuzz_payloads import PROFILES, make_sender

REGRESSIONS = fuzz.regression_senders()


def _run(hass: HomeAssistant, *senders: fuzz.Sender) -> fuzz.Report:
    report = fuzz.Report()
    harness = fuzz.Harness(hass, report)
    for sender in senders:
        harness.run_sender(sender)
    return report


def test_every_failure_found_is_a_regression_case() -> None:
    names = [sender.profile for sender in REGRESSIONS]
    assert len(names) == len(set(names)) >= 17
    for sender in REGRESSIONS:
        assert sender.frames  # as found (the generator has grown since)
        assert sender.seed > 0


@pytest.mark.parametrize(
    "sender", REGRESSIONS, ids=[s.profile[12:] for s in REGRESSIONS]
)
async def test_regression_case(hass: HomeAssistant, sender: fuzz.Sender) -> None:
    report = _run(hass, sender)
    assert report.failures == 0, report.examples
    assert report.payloads == len(sender.frames)


async def test_a_seeded_sample(hass: HomeAssistant) -> None:
    """2,000 payloads of every profile: nothing found, and every layer exercised."""
    report = fuzz.Report()
    harness = fuzz.Harness(hass, report)
    index = 0
    while report.payloads < 2_000:
        harness.run_sender(make_sender(fuzz.sender_seed(7, index)))
        index += 1
    assert report.failures == 0, report.examples
    assert set(report.by_profile) == set(PROFILES)
    assert report.states_checked > 1_000
    assert report.events > 10
    assert report.refused_values > 10
    assert report.unauthenticated > 10


def _case(name: str) -> fuzz.Sender:
    return next(s for s in REGRESSIONS if s.profile == f"regression: {name}")


async def test_the_harness_finds_invalid_states(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the peer's refusal, huge numbers reach Home Assistant's state checks."""
    monkeypatch.setattr(
        "custom_components.espnow_gateway.peer.refusal", lambda _value, _shape: None
    )
    monkeypatch.setattr(
        "custom_components.espnow_gateway.sensor.refusal", lambda _value, _shape: None
    )
    report = _run(hass, _case("json number beyond a float"))
    assert report.counts["invalid state"] > 0
    assert any("OverflowError" in f.detail for f in report.examples)
    report = _run(hass, _case("bthome raw object of 128+ bytes"))
    assert any("InvalidStateError" in f.detail for f in report.examples)


async def test_the_harness_finds_scan_disagreements(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "espnowgw.decoders.json_payload.may_be_urgent", lambda _payload: False
    )
    report = _run(hass, _case("json name hidden by an escape"))
    assert report.counts["scan and decode disagree"] > 0


async def test_the_harness_finds_log_floods_and_touched_peers(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("espnowgw", "custom_components.espnow_gateway.espnowgw"):
        monkeypatch.setattr(
            f"{module}.decoders.bthome._ParserLogFilter.filter",
            lambda _self, _record: True,
        )
    report = _run(hass, _case("bthome-ble log lines: wrong MIC"))
    assert report.counts["warning logged"] > 0
    monkeypatch.setattr(
        "custom_components.espnow_gateway.espnowgw.decoders.formats.PeerDecoder.authenticates",
        False,
    )
    report = _run(hass, _case("forged plaintext with a keyed peer's MAC"))
    assert report.counts["unauthenticated frame touched the peer"] > 0
