"""The crowdhub conformance kit on this plugin: one test per check and case."""

from __future__ import annotations

from pathlib import Path

from crowdhub_milesight.source import MilesightSource

from hub.testing.conformance import ConformanceTests


class TestMilesightConformance(ConformanceTests):
    source_class = MilesightSource
    cases_dir = Path(__file__).resolve().parent.parent / "conformance"
