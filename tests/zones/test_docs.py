"""docs/zones.md is checked against the code: its sample config loads and builds a model."""

from __future__ import annotations

import re
import tomllib
from datetime import time

from hub import Site
from hub.zones import ZoneModel, ZonesConfig
from hub.zones.config import BUILTIN_LEVEL_SETS
from tests.conftest import REPO

DOC = (REPO / "docs" / "zones.md").read_text()


def test_the_sample_config_in_the_docs_is_valid() -> None:
    (block,) = re.findall(r"```toml\n(.*?)```", DOC, flags=re.S)
    raw = tomllib.loads(block)
    site = Site.model_validate(raw["site"])
    conf = ZonesConfig.model_validate(raw["zones"])
    assert conf.reset_at == time(5, 0)
    assert site.zones[0].device_calibration == 0.6
    model = ZoneModel(site, conf)
    assert set(model.zones()) == set()  # no tick yet
    assert {r.id for r in conf.rules} >= {"level-orange", "busier"}


def test_the_docs_state_every_default_threshold() -> None:
    for name, levels in BUILTIN_LEVEL_SETS.items():
        row = next(line for line in DOC.splitlines() if line.startswith(f"| `{name}` |"))
        for lv in levels.levels[1:]:
            assert lv.enter is not None
            assert f"{lv.enter:g}" in row, f"{name}: {lv.enter} missing in the docs table"
