"""``hub simulate <device>``: a simulated device speaking the real wire format.

The device sends over the real transport to a running hub (or any broker or
server): serial bytes on a pseudo-terminal, MQTT publishes, HTTP pushes. The
payloads come from the plugins' sans-io simulators, so the demo, the tests and
vendors all exercise the same bytes. The devices are the ones the loaded plugins
register (``register_simulators`` hook), third-party plugins included::

    hub simulate paxcounter --broker 127.0.0.1:1883 --rate 0.5
    hub simulate tfluna --beams 2 --rate 30            # prints the two pty paths
    hub simulate hikvision --url http://127.0.0.1:8080/ingest/gate-b-hik --user u --password p

Common options: ``--rate``, ``--count N`` / ``--duration S``, ``--seed``;
faults where they apply (``--bad-checksum-every``, ``--reset-every``,
``--gap-every``, ``--disconnect-every``...). One line per thing sent, without
identifiers. Ctrl-C or SIGTERM stops it cleanly (exit 0).

:func:`build_simulator` makes a simulator from the same arguments, for the demo
and tests; :func:`run_simulator` runs it until done, a duration or a signal.
"""

from __future__ import annotations

__all__ = ["add_simulate_parser", "build_simulator", "run_simulator", "simulate_parser"]

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from hub.core.plugins import Registry, load_plugins
from hub.simulate.base import Simulator
from hub.simulate.links import Say
from hub.simulate.registry import SimulatorEntry, collect_simulators

_DESCRIPTION = (
    "A simulated device sends over the real transport (serial bytes on a "
    "pseudo-terminal, MQTT publishes, HTTP pushes) to a running hub, with the payloads of "
    "the plugins' own simulators. One line per thing sent; Ctrl-C stops it."
)


def simulate_parser(simulators: Mapping[str, SimulatorEntry]) -> argparse.ArgumentParser:
    """The ``hub simulate`` parser: one subcommand per registered device."""
    parser = argparse.ArgumentParser(
        prog="hub simulate",
        description=_DESCRIPTION,
        epilog="'hub simulate DEVICE --help' shows a device's options. Plugins contribute "
        "devices through the register_simulators hook (contrib/hooks.md).",
    )
    devices = parser.add_subparsers(dest="device", required=True, metavar="DEVICE", title="devices")
    for name, entry in simulators.items():
        cls = entry.cls
        summary = cls.summary if entry.builtin else f"{cls.summary} (plugin {entry.plugin})"
        p = devices.add_parser(name, aliases=list(cls.aliases), help=summary, description=summary)
        g = p.add_argument_group("common")
        g.add_argument(
            "--rate",
            type=float,
            default=cls.default_rate,
            help=f"{cls.rate_help} (default {cls.default_rate:g})",
        )
        g.add_argument("--count", type=int, help="stop after sending this many (default: never)")
        g.add_argument("--duration", type=float, help="stop after this many seconds")
        g.add_argument("--seed", type=int, default=1, help="random seed (reproducible runs)")
        cls.add_arguments(p)
        p.set_defaults(simulator=cls)
    return parser


def add_simulate_parser(sub: Any) -> None:
    """Add ``simulate`` to the ``hub`` command's subparsers.

    The devices come from the plugins, which are loaded only when ``hub simulate``
    runs (a broken plugin must not break ``hub --help``): this parser passes every
    argument through, and :func:`cmd_simulate` parses them with :func:`simulate_parser`.
    """
    p = sub.add_parser(
        "simulate",
        help="run a simulated device speaking the real wire format (pty, MQTT, HTTP)",
        description=_DESCRIPTION,
        add_help=False,  # 'hub simulate --help' is the full parser's, with the devices
        prefix_chars="\0",  # so options reach argv untouched
    )
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_simulate)


def build_simulator(
    argv: Sequence[str], say: Say, *, registry: Registry | None = None
) -> Simulator:
    """A simulator from ``hub simulate`` arguments (``["paxcounter", "--rate", "2"]``),
    among the devices of ``registry``'s plugins (default: every installed plugin)."""
    simulators = collect_simulators(registry or load_plugins())
    args = simulate_parser(simulators).parse_args(list(argv))
    cls: type[Simulator] = args.simulator
    return cls(args, say)


async def run_simulator(sim: Simulator, duration: float | None = None) -> None:
    """Run until the simulator is done, ``duration`` passed, or SIGINT/SIGTERM."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, task.cancel)
            handled.append(sig)
    try:
        async with asyncio.timeout(duration):
            await sim.run()
    except TimeoutError:
        pass
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def _print(line: str) -> None:
    print(line, flush=True)


def cmd_simulate(outer: argparse.Namespace) -> int:
    args = simulate_parser(collect_simulators(load_plugins())).parse_args(outer.argv)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    cls: type[Simulator] = args.simulator
    try:
        sim = cls(args, _print)
    except ValueError as err:
        print(f"hub simulate {cls.device}: {err}", file=sys.stderr)
        return 2
    _print(f"{cls.device}: simulating, sending to {sim.target()}; stop with Ctrl-C")

    async def main() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await run_simulator(sim, args.duration)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except ValueError as err:
        print(f"hub simulate {cls.device}: {err}", file=sys.stderr)
        return 2
    _print(f"{cls.device}: stopped after {sim.sent} sent")
    return 0
