"""``hub audit`` (what went where, and whether the record is intact) and ``hub privacy-report``.

``hub audit [FILE]`` reads ``data_dir/audit.jsonl`` (see :mod:`hub.views.audit`): like
``hub status`` it reads only ``[hub] data_dir`` of the config file, so it works without
the hub's secrets. ``--verify`` checks the hash chain and names the first broken
record (exit 1). ``hub privacy-report FILE`` loads the whole configuration and prints
the Markdown report of :func:`hub.views.report.privacy_report`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.cli.status import _data_dir_of
from hub.core.config import load_config, preliminary_plugin_settings, read_toml
from hub.core.plugins import load_plugins
from hub.views.audit import read, verify
from hub.views.report import privacy_report

__all__ = ["add_audit_parser", "add_privacy_report_parser", "parse_when"]

EXIT_OK, EXIT_BROKEN, EXIT_USAGE = 0, 1, 2
_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_SHOWN_FIRST = ("seq", "time", "kind")
_NOT_SHOWN = ("prev", "hash")
_ORDER = ("view", "sink", "events", "zones", "lines", "measurements", "from", "to", "policy")


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (without a zone: UTC) or an age such as ``15m``, ``2h``, ``7d``."""
    m = _AGO.match(text.strip())
    if m:
        now = now or datetime.now(UTC)
        return now - timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])
    t = datetime.fromisoformat(text.strip())
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _audit_path(args: argparse.Namespace) -> Path | str:
    if args.file:
        data_dir = _data_dir_of(Path(args.file))
        return data_dir if isinstance(data_dir, str) else data_dir / "audit.jsonl"
    return Path(args.data_dir or "data") / "audit.jsonl"


def _line(rec: dict[str, Any]) -> str:
    head = f"#{rec.get('seq')} {rec.get('time')} {rec.get('kind', '?'):<6}"
    rest = []
    keys = [k for k in _ORDER if k in rec] + sorted(set(rec) - set(_ORDER))
    for key in keys:
        value = rec[key]
        if key in _SHOWN_FIRST or key in _NOT_SHOWN:
            continue
        if isinstance(value, list):
            value = ",".join(map(str, value)) or "-"
        rest.append(f"{key}={value}")
    return f"{head} {' '.join(rest)}"


def cmd_audit(args: argparse.Namespace) -> int:
    path = _audit_path(args)
    if isinstance(path, str):
        print(path, file=sys.stderr)
        return EXIT_USAGE
    if args.verify:
        verdict = verify(path)
        print(f"{path}: {verdict}", file=sys.stdout if verdict.ok else sys.stderr)
        return EXIT_OK if verdict.ok else EXIT_BROKEN
    try:
        since = parse_when(args.since) if args.since else None
        until = parse_when(args.until) if args.until else None
    except ValueError as err:
        print(
            f"hub: --since/--until: {err}; give an ISO time (2026-06-01T12:00, UTC unless "
            "it says otherwise) or an age such as 15m, 2h, 7d",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not path.exists():
        print(f"hub: no audit log at {path}: nothing has been sent yet", file=sys.stderr)
        return EXIT_OK
    try:
        records = read(
            path, kind=args.kind, view=args.view, sink=args.sink, since=since, until=until
        )
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False) if args.json else _line(rec))
    except (ValueError, KeyError) as err:
        print(
            f"hub: {path}: unreadable record ({err}); run `hub audit --verify` to find it",
            file=sys.stderr,
        )
        return EXIT_BROKEN
    return EXIT_OK


def cmd_privacy_report(args: argparse.Namespace) -> int:
    path = Path(args.file)
    settings = preliminary_plugin_settings(read_toml(path))
    registry = load_plugins(load=settings.load, block=settings.block)
    config = load_config(path, registry)
    text = privacy_report(
        site=config.site,
        views=config.views,
        sinks=config.sinks,
        sources=config.sources,
        data_dir=config.data_dir,
        sink_classes={kind: entry[0] for kind, entry in registry.sinks.items()},
        source_descriptions={
            kind: entry[0].description for kind, entry in registry.sources.items()
        },
        config_file=args.file,
    )
    print(text, end="" if text.endswith("\n") else "\n")
    return EXIT_OK


def add_audit_parser(sub: Any) -> None:
    a = sub.add_parser(
        "audit",
        help="show the audit log (what went to which output through which view); "
        "--verify checks it",
        description="Read data_dir/audit.jsonl. Filters combine. Exit 1 when --verify "
        "finds a changed, removed or moved record.",
    )
    a.add_argument("file", nargs="?", help="the config file the hub runs with")
    a.add_argument("--data-dir", help="the hub's data_dir (instead of FILE; default ./data)")
    a.add_argument("--view", help="only this view's records")
    a.add_argument("--sink", help="only this output's records")
    a.add_argument("--kind", choices=["sent", "access", "action"], help="only this kind")
    a.add_argument("--since", help="from this time: ISO (UTC unless given) or an age (2h, 7d)")
    a.add_argument("--until", help="before this time: ISO or an age")
    a.add_argument("--json", action="store_true", help="the records as JSON lines")
    a.add_argument(
        "--verify", action="store_true", help="check the hash chain; name the first broken record"
    )
    a.set_defaults(func=cmd_audit)


def add_privacy_report_parser(sub: Any) -> None:
    p = sub.add_parser(
        "privacy-report",
        help="print the privacy report (Markdown, for a DPIA) of a config file",
    )
    p.add_argument("file", help="TOML config file")
    p.set_defaults(func=cmd_privacy_report)
