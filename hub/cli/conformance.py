"""``hub conformance``: run the conformance kit (:mod:`hub.testing.conformance`) from the shell.

Exit status: 0 every check passed, 1 a check failed, 2 the target or the cases
could not be loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_conformance_parser(sub: Any) -> None:
    """Register the ``conformance`` subcommand on the ``hub`` parser."""
    p = sub.add_parser(
        "conformance",
        help="run the conformance kit on a source: config, cases, faults, privacy, loop",
        description="Run every conformance check on a source and its cases "
        "(format: contrib/conformance.md). Exit 0 when all pass, 1 when one fails.",
    )
    p.add_argument(
        "target",
        help="source kind (e.g. xovis), package.module:Class (installed or under the current "
        "directory) or file.py:Class (a file inside a package keeps its relative imports)",
    )
    p.add_argument("--cases", help="folder of cases (default: the package's conformance/ folder)")
    p.add_argument("--report", metavar="FILE.md", help="also write a Markdown report")
    p.add_argument("--json", metavar="FILE", help="also write the JSON report ('-' for stdout)")
    p.add_argument(
        "--sample", help="sample config to validate (default: sample.toml next to the source)"
    )
    p.add_argument(
        "--max-step-ms",
        type=float,
        default=None,
        help="longest a single step may hold the event loop (default 200)",
    )
    p.add_argument("--quiet", action="store_true", help="print only failures and the result")
    p.set_defaults(func=cmd_conformance)


def _default_cases(cls: type[Any]) -> Path | None:
    import importlib

    module = importlib.import_module(cls.__module__)
    base = Path(module.__file__).parent if module.__file__ else None
    if base is not None and (base / "conformance").is_dir():
        return base / "conformance"
    return None


def cmd_conformance(args: argparse.Namespace) -> int:
    from hub.errors import PluginError
    from hub.testing.conformance import (
        DEFAULT_MAX_STEP_S,
        CaseError,
        resolve_source,
        run_conformance,
    )

    try:
        cls = resolve_source(args.target)
    except PluginError as err:
        print(f"hub conformance: {err}", file=sys.stderr)
        return EXIT_USAGE
    cases = Path(args.cases) if args.cases else _default_cases(cls)
    if cases is None:
        print(
            f"hub conformance: no cases for {args.target}: pass --cases DIR "
            "(format: contrib/conformance.md)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    max_step = args.max_step_ms / 1000 if args.max_step_ms else DEFAULT_MAX_STEP_S
    try:
        report = run_conformance(
            cls, cases, sample=args.sample, max_step_s=max_step, target=args.target
        )
    except CaseError as err:
        print(f"hub conformance: broken case(s):\n{err}", file=sys.stderr)
        return EXIT_USAGE
    text = report.to_text()
    if args.quiet:
        keep = [ln for ln in text.splitlines() if not ln.startswith("  PASS")]
        text = "\n".join(keep) + "\n"
    if args.json == "-":
        sys.stdout.write(report.to_json())
        sys.stderr.write(text)
    else:
        sys.stdout.write(text)
    if args.report:
        Path(args.report).write_text(report.to_markdown(), encoding="utf-8")
    if args.json and args.json != "-":
        Path(args.json).write_text(report.to_json(), encoding="utf-8")
    return EXIT_OK if report.passed else EXIT_FAIL
