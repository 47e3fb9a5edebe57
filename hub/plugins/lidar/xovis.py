"""Sans-io parsing of Xovis data pushes (firmware 5.x, JSON format version 5.0).

Two agent types matter here:

* the **logics** push ``{"logics_data": {package_info, sensor_info, logics: [...]}}``:
  per logic (a line or a zone configured on the sensor), records per time bin
  with counters. Line counters (``fw``/``bw``) are *accumulation* counters:
  people per bin. Zone ``balance`` is a *state* counter: the value at the end
  of the bin. Counter ids are ``logic_id * 1000 + n``.
* the **live** push ``{"live_data": {..., frames: [{time, tracked_objects: [...]}]}}``:
  per-person tracks. Only :func:`count_objects` ever looks at them; track ids
  are dropped while parsing and positions never leave this module's objects.

Times arrive as RFC 3339 strings or epoch milliseconds (agent setting
``time: RFC3339 | UNIX_TIME_MS``); both are accepted (read by
:func:`hub.quality.parse_timestamp`; a time without offset is UTC). Package ids
are tracked and records deduplicated with :mod:`hub.quality` in
:mod:`.xovis_handler`. The sensor's serial number and name are not kept.
"""

from __future__ import annotations

__all__ = [
    "LiveFrame",
    "LiveObject",
    "LivePackage",
    "LogicsPackage",
    "XovisCount",
    "XovisLogicData",
    "XovisRecord",
    "count_objects",
    "parse_push",
]

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from hub.errors import MalformedInput
from hub.quality import parse_count, parse_timestamp

from .scan import point_in_polygon

_WHAT = "xovis push"


def _fail(path: str, problem: str) -> MalformedInput:
    return MalformedInput(f"{_WHAT}: {path}: {problem}")


def parse_time(value: Any, path: str) -> datetime:
    """RFC 3339 (naive = UTC) or epoch milliseconds/seconds: :func:`hub.quality.parse_timestamp`."""
    return parse_timestamp(value, where=f"{_WHAT}: {path}")


def _int(value: Any, path: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    return parse_count(value, f"{_WHAT}: {path}", signed=True)


def _req_int(value: Any, path: str) -> int:
    v = _int(value, path)
    assert v is not None
    return v


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, "expected an object")
    return value


