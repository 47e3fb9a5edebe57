"""The sans-io mapping engine of ``generic_json``: a JSON document in, readings out.

:class:`Mapper` applies a :class:`~.config.GenericJsonConfig` to parsed JSON. Only
what the expressions select is used (an allowlist: nothing else of the payload
reaches an event):

1. ``device`` and ``sequence`` are read from the whole message: a repeated
   sequence number drops the message as a duplicate, a skipped one flags every
   reading of the message with ``SEQUENCE_GAP``;
2. with ``items``, every element of that list becomes one reading, and the
   other expressions are evaluated against ``{"item": <element>, "message":
   <whole document>}``; without ``items`` they see the document itself;
3. per reading: measurement, place (crossings need a line, zone readings a
   zone; a line whose zone is not the reading's zone is refused), values
   (numbers or numeric strings, times ``scale``; or an azimuth mapped to in/out
   per line), time and interval length, cumulative totals to deltas with reset
   detection, plausibility, key and extras (scalars only).

Sequence numbers and cumulative totals are only *looked at* while mapping; the
changes are kept in :attr:`MapResult.pending` and applied by :meth:`Mapper.commit`
once the hub accepted the events, so a refused message retried later is not a
duplicate. State is kept per *stream*: the ``device`` value (default: the MQTT
topic) plus measurement and line/zone. Nothing here does I/O; the caller passes
the receive time. Error messages name the config field and never contain
payload values.
"""

from __future__ import annotations

__all__ = ["MapResult", "Mapper", "Reading"]


import json
import re
from collections.abc import Collection, Hashable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, cast

from hub.errors import MalformedInput
from hub.events import QualityReason
from hub.quality import (
    MAX_COUNT,
    CumulativeCounter,
    DeltaKind,
    Plausibility,
    SequenceTracker,
    Verdict,
    worst_quality,
)
from hub.site import ID_PATTERN

from .config import GenericJsonConfig, MeasurementName
from .expressions import (
    Expression,
    compile_expression,
    to_number,
)
from .fields import extra_values, safe_repr, side_of
from .reading import MapResult, Reading
from .reading import ReadingProblem as _Problem
from .timing import Timing

_ID = re.compile(ID_PATTERN)
_decode_json = json.JSONDecoder().decode
_MEASUREMENTS: frozenset[str] = frozenset({"crossing", "occupancy", "devices", "density"})
_INTERVAL = frozenset({"crossing", "devices"})


_DROP = object()
"""A place value missing from ``map`` with ``unmapped = 'drop'``: skip the reading."""


