"""The ESP32-Paxcounter SD-card CSV, sans-io: file text in, rows and row errors out."""

from __future__ import annotations

__all__ = ["SdRecord", "parse_sdcard_csv"]

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from hub.errors import MalformedInput
from hub.quality import parse_timestamp


@dataclass(frozen=True, slots=True)
class SdRecord:
    """One SD-card row: the counts of one send cycle ending at ``time``."""

    time: datetime
    wifi: int
    ble: int | None = None
    voltage_mv: int | None = None
    pm10: float | None = None
    pm25: float | None = None


_SD_ALIASES = {
    "timestamp": "timestamp",
    "time": "timestamp",
    "wifi": "wifi",
    "ble": "ble",
    "voltage": "voltage",
    "pm10": "pm10",
    "pm25": "pm25",
    "pm2.5": "pm25",
    "pm2_5": "pm25",
}


def _sd_time(text: str) -> datetime:
    return parse_timestamp(text, where="timestamp", form="iso")


def parse_sdcard_csv(text: str) -> tuple[list[SdRecord], list[MalformedInput]]:
    """Parse a Paxcounter SD-card file (``timestamp,wifi,ble[,voltage][,PM10,PM25]``).

    Returns the good rows and one error per bad row (with its line number);
    raises :class:`MalformedInput` when the header is not a Paxcounter header.
    Without a header line, the columns are taken as ``timestamp,wifi,ble,voltage``.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    if not rows:
        return [], []
    first = [c.strip().lower() for c in rows[0]]
    header_given = bool(first) and first[0] in ("timestamp", "time")
    if header_given:
        unknown = [c for c in first if c and c not in _SD_ALIASES]
        if unknown or "wifi" not in first:
            raise MalformedInput(
                "paxcounter SD-card CSV: header must be 'timestamp,wifi,ble' with optional "
                "'voltage', 'PM10', 'PM25' columns"
            )
        names = [_SD_ALIASES[c] for c in first]
        body = rows[1:]
        start = 2
    else:
        names = ["timestamp", "wifi", "ble", "voltage"]
        body = rows
        start = 1
    records: list[SdRecord] = []
    errors: list[MalformedInput] = []
    for number, row in enumerate(body, start=start):
        if not any(c.strip() for c in row):
            continue
        values = {n: v.strip() for n, v in zip(names, row, strict=False)}
        try:
            records.append(
                SdRecord(
                    time=_sd_time(values["timestamp"]),
                    wifi=int(values["wifi"]),
                    ble=int(values["ble"]) if values.get("ble") else None,
                    voltage_mv=int(float(values["voltage"])) if values.get("voltage") else None,
                    pm10=float(values["pm10"]) if values.get("pm10") else None,
                    pm25=float(values["pm25"]) if values.get("pm25") else None,
                )
            )
        except (KeyError, ValueError, MalformedInput):
            errors.append(
                MalformedInput(
                    f"paxcounter SD-card CSV line {number}: expected "
                    "'<ISO-8601 UTC time>,<wifi>,<ble>' with integer counts"
                )
            )
            continue
        if records[-1].wifi < 0 or (records[-1].ble or 0) < 0:
            records.pop()
            errors.append(MalformedInput(f"paxcounter SD-card CSV line {number}: negative count"))
    return records, errors
