"""The integrator bugs that passed the old kit now fail it, each with exactly one precise
reason; the same plugin without the bug passes. The plugins (tests/testing/integrator_bugs/)
use relative imports, so they are loaded as ``file.py:Class`` inside their package and as
``package.module:Class`` from the current directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hub.cli.main import main
from hub.errors import PluginError
from hub.testing.conformance import Report, resolve_source
from hub.testing.conformance.faults import REPLAY_DELAY_S

HERE = Path(__file__).resolve().parent
PKG = HERE / "integrator_bugs"
CASES = HERE / "integrator_cases"


def _run(target: str, tmp_path: Path) -> tuple[int, Report]:
    js = tmp_path / "report.json"
    code = main(["conformance", target, "--cases", str(CASES), "--json", str(js), "--quiet"])
    return code, Report.from_dict(json.loads(js.read_text()))


@pytest.fixture
def restored_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kit may put a plugin's folder on sys.path: undo it after the test."""
    monkeypatch.setattr(sys, "path", [*sys.path])


@pytest.mark.usefixtures("restored_path")
def test_the_plugin_without_a_bug_passes(tmp_path: Path) -> None:
    code, report = _run(f"{PKG / 'base.py'}:CounterPushSource", tmp_path)
    assert code == 0, [(c.id, c.reason) for c in report.failures]
    assert "fault.replay_later" in {c.id for c in report.checks}


@pytest.mark.usefixtures("restored_path")
def test_an_arrival_time_key_fails_the_delayed_replay(tmp_path: Path) -> None:
    code, report = _run(f"{PKG / 'arrival_key.py'}:ArrivalKeySource", tmp_path)
    assert code == 1
    assert [c.id for c in report.failures] == ["fault.replay_later"]
    reason = report.failures[0].reason
    assert f"input #1 sent again {REPLAY_DELAY_S:g} s later" in reason
    assert "new event id" in reason and "depends on when the hub received" in reason
    assert "ctx.event(key=...)" in reason
    assert report.check("fault.duplicate").passed  # an immediate duplicate hides this bug


@pytest.mark.usefixtures("restored_path")
def test_a_blocking_http_handler_fails_loop_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(HERE)  # package.module:Class from the current directory
    from tests.testing.integrator_bugs.blocking_handler import BlockingHandlerSource

    BlockingHandlerSource.blocked_once = False
    code, report = _run("integrator_bugs.blocking_handler:BlockingHandlerSource", tmp_path)
    assert code == 1
    assert [c.id for c in report.failures] == ["loop.blocking"]
    reason = report.failures[0].reason
    assert "BlockingHandlerSource.handle (HTTP handler)" in reason
    assert "case 'three_reports', input #1" in reason and "blocks the event loop" in reason
    assert report.metrics["slowest_step_ms"] >= 250


@pytest.mark.usefixtures("restored_path")
def test_a_swallowed_malformed_push_fails_garbage(tmp_path: Path) -> None:
    code, report = _run(f"{PKG / 'swallowed_malformed.py'}:SwallowedMalformedSource", tmp_path)
    assert code == 1
    assert [c.id for c in report.failures] == ["fault.garbage"]
    reason = report.failures[0].reason
    assert "24 of 24 garbage requests were answered 200" in reason
    assert "raises hub.MalformedInput (answered 400)" in reason and "ctx.malformed" in reason
    assert "contrib/guide.md, 'Malformed input'" in reason
    guide = (HERE.parent.parent / "contrib" / "guide.md").read_text()
    assert "\n## Malformed input\n" in guide  # the section the message points at


@pytest.mark.usefixtures("restored_path")
def test_relative_imports_outside_a_package_get_a_hint(tmp_path: Path) -> None:
    loose = tmp_path / "loose_source.py"
    loose.write_text("from .protocol import parse_report\n")
    with pytest.raises(PluginError, match=r"relative imports: give it as package\.module:Class"):
        resolve_source(f"{loose}:Anything")
