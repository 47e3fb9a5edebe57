"""Zone, line and sensor positions in the site config: WGS84 or pixels on a site plan."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hub import Site

SQUARE = [[4.27, 52.11], [4.28, 52.11], [4.28, 52.12]]
PLAN = {"image": "plan.png", "width_px": 100, "height_px": 80}


def _site(**kw: Any) -> dict[str, Any]:
    return {"zones": [{"id": "plein", "area_m2": 100}], **kw}


def test_older_configs_without_geometry_stay_valid() -> None:
    site = Site.model_validate(_site())
    assert site.plan is None and site.zones[0].polygon is None and site.sensors == ()


def test_wgs84_geometry_in_geojson_order() -> None:
    site = Site.model_validate(
        {
            "zones": [{"id": "plein", "area_m2": 100, "polygon": SQUARE}],
            "lines": [{"id": "g", "zone": "plein", "width_m": 3, "path": SQUARE[:2]}],
            "sensors": [{"id": "cam", "zone": "plein", "position": SQUARE[0]}],
            "tiles": "http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png",
        }
    )
    assert site.zones[0].polygon == tuple(tuple(p) for p in SQUARE)
    assert site.sensors[0].position == (4.27, 52.11)


def test_plan_geometry() -> None:
    site = Site.model_validate(
        {
            "plan": PLAN,
            "zones": [
                {"id": "plein", "area_m2": 100, "plan_polygon": [[0, 0], [100, 0], [50, 80]]}
            ],
            "sensors": [{"id": "cam", "plan_position": [10, 10]}],
        }
    )
    assert site.plan is not None and site.plan.width_px == 100


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            _site(
                zones=[{"id": "plein", "area_m2": 1, "polygon": [[52.1, 4.2], [200, 1], [1, 1]]}]
            ),
            "is not a WGS84 [longitude, latitude] point",
        ),
        (
            _site(zones=[{"id": "plein", "area_m2": 1, "polygon": SQUARE[:2]}]),
            "site.zones[plein].polygon: needs at least 3 points, got 2",
        ),
        (
            _site(zones=[{"id": "plein", "area_m2": 1, "plan_polygon": [[0, 0], [1, 0], [1, 1]]}]),
            "site.zones[plein].plan_polygon: pixel positions need [site.plan]",
        ),
        (
            _site(plan=PLAN, zones=[{"id": "plein", "area_m2": 1, "polygon": SQUARE}]),
            "site.zones[plein].polygon: this site draws on [site.plan]; give plan_polygon",
        ),
        (
            _site(plan=PLAN, sensors=[{"id": "cam", "plan_position": [101, 5]}]),
            "site.sensors[cam].plan_position: [101.0, 5.0] lies outside the plan (100 x 80 px)",
        ),
        (
            _site(sensors=[{"id": "cam", "zone": "nowhere"}]),
            "site.sensors[cam].zone: unknown zone 'nowhere'; known zones: plein",
        ),
        (_site(plan={**PLAN, "image": "plan.pdf"}), "site.plan.image 'plan.pdf': use a"),
        (_site(tiles="http://127.0.0.1/tiles.png"), "needs {z}, {x} and {y}"),
        (
            _site(plan=PLAN, tiles="http://127.0.0.1/{z}/{x}/{y}.png"),
            "site.tiles: map tiles go with WGS84 geometry",
        ),
        (
            _site(lines=[{"id": "g", "zone": "plein", "width_m": 1, "plan_path": [[1, 1]]}]),
            "site.lines[g].plan_path: needs at least 2 points",
        ),
    ],
)
def test_bad_geometry_is_one_precise_line(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        Site.model_validate(raw)
    assert message in str(err.value)
