"""Shared fixtures for crowdhub's own tests (plugin authors get theirs from hub.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.site import Line, Site, Zone

REPO = Path(__file__).resolve().parent.parent
SHARED_SAMPLES = REPO.parent / "shared" / "samples"


@pytest.fixture
def site() -> Site:
    return Site(
        id="scheveningen",
        zones=(Zone(id="boulevard", area_m2=1200, capacity=2500), Zone(id="beach", area_m2=5000)),
        lines=(Line(id="gate-a", zone="boulevard", width_m=4.0),),
    )
