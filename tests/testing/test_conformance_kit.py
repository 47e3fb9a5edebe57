"""The conformance kit passes good sources and fails a broken one with one precise reason per
defect (the broken source is tests/testing/broken_plugin.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.cli.main import main
from hub.plugins.simulated.source import SimulatedSource
from hub.plugins.wifi_counter.source import WifiCounterSource
from hub.testing.conformance import ConformanceTests, Report, run_conformance

HERE = Path(__file__).resolve().parent
CASES = HERE.parent / "conformance_cases"


class TestSimulatedConformance(ConformanceTests):
    """The pytest base class: one test per check and case, on the bundled simulator."""

    source_class = SimulatedSource
    cases_dir = CASES / "simulated"


def test_base_class_plans_one_test_per_check_and_case() -> None:
    report = TestSimulatedConformance.conformance_report()
    ids = [c.id for c in report.checks]
    assert {"case:crossing", "case:occupancy", "config.sample", "cancellation"} <= set(ids)
    assert "fault.garbage" not in ids  # a source without a transport has nothing to garble


@pytest.mark.parametrize(
    ("source", "cases"),
    [(SimulatedSource, "simulated"), (WifiCounterSource, "wifi_counter")],
    ids=["simulated", "wifi_counter"],
)
def test_bundled_plugins_pass(source: Any, cases: str) -> None:
    report = run_conformance(source, CASES / cases)
    assert report.passed, report.to_text()
    assert report.metrics["events"] > 0 and report.metrics["events_per_s"] > 0
    if cases == "wifi_counter":
        assert "fault.disconnect" in [c.id for c in report.checks]


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Report, Path, Path]:
    """One CLI run on the broken plugin (it is slow by design: it blocks and hangs)."""
    out = tmp_path_factory.mktemp("broken")
    md, js = out / "report.md", out / "report.json"
    code = main(
        [
            "conformance",
            str(HERE / "broken_plugin.py") + ":BrokenSource",
            "--cases",
            str(HERE / "broken_cases"),
            "--report",
            str(md),
            "--json",
            str(js),
        ]
    )
    report = Report.from_dict(json.loads(js.read_text()))
    return code, report, md, js


def test_broken_plugin_fails_with_one_precise_reason_per_defect(
    broken: tuple[int, Report, Path, Path],
) -> None:
    code, report, _, _ = broken
    assert code == 1
    reasons = {c.id: c.reason for c in report.failures}
    # 1. extra="ignore"
    assert "accepted the unknown key" in reasons["config.unknown_keys"]
    assert "extra='ignore'" in reasons["config.unknown_keys"]
    # 2. a MAC in the extras: path and kind named, the value never shown
    assert "extras.broken_counter.sensor holds a MAC address" in reasons["privacy"]
    assert "aa:bb:cc" not in json.dumps(report.to_dict())
    # 3. time.sleep in run()
    assert "blocks the event loop" in reasons["loop.blocking"]
    assert "BrokenSource.run" in reasons["loop.blocking"]
    assert report.metrics["slowest_step_ms"] >= 250
    # 4. swallowed cancellation
    assert "still running 1 s after cancel()" in reasons["cancellation"]
    # 5. ValueError on garbage, with where it was raised and what to do
    garbage = reasons["fault.garbage"]
    assert "raised ValueError" in garbage and "broken_plugin.py" in garbage
    assert "in parse_reading" in garbage and "ctx.malformed" in garbage
    # what works still passes: its case, its config model, the disconnect
    passed = {c.id for c in report.checks if c.passed}
    assert {
        "case:two_readings",
        "config.model",
        "config.descriptions",
        "fault.disconnect",
    } <= passed


def test_reports_are_written(broken: tuple[int, Report, Path, Path]) -> None:
    _, _, md, js = broken
    text = md.read_text()
    assert text.startswith("# Conformance report: `broken_counter`")
    assert "| `privacy` | **FAIL** |" in text and "## Failures" in text
    data = json.loads(js.read_text())
    assert data["passed"] is False
    assert {c["status"] for c in data["checks"]} == {"pass", "fail"}


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = tmp_path / "ok.md"
    assert (
        main(["conformance", "simulated", "--cases", str(CASES / "simulated"), "--report", str(md)])
        == 0
    )
    assert "RESULT: PASS" in capsys.readouterr().out
    assert "**PASS" in md.read_text()
    assert main(["conformance", "no_such_kind", "--cases", str(CASES / "simulated")]) == 2
    assert "no source kind 'no_such_kind'" in capsys.readouterr().err
    assert main(["conformance", "simulated", "--cases", str(tmp_path)]) == 2
    assert "no cases" in capsys.readouterr().err
