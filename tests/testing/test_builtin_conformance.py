"""Every built-in source kind passes the conformance kit on its cases.

The kinds come from the core's built-in plugin list (entry points off), so a new bundled
source without a ``tests/conformance_cases/<kind>/`` folder fails here until it gets cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.core.plugins import load_plugins
from hub.testing.conformance import load_cases, run_conformance

CASES = Path(__file__).resolve().parent.parent / "conformance_cases"
BUILTIN = load_plugins(entrypoints=False).sources


def test_every_builtin_kind_is_checked() -> None:
    assert {
        "simulated",
        "wifi_counter",
        "tfluna",
        "rplidar",
        "xovis",
        "camera_aggregate",
        "generic_json",
    } <= set(BUILTIN)


@pytest.mark.parametrize("kind", sorted(BUILTIN))
def test_builtin_source_passes_the_kit(kind: str) -> None:
    folder = CASES / kind
    assert folder.is_dir(), (
        f"built-in source kind {kind!r} has no conformance cases: add {folder}/<case>/ "
        "with case.toml and expected.json (contrib/conformance.md)"
    )
    source_class = BUILTIN[kind][0]
    report = run_conformance(source_class, folder)
    assert report.passed, report.to_text()
    checked = {c.id for c in report.checks}
    assert {f"case:{case.name}" for case in load_cases(folder)} <= checked
    assert report.metrics["events"] > 0
