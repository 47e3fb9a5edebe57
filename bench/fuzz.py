"""Fuzz every bundled parser, and the hub's HTTP push and MQTT paths, with mutated inputs.

    .venv/bin/python bench/fuzz.py                            # 2,000 inputs per parser
    .venv/bin/python bench/fuzz.py --inputs 100000 --live 5000 --json out.json
    .venv/bin/python bench/fuzz.py --targets hikvision,axis --inputs 50000 --seed 7

Parsers (``bench/fuzz_targets.py``): the sans-io protocol code of every bundled
plugin (paxcounter packed/plain/MQTT body/SPI, TTN, Meraki, TF-Luna cm/PIX,
RPLIDAR, Xovis, AXIS, Hikvision, VIVOTEK, each generic_json mapping of the
conformance cases), called the way its source calls it. Inputs are mutations
(``bench/fuzz_mutate.py``) of the samples in /work/shared/samples, the plugins'
test fixtures and the conformance cases.

``--live N`` also sends N mutated inputs per path through a running hub
(``bench/fuzz_live.py``): its real aiohttp ingest server on 127.0.0.1 and the
MQTT transport on a Mosquitto this script starts (``hub.testing.mosquitto``).

Reported per target: inputs, accepted, refused with a documented error
(``hub.MalformedInput`` and subclasses; over HTTP a 4xx), and the rest:

* ``crash``: any other exception (HTTP: a 5xx; MQTT: the source died), per
  exception type and place;
* ``impossible``: accepted, but the result carries a count beyond 64 bits, a
  non-finite number or a time outside [2000, 2100) (live: an event doing so);

each with a minimised reproducer written to ``--crashes`` (default
``fuzz-crashes/``). Exit status 1 when anything crashed (``--strict``: or was
impossible). Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))

from fuzz_mutate import Mutator  # noqa: E402
from fuzz_report import TargetStats, record, save, table  # noqa: E402
from fuzz_targets import DOCUMENTED, Target, impossible, parser_targets  # noqa: E402


def signature(err: BaseException) -> str:
    """``TypeError at protocol.py:123 in _field``: the innermost frame of the exception."""
    frames = traceback.extract_tb(err.__traceback__)
    where = ""
    if frames:
        f = frames[-1]
        where = f" at {Path(f.filename).name}:{f.lineno} in {f.name}"
    return f"{type(err).__name__}{where}"


def classify(target: Target, data: bytes) -> tuple[str, str, str]:
    """(``accepted`` | ``refused`` | ``crash`` | ``impossible``, signature, detail)."""
    try:
        result = target.run(data)
    except DOCUMENTED as err:
        return "refused", type(err).__name__, ""
    except RecursionError as err:
        return "crash", signature(err), "RecursionError"
    except Exception as err:
        return "crash", signature(err), f"{type(err).__name__}: {str(err)[:200]}"
    if isinstance(result, list) and result and all(_refusal(i) for i in result):
        return "refused", type(result[0]).__name__, ""  # a stream decoder's refused frames
    problem = impossible(result)
    if problem:
        return "impossible", problem.split(" ", 1)[0], problem[:200]
    return "accepted", "", ""


def _refusal(item: Any) -> bool:
    """A stream decoder's item for a rejected frame (``Malformed`` / ``MalformedInput``)."""
    return isinstance(item, DOCUMENTED) or type(item).__name__ == "Malformed"


def minimise(target: Target, data: bytes, category: str, sig: str, budget: int = 300) -> bytes:
    """A smaller input with the same outcome (chunks removed while it still reproduces)."""

    def same(candidate: bytes) -> bool:
        got, got_sig, _ = classify(target, candidate)
        return got == category and got_sig == sig

    best, chunk, tries = data, max(1, len(data) // 2), 0
    while chunk >= 1 and tries < budget:
        i, shrunk = 0, False
        while i < len(best) and tries < budget:
            candidate = best[:i] + best[i + chunk :]
            tries += 1
            if candidate and same(candidate):
                best, shrunk = candidate, True
            else:
                i += chunk
        if not shrunk:
            chunk //= 2
    return best


def fuzz_parser(target: Target, n: int, rng: random.Random, out: Path | None) -> TargetStats:
    stats = TargetStats(target.name)
    mutator = Mutator(target.seeds, rng)
    inputs = list(target.seeds) + [mutator.next() for _ in range(max(0, n - len(target.seeds)))]
    for data in inputs[:n]:
        stats.inputs += 1
        t0 = time.perf_counter()
        outcome, sig, detail = classify(target, data)
        stats.slowest_ms = max(stats.slowest_ms, (time.perf_counter() - t0) * 1000)
        if outcome == "accepted":
            stats.accepted += 1
        elif outcome == "refused":
            stats.refused += 1
            stats.refusals[sig] += 1
        else:
            if outcome == "crash":
                stats.crashed += 1
            else:
                stats.impossible += 1
            finding = record(stats, outcome, sig, detail, data, out)
            if finding.count == 1:
                finding.reproducer = minimise(target, data, outcome, sig)
    save(stats, out)
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--inputs", type=int, default=2000, help="inputs per parser target")
    p.add_argument("--live", type=int, default=0, help="inputs per HTTP/MQTT path (0: none)")
    p.add_argument("--targets", help="comma-separated target names (prefix match)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--crashes", default="fuzz-crashes", help="folder for reproducers")
    p.add_argument("--json", help="write the counts as JSON to this file ('-': stdout)")
    p.add_argument("--strict", action="store_true", help="exit 1 on impossible results too")
    args = p.parse_args(argv)
    out = Path(args.crashes) if args.crashes else None
    wanted = [t.strip() for t in args.targets.split(",")] if args.targets else None
    rows: list[TargetStats] = []
    t0 = time.perf_counter()
    for target in parser_targets() if args.inputs > 0 else []:
        if wanted and not any(target.name.startswith(w) for w in wanted):
            continue
        rng = random.Random(f"{args.seed}:{target.name}")
        rows.append(fuzz_parser(target, args.inputs, rng, out))
    if args.live:
        from fuzz_live import fuzz_live

        rows.extend(fuzz_live(args.live, args.seed, out, wanted))
    elapsed = time.perf_counter() - t0
    report = {"seconds": round(elapsed, 1), "targets": [r.row() for r in rows]}
    if args.json == "-":
        print(json.dumps(report, indent=2))
    else:
        print(table(rows))
        print(f"{elapsed:.1f} s")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    bad = sum(r.crashed for r in rows) + (sum(r.impossible for r in rows) if args.strict else 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
