"""Coarsening one interval count: deterministic noise, suppression, rounding.

Applied only to counts already aggregated to a view's time resolution, so one
interval of one place has exactly one published value per view:

* **noise** is drawn from a keyed hash of (view, measurement, place, field,
  interval start). Asking again — later, after a restart, through another sink
  of the same view — gives the same value, so the mean of many answers is that
  one noisy value, not the truth. A count of 0 gets +0 or +1 (never negative),
  any other count -1, 0 or +1 (Amsterdam's crowd-monitoring rule: a count of 1
  seen by several cameras lets someone follow one person).
* **suppression** reports a (noisy) count below ``k`` as 0.
* **rounding** to a multiple of ``round_to``, half up.

The key is a secret of the hub (:func:`load_or_create_key`): without it the
noise cannot be predicted and subtracted.
"""

from __future__ import annotations

__all__ = [
    "NoiseKey",
    "coarsen_count",
    "interval_label",
    "load_or_create_key",
    "noise_offset",
]

import hashlib
import hmac
import os
import secrets
from pathlib import Path

NoiseKey = bytes


def noise_offset(key: NoiseKey, label: str, true_value: float) -> int:
    """The fixed offset for one interval count: -1/0/+1, or 0/+1 when the count is 0.

    ``label`` names the interval uniquely within the hub: view, measurement,
    place, field and interval start.
    """
    h = hmac.new(key, label.encode(), hashlib.sha256).digest()
    if true_value <= 0:
        return h[0] & 1
    return h[0] % 3 - 1


def interval_label(
    view: str,
    measurement: str,
    source: str,
    zone: str | None,
    line: str | None,
    field: str,
    start: float,
) -> str:
    """The noise label of one interval count: view, measurement, place, field, interval start.

    The outputs (:mod:`hub.views.policy`) and the dashboard (:mod:`hub.dashboard.coarse`)
    both name an interval this way, so one view sees one noisy value per interval there.
    """
    return f"{view}\x1f{measurement}\x1f{source}\x1f{zone}\x1f{line}\x1f{field}\x1f{float(start)}"


def coarsen_count(
    value: float,
    *,
    key: NoiseKey | None,
    label: str,
    suppress_below: int,
    round_to: int,
) -> tuple[int, bool]:
    """``(published value, suppressed?)`` for one aggregated count.

    ``key`` None: no noise. The true value is rounded to a whole number first.
    """
    v = max(0, round(value))
    if key is not None:
        v = max(0, v + noise_offset(key, label, v))
    if v < suppress_below:
        return 0, True
    if round_to > 1:
        v = (v + round_to // 2) // round_to * round_to
    return v, False


def load_or_create_key(data_dir: Path, name: str = "views.key") -> NoiseKey:
    """The hub's noise key: 32 random bytes in ``data_dir/views.key`` (mode 0600).

    Created on first use and kept, so a restart publishes the same noisy values
    for past intervals (a new key would let someone average old and new answers).
    """
    path = data_dir / name
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    os.replace(tmp, path)
    return key
