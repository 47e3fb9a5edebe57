"""Sans-io parser for the CSV form of the VIVOTEK counting report push.

The camera's report push (VCA → Report → Report push, format ``CSV``) sends the
same content as the JSON report in blocks of a header line and value lines, as
in the vendor's user manual (SC8131)::

    UtcTime,GroupID,DeviceID,ModelName,MacAddress,IPAddress,TimeZone,DST
    2015-05-28T06:30:01Z,0,0,SC8131,00:02:81:31:00:08,172.16.2.134,+8,0
    RuleType,RuleName,In,Out,StartTime,EndTime
    Counting,Counting1,1,2,2015-05-28T06:15:00Z,2015-05-28T06:30:00Z
    Counting,Counting2,0,0,2015-05-28T06:15:00Z,2015-05-28T06:30:00Z

* A line whose first cell is ``UtcTime`` starts the *source* block; only its
  ``TimeZone`` column is read (device identity is never read).
* A line whose first cell is ``RuleType`` starts a *data* block; each following
  line is one rule's interval. Columns are found by header name, case-insensitive,
  in any order; extra columns are ignored.
* ``RuleType`` other than ``Counting`` is counted and ignored; blank lines and a
  UTF-8 byte-order mark are allowed; ``,`` or ``;`` separate cells.

The result is the same :class:`~.protocol.VivotekReport` as the JSON form.
Raises only :class:`hub.MalformedInput`, naming the line and column.
"""

from __future__ import annotations

__all__ = ["parse_vivotek_csv"]

import csv
from datetime import UTC, tzinfo

from hub.errors import MalformedInput
from hub.quality import parse_count, parse_timestamp

from .protocol import VivotekCount, VivotekReport, parse_tz, plausible_count

_NEEDED = ("rulename", "in", "out", "starttime", "endtime")
_MAX_LINES = 100_000


def _text(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedInput("VIVOTEK CSV report: body is not UTF-8 text") from None


def parse_vivotek_csv(body: bytes | str, default_tz: tzinfo = UTC) -> VivotekReport:
    """Parse a CSV counting report (see the module docstring)."""
    text = _text(body).lstrip("\ufeff")
    lines = text.splitlines()
    if len(lines) > _MAX_LINES:
        raise MalformedInput(f"VIVOTEK CSV report: more than {_MAX_LINES} lines")
    delimiter = ";" if lines and lines[0].count(";") > lines[0].count(",") else ","
    tz = default_tz
    header: dict[str, int] | None = None
    source_header: dict[str, int] | None = None
    counts: list[VivotekCount] = []
    other = 0
    try:
        rows = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as err:
        raise MalformedInput(f"VIVOTEK CSV report: not CSV ({err})") from None
    for n, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        first = cells[0].lower()
        if first == "utctime":
            source_header, header = {c.lower(): i for i, c in enumerate(cells)}, None
            continue
        if first == "ruletype":
            header, source_header = {c.lower(): i for i, c in enumerate(cells)}, None
            missing = [k for k in _NEEDED if k not in header]
            if missing:
                raise MalformedInput(
                    f"VIVOTEK CSV report line {n}: the RuleType header lacks {', '.join(missing)}"
                )
            continue
        if source_header is not None:
            col = source_header.get("timezone")
            if col is not None and col < len(cells):
                tz = parse_tz(cells[col]) or default_tz
            source_header = None
            continue
        if header is None:
            raise MalformedInput(
                f"VIVOTEK CSV report line {n}: data before a 'RuleType,RuleName,In,Out,"
                "StartTime,EndTime' header; is this a counting report?"
            )
        counts_or_none = _row(cells, header, n, tz)
        if counts_or_none is None:
            other += 1
        else:
            counts.append(counts_or_none)
    if header is None:
        raise MalformedInput(
            "VIVOTEK CSV report: no 'RuleType,RuleName,In,Out,StartTime,EndTime' header"
        )
    return VivotekReport(counts, other)


def _row(cells: list[str], header: dict[str, int], n: int, tz: tzinfo) -> VivotekCount | None:
    where = f"VIVOTEK CSV report line {n}"

    def cell(name: str) -> str:
        i = header[name]
        if i >= len(cells) or cells[i] == "":
            raise MalformedInput(f"{where}: column '{name}' is empty")
        return cells[i]

    kind_col = header["ruletype"]
    if kind_col < len(cells) and cells[kind_col].lower() != "counting":
        return None
    start = parse_timestamp(cell("starttime"), where=f"{where} StartTime", tz=tz)
    end = parse_timestamp(cell("endtime"), where=f"{where} EndTime", tz=tz)
    if end < start:
        raise MalformedInput(f"{where}: EndTime is before StartTime")
    return VivotekCount(
        rule=cell("rulename"),
        in_=plausible_count(parse_count(cell("in"), f"{where} In"), where),
        out=plausible_count(parse_count(cell("out"), f"{where} Out"), where),
        start=start,
        end=end,
    )