class Mapper:
    """Applies one source's mapping to JSON documents. Keeps per-stream state.

    ``tz`` is used for times without an offset; ``lines``/``zones`` are the site's
    ids (a line/zone value without ``map`` must be one of them when given);
    ``line_zones`` the zone of each site line (a reading whose zone differs from its
    line's is refused; a zone reading with only a line takes its line's zone).
    """

    def __init__(
        self,
        config: GenericJsonConfig,
        *,
        tz: tzinfo = UTC,
        lines: Collection[str] = (),
        zones: Collection[str] = (),
        line_zones: Mapping[str, str | None] | None = None,
        max_streams: int = 10_000,
    ) -> None:
        c = config
        self.config = c

        def comp(text: str | None) -> Expression | None:
            return None if text is None else compile_expression(text)

        self._items = comp(c.items)
        self._measurement_expr = comp(c.measurement_expr)
        self._line_expr = comp(c.line_expr)
        self._zone_expr = comp(c.zone_expr)
        self._in = comp(c.in_)
        self._out = comp(c.out)
        self._count = comp(c.count)
        self._value = comp(c.value)
        self._reset_marker = comp(c.reset_marker)
        self._timing = Timing(c, tz)
        self._sequence = comp(c.sequence)
        self._key = comp(c.key)
        self._device = comp(c.device)
        self._extras = tuple((name, compile_expression(e)) for name, e in c.extras.items())
        self._direction = comp(c.direction_expr)
        self._directions = {line: (d.in_, d.tolerance) for line, d in c.directions.items()}
        self._scale = c.scale
        self._map = dict(c.map)
        self._lines = frozenset(lines)
        self._zones = frozenset(zones)
        self._line_zones: Mapping[str, str | None] = line_zones or {}
        self._max_streams = max_streams
        self._sequences: dict[str, SequenceTracker] = {}
        self._totals = CumulativeCounter(max_streams)
        self._last_at: dict[tuple[str, str, str | None], datetime] = {}
        self._plausible = Plausibility(c.max_count, c.max_jump, max_keys=max_streams)

    # -- entry points ----------------------------------------------------------------------
    @staticmethod
    def decode(payload: bytes | str) -> Any:
        """Parse a JSON payload (UTF-8); MalformedInput (position only, no content) if not."""
        try:
            text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
            return _decode_json(text)
        except UnicodeDecodeError:
            raise MalformedInput("payload is not UTF-8 text (JSON must be UTF-8)") from None
        except RecursionError:
            raise MalformedInput("payload is JSON nested too deeply to read") from None
        except ValueError as err:
            detail = getattr(err, "msg", "not JSON")
            pos = getattr(err, "pos", None)
            where = f" at character {pos}" if pos is not None else ""
            raise MalformedInput(f"payload is not valid JSON ({detail}{where})") from None

    def map_payload(
        self, payload: bytes | str, *, received_at: datetime, stream: str = "", commit: bool = True
    ) -> MapResult:
        """:meth:`decode` then :meth:`map`."""
        return self.map(self.decode(payload), received_at=received_at, stream=stream, commit=commit)

    def map(
        self, data: Any, *, received_at: datetime, stream: str = "", commit: bool = True
    ) -> MapResult:
        """Map one parsed document. With ``commit=False`` the state changes wait in
        ``result.pending`` for :meth:`commit` (call it once the hub accepted the events).

        Raises MalformedInput when the message as a whole is unusable; per-item
        problems (with ``items``) are returned in ``MapResult.problems``.
        """
        result = self._map_document(data, received_at, stream)
        if commit:
            self.commit(result)
        return result

    def _map_document(self, data: Any, received_at: datetime, stream: str) -> MapResult:
        device = stream
        if self._device is not None:
            dev = self._device.search(data)
            if dev is None or isinstance(dev, dict | list):
                raise MalformedInput(
                    f"device: expression {self._device.text!r} yielded "
                    f"{'nothing' if dev is None else 'a structure'}"
                )
            device = str(dev)
        result = MapResult()
        seq: int | None = None
        gap = False
        if self._sequence is not None:
            seq = self._sequence_number(data)
            state = self._sequences.get(device)
            verdict = Verdict.FIRST if state is None else state.check(seq).verdict
            if verdict is Verdict.DUPLICATE:
                result.duplicate = True
                return result
            gap = verdict is Verdict.GAP
            result.pending.append((("seq", device), lambda: self._record_seq(device, seq)))
        if self._items is None:
            try:
                reading = self._reading(data, device, seq, gap, received_at, None, result)
            except _Problem as err:
                raise MalformedInput(str(err)) from None
            if reading is not None:
                result.readings.append(reading)
            return result
        items = self._items.search(data)
        if not isinstance(items, list):
            what = "nothing" if items is None else f"a {type(items).__name__}"
            raise MalformedInput(
                f"items: expression {self._items.text!r} yielded {what}, not a list"
            )
        for idx, item in enumerate(items):
            try:
                reading = self._reading(
                    {"item": item, "message": data}, device, seq, gap, received_at, idx, result
                )
            except (_Problem, MalformedInput) as err:
                result.problems.append(f"items[{idx}] {err}")
                continue
            if reading is not None:
                result.readings.append(reading)
        return result

    def commit(self, result: MapResult) -> None:
        """Apply the state changes of a mapped message: call it once the hub accepted
        the message's events (``emit`` returned for each). Not calling it leaves the
        source as if the message never came: a retry is mapped afresh."""
        pending, result.pending = result.pending, []
        for _, apply in pending:
            apply()

    # -- helpers ---------------------------------------------------------------------------
    def _record_seq(self, device: str, seq: int) -> None:
        state = self._sequences.get(device)
        if state is None:
            state = self._sequences[device] = SequenceTracker()
            self._bound(self._sequences)
        state.record(seq)

    def _flush(self, result: MapResult, key: Hashable) -> None:
        """Apply the pending changes of stream ``key`` now (a message naming one stream
        twice: the second reading builds on the first)."""
        keep = []
        for k, apply in result.pending:
            if k == key:
                apply()
            else:
                keep.append((k, apply))
        result.pending[:] = keep

    def _bound(self, table: dict[Any, Any]) -> None:
        while len(table) > self._max_streams:
            del table[next(iter(table))]

    def _sequence_number(self, data: Any) -> int:
        assert self._sequence is not None
        raw = self._sequence.search(data)
        try:
            n = to_number(raw)
        except ValueError as err:
            raise MalformedInput(f"sequence: {err} (expression {self._sequence.text!r})") from None
        if n < 0 or n != int(n):
            raise MalformedInput("sequence: not a non-negative whole number")
        if n > MAX_COUNT:
            raise MalformedInput("sequence: beyond a 64-bit sequence number")
        return int(n)

    def _number(self, expr: Expression, name: str, ctx: Any) -> float:
        raw = expr.search(ctx)
        try:
            n = to_number(raw)
        except ValueError as err:
            raise _Problem(f"{name}: {err} (expression {expr.text!r})") from None
        if n < 0:
            raise _Problem(f"{name}: negative value {safe_repr(n)}")
        scaled = n * self._scale if self._scale != 1.0 else n
        if scaled > MAX_COUNT:
            raise _Problem(f"{name}: {safe_repr(n)} is beyond any count (more than 2^63 - 1)")
        return scaled

    def _place(
        self, expr: Expression, name: str, ctx: Any, known: frozenset[str], required: bool
    ) -> str | object | None:
        """The site id, None (nothing, when not ``required``) or ``_DROP`` (unmapped)."""
        raw = expr.search(ctx)
        if raw is None:
            if not required:
                return None
            raise _Problem(f"{name}: expression {expr.text!r} yielded nothing")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise _Problem(f"{name}: not a string or number")
        text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw)
        if self._map:
            site_id = self._map.get(text)
            if site_id is None:
                if self.config.unmapped == "drop":
                    return _DROP
                raise _Problem(
                    f"{name}: device value {safe_repr(text)} is not in `map`; add it "
                    "(or set unmapped = 'drop')"
                )
            return site_id
        if known and text not in known:
            raise _Problem(f"{name}: {safe_repr(text)} is not a site {name[:4]} id; add a `map`")
        if not known and _ID.match(text) is None:
            raise _Problem(f"{name}: {safe_repr(text)} is not a valid id; add a `map`")
        return text

    def _reading(
        self,
        ctx: Any,
        device: str,
        seq: int | None,
        gap: bool,
        received_at: datetime,
        idx: int | None,
        result: MapResult,
    ) -> Reading | None:
        cfg = self.config
        # measurement
        if self._measurement_expr is None:
            m: str = cfg.measurement
        else:
            raw_m = self._measurement_expr.search(ctx)
            if raw_m not in _MEASUREMENTS:
                raise _Problem(
                    f"measurement_expr: yielded {safe_repr(raw_m)}, not one of "
                    "crossing, occupancy, devices, density"
                )
            m = raw_m
        # place: a crossing needs a line, a zone reading a zone (or a line, whose zone it is)
        crossing = m == "crossing"
        line: str | object | None = cfg.line
        zone: str | object | None = cfg.zone
        if self._line_expr is not None:
            line = self._place(self._line_expr, "line_expr", ctx, self._lines, crossing)
        if self._zone_expr is not None:
            zone = self._place(self._zone_expr, "zone_expr", ctx, self._zones, not crossing)
        if line is _DROP or zone is _DROP:
            return None
        line_id = cast("str | None", line)
        zone_id = cast("str | None", zone)
        if crossing and line_id is None:
            raise _Problem("a crossing needs a line: set `line` or `line_expr`")
        if line_id is not None and line_id in self._line_zones:
            line_zone = self._line_zones[line_id]
            if zone_id is None:
                zone_id = line_zone
            elif line_zone is not None and zone_id != line_zone:
                raise _Problem(
                    f"line {safe_repr(line_id)} belongs to zone {safe_repr(line_zone)}, not "
                    f"to the reading's zone {safe_repr(zone_id)}: fix `map` or the site's lines"
                )
        if not crossing and zone_id is None:
            raise _Problem(f"a {m} reading needs a zone: set `zone` or `zone_expr`")
        reading = Reading(cast(MeasurementName, m), line=line_id, zone=zone_id)
        # values
        if crossing and self._direction is not None:
            assert line_id is not None
            people = 1 if self._count is None else round(self._number(self._count, "count", ctx))
            side = self._side(line_id, ctx)
            if side is None:
                result.undirected += 1
                return None
            if side == "in":
                reading.in_ = people
            else:
                reading.out = people
        elif crossing:
            if self._in is None and self._out is None:
                raise _Problem("a crossing needs `in` and/or `out`")
            if self._in is not None:
                reading.in_ = round(self._number(self._in, "in", ctx))
            if self._out is not None:
                reading.out = round(self._number(self._out, "out", ctx))
        elif m == "density":
            if self._value is None:
                raise _Problem("a density reading needs `value`")
            reading.value = float(self._number(self._value, "value", ctx))
        else:
            if self._count is None:
                raise _Problem(f"a {m} reading needs `count`")
            n = self._number(self._count, "count", ctx)
            reading.count = float(round(n)) if m == "devices" else float(n)
        # time
        interval = self._timing.interval(ctx)
        start, end, instant, device_time = self._timing.times(ctx, received_at, interval)
        stream = (device, m, line_id if crossing else zone_id)
        reasons: list[QualityReason] = []
        if gap:
            reasons.append(QualityReason.SEQUENCE_GAP)
        raw_totals: tuple[int, ...] = ()
        if cfg.cumulative and m in _INTERVAL:
            raw_totals = (reading.in_, reading.out) if m == "crossing" else (int(reading.count),)
            marker = None if self._reset_marker is None else self._reset_marker.search(ctx)
            names = ("in", "out") if m == "crossing" else ("count",)
            totals = dict(zip(names, raw_totals, strict=True))
            at = instant if device_time else None
            self._flush(result, stream)
            delta = self._totals.check(stream, totals, at=at, epoch=marker)
            if delta.kind is DeltaKind.REPEAT:
                result.repeats += 1  # the same totals at the same device time: a replay
                return None
            if delta.kind is DeltaKind.OUT_OF_ORDER:
                result.out_of_order += 1  # older than the newest total: nothing new in it
                return None
            prev_at = self._last_at.get(stream)
            result.pending.append(
                (stream, lambda: self._record_totals(stream, totals, at, marker, instant))
            )
            if delta.first:
                result.baseline += 1
                return None
            if delta.reset:
                reasons.append(QualityReason.COUNTER_RESET)
            if m == "crossing":
                reading.in_, reading.out = delta.values["in"], delta.values["out"]
            else:
                reading.count = float(delta.values["count"])
            if start is None:
                start = prev_at if prev_at is not None and prev_at < instant else None
                start = start or instant - interval
                end = instant
        if m in _INTERVAL:
            if start is None or end is None:
                if cfg.time_is == "start" and device_time:
                    start, end = instant, instant + interval
                else:
                    start, end = instant - interval, instant
            reading.observed_from, reading.observed_to = start, end
        else:
            reading.observed_at = end if end is not None else instant
        # plausibility (max_jump: see hub.quality.Plausibility; crossings are changes)
        if m == "crossing":
            reasons += self._plausible.count(max(reading.in_, reading.out))
            reasons += self._plausible.change(reading.in_ + reading.out)
        else:
            reasons += self._plausible.level(
                stream, reading.value if m == "density" else reading.count
            )
        if reasons:
            reading.reasons = tuple(reasons)
            reading.quality = worst_quality(reasons)
        # identity
        reading.sequence = seq
        if self._key is not None:
            raw_key = self._key.search(ctx)
            if raw_key is None or isinstance(raw_key, dict | list | bool):
                raise _Problem(
                    f"key: expression {self._key.text!r} yielded "
                    f"{'nothing' if raw_key is None else 'a structure'}"
                )
            reading.key = str(raw_key)
        else:
            parts: list[str] = []
            if seq is not None:
                parts.append(str(seq))
            if device_time:
                parts.append((reading.observed_to or instant).isoformat())
                if seq is None:
                    if raw_totals:
                        parts.append(",".join(map(str, raw_totals)))
                    elif m == "crossing":
                        parts.append(f"{reading.in_},{reading.out}")
                    else:
                        parts.append(str(reading.value if m == "density" else reading.count))
            if parts and idx is not None:
                parts.append(f"#{idx}")
            reading.key = "/".join(parts) if parts else None
        if self._extras:
            reading.extras = extra_values(self._extras, ctx, result.problems)
        return reading

    def _record_totals(
        self,
        stream: tuple[str, str, str | None],
        totals: dict[str, int],
        at: datetime | None,
        marker: Any,
        instant: datetime,
    ) -> None:
        self._totals.update(stream, totals, at=at, epoch=marker)
        self._last_at[stream] = instant
        self._bound(self._last_at)

    def _side(self, line: str, ctx: Any) -> str | None:
        """'in', 'out' or None (neither within the line's tolerance) for the azimuth."""
        assert self._direction is not None
        conf = self._directions.get(line)
        if conf is None:
            raise _Problem(f"directions: no entry for line {safe_repr(line)}; add one")
        raw = self._direction.search(ctx)
        try:
            azimuth = float(to_number(raw))
        except ValueError as err:
            raise _Problem(f"direction_expr: {err} (expression {self._direction.text!r})") from None
        return side_of(azimuth, *conf)
