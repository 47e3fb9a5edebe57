"""When a ``generic_json`` reading was observed: the time expressions of the config.

Sans-io: :class:`Timing` evaluates ``time`` / ``time_from`` / ``time_to`` (read by
:func:`hub.quality.parse_timestamp`, or as one ISO 8601 interval) and
``interval_expr`` (the interval length from the payload) against one reading's
context. Problems are :class:`~.reading.ReadingProblem` naming the config field,
never the payload value.
"""

from __future__ import annotations

__all__ = ["Timing"]

from datetime import datetime, timedelta, tzinfo
from typing import Any

from hub.errors import MalformedInput
from hub.quality import parse_timestamp

from .config import GenericJsonConfig
from .expressions import TIME_FORMS, Expression, compile_expression, parse_duration, parse_interval
from .reading import ReadingProblem as _Problem


class Timing:
    """The compiled time expressions of one source."""

    def __init__(self, config: GenericJsonConfig, tz: tzinfo) -> None:
        def comp(text: str | None) -> Expression | None:
            return None if text is None else compile_expression(text)

        self._time = comp(config.time)
        self._time_from = comp(config.time_from)
        self._time_to = comp(config.time_to)
        self._interval_expr = comp(config.interval_expr)
        self._interval = timedelta(seconds=config.interval_s)
        self._format = config.time_format
        self._fallback = config.time_fallback
        self._tz = tz

    def _instant(self, expr: Expression, name: str, ctx: Any) -> datetime | None:
        raw = expr.search(ctx)
        if raw is None:
            if self._fallback:
                return None
            raise _Problem(
                f"{name}: expression {expr.text!r} yielded nothing "
                "(set time_fallback = true to use the receive time)"
            )
        form = TIME_FORMS[self._format]
        try:
            return parse_timestamp(raw, where=name, tz=self._tz, form=form)
        except MalformedInput as err:
            raise _Problem(str(err)) from None

    def interval(self, ctx: Any) -> timedelta:
        """``interval_expr`` when configured (and yielding a value), else ``interval_s``."""
        if self._interval_expr is None:
            return self._interval
        raw = self._interval_expr.search(ctx)
        if raw is None:
            if self._fallback:
                return self._interval
            text = self._interval_expr.text
            raise _Problem(f"interval_expr: expression {text!r} yielded nothing")
        try:
            return parse_duration(raw)
        except ValueError as err:
            raise _Problem(f"interval_expr: {err}") from None

    def times(
        self,
        ctx: Any,
        received_at: datetime,
        interval: timedelta,
    ) -> tuple[datetime | None, datetime | None, datetime, bool]:
        """(from, to, instant, device_time): from/to set when the device gave an interval."""
        if self._time is not None:
            if self._format == "iso_interval":
                raw = self._time.search(ctx)
                if raw is None and self._fallback:
                    return None, None, received_at, False
                if raw is None:
                    raise _Problem(f"time: expression {self._time.text!r} yielded nothing")
                try:
                    t0, t1 = parse_interval(raw, self._tz)
                except ValueError as err:
                    raise _Problem(f"time: {err}") from None
                return t0, t1, t1, True
            t = self._instant(self._time, "time", ctx)
            return (None, None, received_at, False) if t is None else (None, None, t, True)
        if self._time_from is not None or self._time_to is not None:
            start = (
                None
                if self._time_from is None
                else self._instant(self._time_from, "time_from", ctx)
            )
            end = None if self._time_to is None else self._instant(self._time_to, "time_to", ctx)
            if start is None and end is None:
                return None, None, received_at, False
            if start is None:
                assert end is not None
                start = end - interval
            elif end is None:
                end = start + interval
            if end < start:
                raise _Problem("time_to: before time_from")
            return start, end, end, True
        return None, None, received_at, False