def _list(value: Any, path: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(path, "expected a list")
    return value


# -- logics push -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class XovisCount:
    id: int | None
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class XovisRecord:
    start: datetime
    end: datetime
    samples: int | None
    samples_expected: int | None
    counts: tuple[XovisCount, ...]

    @property
    def complete(self) -> bool:
        """False when the sensor delivered fewer samples than the bin expects."""
        if self.samples is None or self.samples_expected is None:
            return True
        return self.samples >= self.samples_expected

    def counter(self, name: str, logic_id: int, default_n: int | None = None) -> int | None:
        """The value of counter ``name`` (case-insensitive), else of id
        ``logic_id*1000 + default_n``; None when absent."""
        for c in self.counts:
            if c.name.lower() == name.lower():
                return c.value
        if default_n is not None:
            for c in self.counts:
                if c.id == logic_id * 1000 + default_n:
                    return c.value
        return None


@dataclass(frozen=True, slots=True)
class XovisLogicData:
    id: int
    name: str
    geometry: Literal["LINE", "ZONE"] | None
    records: tuple[XovisRecord, ...]


@dataclass(frozen=True, slots=True)
class LogicsPackage:
    version: str | None
    package_id: int | None
    agent_id: int | None
    sensor_time: datetime | None
    logics: tuple[XovisLogicData, ...]


def _record(raw: Any, path: str) -> XovisRecord:
    r = _obj(raw, path)
    for key in ("from", "to"):
        if key not in r:
            raise _fail(f"{path}.{key}", "missing")
    start, end = parse_time(r["from"], f"{path}.from"), parse_time(r["to"], f"{path}.to")
    if end < start:
        raise _fail(path, "'to' is before 'from'")
    counts = []
    for k, c_raw in enumerate(_list(r.get("counts"), f"{path}.counts")):
        cp = f"{path}.counts[{k}]"
        c = _obj(c_raw, cp)
        value = _int(c.get("value"), f"{cp}.value")
        assert value is not None
        counts.append(
            XovisCount(
                _int(c.get("id"), f"{cp}.id", optional=True), str(c.get("name") or ""), value
            )
        )
    return XovisRecord(
        start,
        end,
        _int(r.get("samples"), f"{path}.samples", optional=True),
        _int(r.get("samples_expected"), f"{path}.samples_expected", optional=True),
        tuple(counts),
    )


def _logic(raw: Any, path: str) -> XovisLogicData:
    lg = _obj(raw, path)
    logic_id = _req_int(lg.get("id"), f"{path}.id")
    geometry: Literal["LINE", "ZONE"] | None = None
    for g in _list(lg.get("geometries"), f"{path}.geometries"):
        kind = str(g.get("type", "")).upper() if isinstance(g, Mapping) else ""
        if kind in ("LINE", "ZONE"):
            geometry = "LINE" if kind == "LINE" else "ZONE"
            break
    records = tuple(
        _record(r, f"{path}.records[{k}]")
        for k, r in enumerate(_list(lg.get("records"), f"{path}.records"))
    )
    return XovisLogicData(logic_id, str(lg.get("name") or ""), geometry, records)


def _package_info(data: Mapping[str, Any], path: str) -> tuple[str | None, int | None, int | None]:
    info = data.get("package_info")
    if info is None:
        return None, None, None
    pi = _obj(info, f"{path}.package_info")
    version = pi.get("version")
    return (
        str(version) if version is not None else None,
        _int(pi.get("id"), f"{path}.package_info.id", optional=True),
        _int(pi.get("agent_id"), f"{path}.package_info.agent_id", optional=True),
    )


def _logics_package(data: Mapping[str, Any]) -> LogicsPackage:
    version, pid, agent = _package_info(data, "logics_data")
    sensor_time = None
    si = data.get("sensor_info")
    if isinstance(si, Mapping) and si.get("time") is not None:
        sensor_time = parse_time(si["time"], "logics_data.sensor_info.time")
    if "logics" not in data:
        raise _fail("logics_data.logics", "missing")
    logics = tuple(
        _logic(lg, f"logics_data.logics[{k}]")
        for k, lg in enumerate(_list(data["logics"], "logics_data.logics"))
    )
    return LogicsPackage(version, pid, agent, sensor_time, logics)


# -- live push ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveObject:
    """A tracked object without its track id. Its position stays inside the plugin."""

    type: str
    x: float | None
    y: float | None


@dataclass(frozen=True, slots=True)
class LiveFrame:
    time: datetime | None
    objects: tuple[LiveObject, ...]


@dataclass(frozen=True, slots=True)
class LivePackage:
    package_id: int | None
    agent_id: int | None
    frames: tuple[LiveFrame, ...]


def _position(raw: Any) -> tuple[float | None, float | None]:
    """(x, y), or (None, None) when missing or not finite (NaN never lands in a zone)."""
    try:
        if isinstance(raw, list | tuple) and len(raw) >= 2:
            x, y = float(raw[0]), float(raw[1])
        elif isinstance(raw, Mapping):
            x, y = float(raw["x"]), float(raw["y"])
        else:
            return None, None
    except (KeyError, TypeError, ValueError, OverflowError):
        return None, None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else (None, None)


def _live_package(data: Mapping[str, Any]) -> LivePackage:
    _, pid, agent = _package_info(data, "live_data")
    frames = []
    for k, f_raw in enumerate(_list(data.get("frames"), "live_data.frames")):
        f = _obj(f_raw, f"live_data.frames[{k}]")
        t = parse_time(f["time"], f"live_data.frames[{k}].time") if "time" in f else None
        objs = []
        for o in _list(f.get("tracked_objects"), f"live_data.frames[{k}].tracked_objects"):
            if isinstance(o, Mapping):
                x, y = _position(o.get("position"))
                objs.append(LiveObject(str(o.get("type") or ""), x, y))
        frames.append(LiveFrame(t, tuple(objs)))
    return LivePackage(pid, agent, tuple(frames))


def count_objects(
    frame: LiveFrame, polygon: Sequence[tuple[float, float]], types: Sequence[str]
) -> int:
    """Objects of ``types`` (all when empty) inside ``polygon`` (everywhere when empty)."""
    wanted = {t.upper() for t in types}
    n = 0
    for o in frame.objects:
        if wanted and o.type.upper() not in wanted:
            continue
        if polygon and (o.x is None or o.y is None or not point_in_polygon((o.x, o.y), polygon)):
            continue
        n += 1
    return n


def parse_push(doc: Any) -> LogicsPackage | LivePackage:
    """A decoded JSON document → a logics or live package; MalformedInput otherwise."""
    if not isinstance(doc, Mapping):
        raise _fail("body", "expected a JSON object with 'logics_data' or 'live_data'")
    if "logics_data" in doc:
        return _logics_package(_obj(doc["logics_data"], "logics_data"))
    if "live_data" in doc:
        return _live_package(_obj(doc["live_data"], "live_data"))
    raise _fail("body", "neither 'logics_data' nor 'live_data' (is this a Xovis data push?)")
