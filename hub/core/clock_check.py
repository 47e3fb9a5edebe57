"""The clock check: bound an event's time against the hub's clock (its ``received_at``).

Used by the pipeline's ``ClockCheck`` stage; ``[hub] max_clock_skew_s`` sets the skew.
"""

from __future__ import annotations

from datetime import timedelta

from hub.events import Event, Quality, QualityReason

__all__ = ["check_clock", "refuse_skew_s"]


def check_clock(event: Event, max_skew_s: float) -> tuple[Event | None, str | None]:
    """Bound the event's time against the hub's clock (its ``received_at``).

    Returns ``(event, None)`` when the time is at most ``max_skew_s`` ahead;
    ``(flagged, note)`` when it is further ahead (quality ``suspect``, reason
    ``clock_skew``) or older than :data:`_MAX_AGE`; ``(None, note)`` when it is
    ahead by more than :func:`refuse_skew_s` (refused: never forwarded). ``note``
    names the field and how far off it is, never a payload value. Times in the
    past are normal (delays, retries, backfill), so only far-past ones are flagged.
    """
    t = event.observed_to or event.observed_at
    if t is None:  # pragma: no cover - the schema requires one
        return event, None
    field = "observed_to" if event.observed_to is not None else "observed_at"
    ahead = (t - event.received_at).total_seconds()
    if ahead > refuse_skew_s(max_skew_s):
        return None, f"{field} is {_span(ahead)} ahead of the hub clock"
    if ahead > max_skew_s:
        note = f"{field} is {_span(ahead)} ahead of the hub clock"
    elif -ahead > _MAX_AGE.total_seconds():
        note = f"{field} is {_span(-ahead)} behind the hub clock"
    else:
        return event, None
    if QualityReason.CLOCK_SKEW in event.quality_reasons:
        return event, note
    return event.model_copy(
        update={
            "quality": Quality.SUSPECT,
            "quality_reasons": (*event.quality_reasons, QualityReason.CLOCK_SKEW),
        }
    ), note


_MAX_AGE = timedelta(days=400)
"""Older than this when received: a device clock that is wrong, not a delay (flagged)."""


def refuse_skew_s(max_skew_s: float) -> float:
    """How far ahead of the hub clock an event time is refused: a day, or ten times
    ``max_skew_s`` when that is longer."""
    return max(86_400.0, 10 * max_skew_s)


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
