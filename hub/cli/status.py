"""``hub status``: what a hub last wrote to ``data_dir/status.json``, and whether it still runs.

The running hub rewrites the file every ``status_interval_s`` (its ``time`` is the
heartbeat) with its ``pid``. A hub is reported running only when that process exists
and the heartbeat is fresh; otherwise ``not running (last seen ...)`` and exit 1.

When that heartbeat is late and the config file names an HTTP server, the live
snapshot from its ``/healthz`` is shown instead (a full or read-only data dir
stops the file, not the hub: :mod:`hub.cli.status_live`).

The config file is read for ``[hub] data_dir`` (and that server) only: no plugins are loaded and
``${VAR}`` references need not be set, so status works without the hub's secrets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.cli.status_live import is_late, live_status
from hub.core.config import read_toml, substitute_env
from hub.errors import ConfigError, ConfigProblem

EXIT_OK, EXIT_NOT_RUNNING = 0, 1
DEFAULT_DIRS = ("data", "demo-data")  # `hub run` with the default data_dir, and `hub demo`


@dataclass(frozen=True)
class Liveness:
    running: bool
    reason: str  # empty when running


def stale_after_s(interval_s: float) -> float:
    """How old a heartbeat may be before the hub counts as not running."""
    return 3 * interval_s + 5.0


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


def liveness(status: dict[str, Any], now: datetime | None = None) -> Liveness:
    """Is the hub that wrote ``status`` still running? (pid exists and heartbeat fresh)"""
    now = now or datetime.now(UTC)
    try:
        seen = datetime.fromisoformat(str(status["time"]))
        pid = int(status["pid"])
    except (KeyError, TypeError, ValueError):
        return Liveness(False, "the status file has no valid time and pid")
    age = (now - seen).total_seconds()
    last = f"last seen {seen.isoformat(timespec='seconds')}, {age:.0f} s ago"
    if status.get("state") == "stopped":
        return Liveness(False, f"{last}; it stopped")
    if not pid_exists(pid):
        return Liveness(False, f"{last}; process {pid} is gone")
    limit = stale_after_s(float(status.get("heartbeat_interval_s") or 2.0))
    if age > limit:
        return Liveness(
            False,
            f"{last}; no heartbeat for over {limit:.0f} s although process {pid} exists "
            "(hung, or the pid was reused)",
        )
    return Liveness(True, "")


def _data_dir_of(config_file: Path) -> Path | str:
    """``[hub] data_dir`` of a config file, relative to it (or a message saying what is wrong).

    Other tables are not read: unset ``${VAR}`` elsewhere in the file do not matter.
    """
    try:
        raw = read_toml(config_file)
    except ConfigError as err:
        return f"hub: {err}"
    hub_table = raw.get("hub", {})
    value = hub_table.get("data_dir", "data") if isinstance(hub_table, dict) else "data"
    problems: list[ConfigProblem] = []
    data_dir = substitute_env(value, "hub.data_dir", problems)
    if problems or not isinstance(data_dir, str):
        why = problems[0].message if problems else "must be text"
        return f"hub: {config_file}: hub.data_dir: {why}"
    return (config_file.resolve().parent / data_dir).resolve()


def find_status_file(args: argparse.Namespace) -> Path | str:
    """The status.json to read, or a message saying where to look."""
    if args.file:
        data_dir = _data_dir_of(Path(args.file))
        return data_dir if isinstance(data_dir, str) else data_dir / "status.json"
    if args.data_dir:
        return Path(args.data_dir) / "status.json"
    found = [Path(d) / "status.json" for d in DEFAULT_DIRS if (Path(d) / "status.json").is_file()]
    if found:
        return max(found, key=lambda p: p.stat().st_mtime)
    tried = " or ".join(f"./{d}/" for d in DEFAULT_DIRS)
    return (
        f"hub: no status.json in {tried}; give the config file the hub runs with "
        "(`hub status hub.toml`) or its data_dir (`hub status --data-dir DIR`)"
    )


def cmd_status(args: argparse.Namespace) -> int:
    where = find_status_file(args)
    if isinstance(where, str):
        print(where, file=sys.stderr)
        return EXIT_NOT_RUNNING
    status: dict[str, Any] | None = None
    problem = ""
    try:
        status = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problem = f"hub: no status at {where}: the hub has not run with this config"
    except (OSError, ValueError) as err:
        problem = f"hub: cannot read {where}: {err}"
    live = live_status(Path(args.file)) if args.file and is_late(status) else None
    if live is not None:
        status = live[0]
        note = f"live from {live[1]}: {where} is not being written (data dir full or read-only?)"
        status["status_file"] = note
    if status is None:
        print(problem, file=sys.stderr)
        return EXIT_NOT_RUNNING
    alive = liveness(status) if live is None else Liveness(True, "")
    if args.json:
        print(json.dumps({**status, "running": alive.running, "reason": alive.reason}, indent=2))
        return EXIT_OK if alive.running else EXIT_NOT_RUNNING
    if alive.running:
        print(
            f"hub {status['state']} (pid {status['pid']}, up {status['uptime_s']} s, "
            f"as of {status['time']})"
        )
        if status.get("status_file"):
            print(f"  ({status['status_file']})")
    else:
        print(f"hub not running ({alive.reason}); last known state ({where}):")
    _print_instances(status)
    return EXIT_OK if alive.running else EXIT_NOT_RUNNING


def _print_instances(status: dict[str, Any]) -> None:
    for sid, s in status.get("sources", {}).items():
        age = s["last_event_age_s"]
        print(
            f"  source {sid:<20} {s['kind']:<16} {s['state']:<9} in={s['events_in']} "
            f"malformed={s['malformed']} last={'-' if age is None else f'{age:.1f}s ago'}"
            + (f"  ({s['last_error']})" if s["state"] != "running" and s["last_error"] else "")
        )
    for sid, s in status.get("sinks", {}).items():
        print(
            f"  output {sid:<20} {s['kind']:<16} {s['state']:<9} out={s['events_out']} "
            f"queued={s['queued']} {_queue_text(s)}"
        )
        if s.get("last_error"):  # also once it works again: a deleted file, a refused event
            print(f"         {'last ' if s['state'] == 'running' else ''}error: {s['last_error']}")
        if s.get("queue_error"):
            print(f"         queue error: {s['queue_error']}")
    for zid, z in status.get("zones", {}).get("zones", {}).items():
        occ = "-" if z["occupancy"] is None else f"{z['occupancy']:.0f}"
        alerts = ", ".join(f"{n} {state}" for state, n in z["alerts"].items())
        print(
            f"  zone   {zid:<20} {z['level']:<16} occupancy={occ} ({z['method'] or '-'})"
            + (f"  alerts: {alerts}" if alerts else "")
        )
    for vid, v in status.get("views", {}).items():
        if v.get("sinks"):  # views no output names cost nothing and say nothing
            print(
                f"  view   {vid:<20} {len(v['sinks'])} output(s)     in={v['events_in']} "
                f"out={v['events_out']} filtered={v['filtered']} suppressed={v['suppressed']} "
                f"held={v['held']}"
            )
    if status.get("dead_letters"):
        print(f"  dead letters: {status['dead_letters']}")


def _queue_text(s: dict[str, Any]) -> str:
    """The queue's kind, size, oldest age and drops by reason, for one output line."""
    dropped = {k: v for k, v in s.get("dropped", {}).items() if v}
    drops = ",".join(f"{k}:{v}" for k, v in sorted(dropped.items())) or "0"
    if not s.get("durable", False):
        kind = f"queue={s.get('queue', 'memory')} (not durable: lost at a stop)"
    else:
        age = s.get("oldest_age_s")
        kind = (
            f"queue={s.get('queue', 'durable')} {s.get('queue_bytes', 0) / 2**20:.1f}/"
            f"{s.get('queue_max_bytes', 0) / 2**20:.0f} MiB"
            + (f" oldest={age:.1f}s" if age is not None else "")
        )
    return f"{kind} dropped={drops}"


def add_status_parser(sub: Any) -> None:
    st = sub.add_parser(
        "status",
        help="show the state of a hub; exit 0 only when it is running",
        description="Read data_dir/status.json. Without FILE or --data-dir, look in ./data "
        "and ./demo-data (the demo's). Exit 1 when the hub is not running.",
    )
    st.add_argument("file", nargs="?", help="the config file the hub runs with")
    st.add_argument("--data-dir", help="the hub's data_dir (instead of FILE)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)
