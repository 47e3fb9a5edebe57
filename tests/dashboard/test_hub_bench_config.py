"""The whole-hub viewers benchmark (bench/dashboard_hub_bench.py) runs a config the hub
accepts: checked here so a change of the config format does not break the benchmark
silently. (Its figures are the script's job; nothing here is timed.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hub.core.config import load_config
from hub.core.plugins import load_plugins

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import dashboard_hub_bench as bench


def test_the_benchmark_config_is_valid_and_serves_the_dashboard_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_FULL_TOKEN", bench.TOKENS["full"])
    monkeypatch.setenv("BENCH_PART_TOKEN", bench.TOKENS["part"])
    path = bench.hub_config(tmp_path, mqtt_port=1883, http_port=8080)
    config = load_config(path, load_plugins())
    assert len(config.site.zones) == bench.ZONES == len(config.site.lines)
    assert [s.id for s in config.sources["generic_json"]] == ["cameras", "gates"]
    assert [v.id for v in config.views] == ["full", "part"]
    assert [s.id for s in config.sinks["sqlite"]] == ["store"]
