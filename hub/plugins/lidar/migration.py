"""The former ``[[sources.lidar]]`` kind: one line per table saying what to write instead.

Earlier one ``lidar`` kind served every device through ``device = "..."``; it was
split into ``tfluna``, ``rplidar`` and ``xovis`` (one config model each, so a key of
another device is refused). The keys themselves kept their names; only ``device``
goes (``device = "tfmini"`` becomes ``model = "tfmini"``). Keys the old model accepted
but that never applied to the device are named so they can be deleted.
"""

from __future__ import annotations

__all__ = ["FORMER_KIND", "lidar_hint"]

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from .config import NOT_APPLICABLE, RplidarConfig, TfLunaConfig, XovisConfig

FORMER_KIND = "lidar"
_NEW_KIND: dict[str, tuple[str, type[BaseModel]]] = {
    "tfluna": ("tfluna", TfLunaConfig),
    "tfmini": ("tfluna", TfLunaConfig),
    "rplidar": ("rplidar", RplidarConfig),
    "xovis": ("xovis", XovisConfig),
}
_SPLIT = "the 'lidar' kind was split into tfluna, rplidar and xovis"


def _stray_keys(model: type[BaseModel], table: Mapping[str, Any]) -> list[str]:
    """Keys of ``table`` the new model refuses as unknown or not applicable."""
    try:
        model.model_validate(table)
    except ValidationError as err:
        return sorted(
            {
                str(e["loc"][0])
                for e in err.errors()
                if len(e["loc"]) == 1 and e["type"] in ("extra_forbidden", NOT_APPLICABLE)
            }
        )
    return []


def lidar_hint(kind: str, table: Mapping[str, Any]) -> str | None:
    """What to write instead of one ``[[sources.lidar]]`` table (None for other kinds)."""
    if kind != FORMER_KIND:
        return None
    device = table.get("device", "tfluna")
    if not isinstance(device, str) or device not in _NEW_KIND:
        shown = f'"{device}"' if isinstance(device, str) else repr(device)
        return (
            f"{_SPLIT}; device = {shown} was never one of its devices: write "
            "[[sources.tfluna]] (TF-Luna/TFmini beams), [[sources.rplidar]] (RPLIDAR A1) or "
            "[[sources.xovis]] (Xovis logics push)"
        )
    new_kind, model = _NEW_KIND[device]
    rest = {k: v for k, v in table.items() if k != "device"}
    if "device" not in table:
        change = "(no device was set: tfluna was the default)"
    elif device == "tfmini":
        change = 'and replace device = "tfmini" by model = "tfmini"'
        rest["model"] = "tfmini"
    else:
        change = f'and delete device = "{device}"'
    stray = _stray_keys(model, rest)
    if stray:
        keys = ", ".join(stray)
        change += f"; delete {keys} (not used by this {new_kind} source)"
    return f"{_SPLIT}: write [[sources.{new_kind}]] instead {change}; the other keys stay"
