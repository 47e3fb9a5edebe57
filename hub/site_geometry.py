"""Where zones, lines and sensors are drawn on the dashboard's map (optional site fields).

Two ways to place a site, one per site:

* **WGS84** (a world map): ``polygon`` on zones, ``path`` on lines, ``position`` on
  sensors, as GeoJSON-ordered ``[longitude, latitude]`` points. The map background is
  plain unless ``site.tiles`` names a local tile server (``{z}/{x}/{y}`` template):
  the hub never fetches tiles from the internet.
* **A site plan** (venues without a map): ``[site.plan]`` names an image and its size
  in pixels; ``plan_polygon``, ``plan_path`` and ``plan_position`` are ``[x, y]``
  pixels on it (x to the right, y down, as image editors show them).

A line's arrow for "in" points into the line's ``zone``. Geometry is optional: a zone
without it is listed on the dashboard but not drawn.
"""

from __future__ import annotations

__all__ = ["LonLat", "PlanXY", "SitePlan", "check_geometry"]

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _lonlat(p: tuple[float, float]) -> tuple[float, float]:
    lon, lat = p
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        raise ValueError(
            f"[{lon}, {lat}] is not a WGS84 [longitude, latitude] point "
            "(longitude -180..180, latitude -90..90; GeoJSON order: longitude first)"
        )
    return p


def _xy(p: tuple[float, float]) -> tuple[float, float]:
    if p[0] < 0 or p[1] < 0:
        raise ValueError(f"[{p[0]}, {p[1]}]: plan pixels are >= 0 (x right, y down)")
    return p


LonLat = Annotated[tuple[float, float], AfterValidator(_lonlat)]
PlanXY = Annotated[tuple[float, float], AfterValidator(_xy)]


class SitePlan(BaseModel):
    """``[site.plan]``: a site-plan image (PNG, JPEG, SVG or WebP) the map draws on."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    image: str = Field(
        min_length=1, description="image file, relative to the configuration file's folder"
    )
    width_px: int = Field(gt=0, description="the image's width in pixels")
    height_px: int = Field(gt=0, description="the image's height in pixels")


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".webp")


def _check_points(
    where: str, field: str, pts: tuple[tuple[float, float], ...] | None, least: int
) -> None:
    if pts is not None and len(pts) < least:
        raise ValueError(f"{where}.{field}: needs at least {least} points, got {len(pts)}")


def check_geometry(
    plan: SitePlan | None,
    tiles: str | None,
    zones: Sequence[Any],
    lines: Sequence[Any],
    sensors: Sequence[Any],
) -> None:
    """Raise ``ValueError`` naming the first misplaced field (of a ``hub.site.Site``'s)."""
    if plan is not None and not plan.image.lower().endswith(_IMAGE_SUFFIXES):
        raise ValueError(
            f"site.plan.image {plan.image!r}: use a {', '.join(_IMAGE_SUFFIXES)} image"
        )
    if tiles is not None:
        if plan is not None:
            raise ValueError(
                "site.tiles: map tiles go with WGS84 geometry, not with [site.plan]; remove one"
            )
        if not all(k in tiles for k in ("{z}", "{x}", "{y}")):
            raise ValueError(
                f"site.tiles {tiles!r}: a tile URL template needs {{z}}, {{x}} and {{y}}"
            )
    items: list[tuple[str, str, str, tuple[tuple[float, float], ...] | None, int]] = []
    for z in zones:
        w = f"site.zones[{z.id}]"
        items += [(w, "polygon", "plan_polygon", z.polygon, 3)]
        items += [(w, "plan_polygon", "polygon", z.plan_polygon, 3)]
    for ln in lines:
        w = f"site.lines[{ln.id}]"
        items += [(w, "path", "plan_path", ln.path, 2)]
        items += [(w, "plan_path", "path", ln.plan_path, 2)]
    zone_ids = {z.id for z in zones}
    for s in sensors:
        w = f"site.sensors[{s.id}]"
        pos = None if s.position is None else (s.position,)
        ppos = None if s.plan_position is None else (s.plan_position,)
        items += [(w, "position", "plan_position", pos, 1)]
        items += [(w, "plan_position", "position", ppos, 1)]
        if s.zone is not None and s.zone not in zone_ids:
            raise ValueError(
                f"{w}.zone: unknown zone {s.zone!r}; known zones: "
                f"{', '.join(sorted(zone_ids)) or '(none)'}"
            )
    for where, field, other, pts, least in items:
        if pts is None:
            continue
        _check_points(where, field, pts, least)
        on_plan = field.startswith("plan_")
        if on_plan and plan is None:
            raise ValueError(
                f"{where}.{field}: pixel positions need [site.plan] (image, width_px, "
                f"height_px); for a world map use {other} (WGS84)"
            )
        if not on_plan and plan is not None:
            raise ValueError(
                f"{where}.{field}: this site draws on [site.plan]; give {other} "
                "(pixels on the plan) instead"
            )
        if on_plan and plan is not None:
            for x, y in pts:
                if x > plan.width_px or y > plan.height_px:
                    raise ValueError(
                        f"{where}.{field}: [{x}, {y}] lies outside the plan "
                        f"({plan.width_px} x {plan.height_px} px)"
                    )
