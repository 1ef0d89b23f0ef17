"""The compatibility check's log scan (devtools/compat.py): what fails a run.

The check itself runs against real Home Assistant versions in ``scripts/test-compat``;
here only its judgement of a log, on log text in Home Assistant's format.
"""

from __future__ import annotations

from devtools.compat_report import log_records, scan_log

WORDS = {"espnow_gateway", "sensor.esp_now_65_22_00_temperature"}
LOG = """\
2026-12-02 12:42:48.556+00:00 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom integration espnow_gateway which has not been tested by Home Assistant. This component might cause stability problems
2026-12-02 12:42:50.326+00:00 WARNING (MainThread) [aiohttp_fast_zlib] zlib_ng and isal are not available
2026-12-02 12:42:51.000 INFO (MainThread) [custom_components.espnow_gateway] Config entry not ready yet
2026-12-02 12:42:52.000+00:00 ERROR (MainThread) [homeassistant] Error doing job: Task exception was never retrieved
Traceback (most recent call last):
  File "/config/custom_components/espnow_gateway/coordinator.py", line 1, in tick
ValueError: boom
2026-12-02 12:42:53.000+00:00 WARNING (MainThread) [homeassistant.components.sensor] Updating state for sensor.esp_now_65_22_00_temperature took 0.6 seconds
2026-12-02 12:42:54.000+00:00 ERROR (MainThread) [haffmpeg.core] FFmpeg fails
"""


def test_records_keep_their_tracebacks() -> None:
    records = log_records(LOG)
    assert len(records) == 6
    assert records[3].endswith("ValueError: boom\n")


def test_only_records_about_the_integration_fail_the_run() -> None:
    offending, expected = scan_log(LOG, WORDS)
    # A traceback through the integration's code, and a warning about its entity;
    # not the info line, not other loggers' records, not the custom-integration notice.
    loggers = [record.split("[", 1)[1].split("]", 1)[0] for record in offending]
    assert loggers == ["homeassistant", "homeassistant.components.sensor"]
    assert "ValueError: boom" in offending[0]
    assert "sensor.esp_now_65_22_00_temperature" in offending[1]
    [notice] = expected
    assert "We found a custom integration espnow_gateway" in notice
    assert notice.endswith(
        "[Home Assistant's standard notice for every custom integration]"
    )


def test_a_clean_log() -> None:
    assert scan_log(LOG.splitlines(keepends=True)[0], WORDS)[0] == []
    assert scan_log("", WORDS) == ([], [])
