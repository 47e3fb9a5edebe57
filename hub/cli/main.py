"""The ``hub`` command.

Exit status: 0 success, 1 runtime failure, 2 bad configuration or plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import hub
from hub.cli.conformance import add_conformance_parser
from hub.cli.sample_config import add_sample_config_parser
from hub.cli.status import add_status_parser
from hub.cli.views import add_audit_parser, add_privacy_report_parser
from hub.cli.zones import add_zones_parsers
from hub.core.bus.disk_room import disk_room_warning
from hub.core.config import (
    HubConfig,
    load_config,
    preliminary_plugin_settings,
    read_toml,
)
from hub.core.log_format import LOG_FORMATS, LogFormat, setup_logging
from hub.core.plugins import Registry, load_plugins
from hub.errors import ConfigError, PluginError
from hub.events import event_json_schema
from hub.simulate.cli import add_simulate_parser

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2
LOG_FORMAT_HELP = "text (default) or json: one JSON object per line, for log shippers"
log = logging.getLogger("hub")


def _setup_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    setup_logging(level, fmt)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _registry_for(path: Path | None) -> Registry:
    if path is None:
        return load_plugins()
    settings = preliminary_plugin_settings(read_toml(path))
    return load_plugins(load=settings.load, block=settings.block)


def _load(path: Path) -> tuple[HubConfig, Registry]:
    registry = _registry_for(path)
    return load_config(path, registry), registry


# -- commands --------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    config, _ = _load(Path(args.file))
    n_src = sum(len(v) for v in config.sources.values())
    n_sink = sum(len(v) for v in config.sinks.values())
    print(
        f"{args.file}: OK ({len(config.site.zones)} zone(s), {len(config.site.lines)} "
        f"line(s), {n_src} source(s), {n_sink} output(s))"
    )
    room = disk_room_warning(config.sinks, config.data_dir)
    if room:
        print(f"warning: {room}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    config, registry = _load(path)
    _setup_logging(args.log_level or config.hub.log_level, args.log_format)
    if args.test:
        from hub.core.dry_run import run_test

        return run_test(config, registry, args.test_duration)
    if not any(config.sinks.values()):
        log.warning(
            "no outputs configured: events will be counted but go nowhere; "
            "add a [[sinks.console]] or [[sinks.sqlite]] table"
        )
    return _run(config, registry, getattr(args, "duration", None))


def _run(config: HubConfig, registry: Registry, duration: float | None) -> int:
    from hub.core.runtime import Hub, run_until_stopped

    async def body(stop: asyncio.Event) -> None:
        await Hub(config, registry).run(stop)

    return run_until_stopped(body, duration)


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo.runner import run_demo

    _setup_logging(args.log_level or "info", args.log_format)
    return run_demo(Path(args.data_dir or "demo-data").resolve(), args.duration)


def cmd_plugins(args: argparse.Namespace) -> int:
    registry = load_plugins()
    rows = [p.as_json() for p in registry.plugins]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max((len(r["name"]) for r in rows), default=4)
    origins = ["built-in" if r["builtin"] else r["distribution"] for r in rows]
    owidth = max((len(o) for o in origins), default=8)
    for r, origin in zip(rows, origins, strict=True):
        kinds = []
        for key in ("sources", "sinks", "transports"):
            if r[key]:
                kinds.append(f"{key}: {', '.join(r[key])}")
        print(f"{r['name']:<{width}}  {r['version']:<8} {origin:<{owidth}}  {'; '.join(kinds)}")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(event_json_schema(), indent=2))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hub", description="crowdhub: privacy-preserving crowd-counting integration hub"
    )
    p.add_argument("--version", action="version", version=f"crowdhub {hub.__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run the hub with a config file")
    r.add_argument("file", help="TOML config file")
    r.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    r.add_argument("--duration", type=float, help="stop after this many seconds")
    r.add_argument("--log-format", choices=LOG_FORMATS, default="text", help=LOG_FORMAT_HELP)
    r.add_argument(
        "--test",
        action="store_true",
        help="run the sources until each has produced (or --test-duration), print their "
        "events as JSON lines, write to no output",
    )
    r.add_argument(
        "--test-duration", type=float, default=10.0, metavar="S", help="--test gives up after S s"
    )
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="run the bundled demo: simulated devices, no services")
    d.add_argument("--duration", type=float, help="stop after this many seconds")
    d.add_argument("--data-dir", help="where the demo writes (default: ./demo-data)")
    d.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    d.add_argument("--log-format", choices=LOG_FORMATS, default="text", help=LOG_FORMAT_HELP)
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("check-config", help="validate a config file; exit 0 when valid, 2 if not")
    c.add_argument("file")
    c.set_defaults(func=cmd_check_config)

    add_sample_config_parser(sub)

    pl = sub.add_parser("plugins", help="list loaded plugins and the kinds they register")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(func=cmd_plugins)

    sc = sub.add_parser("schema", help="print the event JSON Schema")
    sc.set_defaults(func=cmd_schema)

    add_status_parser(sub)
    add_audit_parser(sub)
    add_privacy_report_parser(sub)
    add_zones_parsers(sub)

    add_conformance_parser(sub)
    add_simulate_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ConfigError as err:
        _err(str(err))
        _err(f"hub: {len(err.problems)} problem(s) in the configuration; nothing was started")
        return EXIT_CONFIG
    except PluginError as err:
        _err(f"hub: plugin error:\n{err}")
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `hub zones | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail
        return EXIT_OK
