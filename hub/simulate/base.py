"""The frame every simulated device shares: options, pacing, counting what was sent.

A plugin's simulated device subclasses :class:`Simulator` (or one of the
message-device frames of :mod:`hub.simulate.devices`), declares its options in
:meth:`Simulator.add_arguments` with the option groups below, and registers the
class through the ``register_simulators`` hook.
"""

from __future__ import annotations

__all__ = [
    "FOREVER",
    "Pace",
    "Simulator",
    "add_faults",
    "add_http",
    "add_mqtt",
    "every",
    "forever",
    "http_auth",
]

import argparse
import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar

from hub.transports import HttpAuth

from .links import Say

FOREVER = 10**9
"""A count no run reaches: "send forever" for the sans-io generators that take a count."""


class _Timed(Protocol):
    @property
    def at(self) -> datetime: ...


_T = TypeVar("_T", bound=_Timed)


def forever(n: int) -> Sequence[int]:
    """Indexes ``n-1, 2n-1, ...`` (every n-th, 0-based) as a cheap lazy sequence."""
    return range(n - 1, FOREVER, n) if n > 0 else ()


def every(n: int | None, k: int) -> bool:
    """True for the n-th, 2n-th... thing (``k`` counts from 1)."""
    return bool(n) and k % n == 0  # type: ignore[operator]


class Pace:
    """Keeps a steady schedule on the loop clock (catches up after a stall of < 1 s)."""

    def __init__(self) -> None:
        self.start = asyncio.get_running_loop().time()
        self.due = self.start

    async def after(self, delay_s: float) -> None:
        """Wait until ``delay_s`` after the previous due time."""
        loop = asyncio.get_running_loop()
        self.due += delay_s
        now = loop.time()
        if self.due < now - 1.0:  # far behind (suspended, overloaded): restart the schedule
            self.due = now
        await asyncio.sleep(max(0.0, self.due - now))

    async def until(self, offset_s: float) -> None:
        """Wait until ``offset_s`` after the start."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self.start + offset_s - loop.time()))


class Simulator(ABC):
    """One simulated device. ``run()`` sends until ``--count`` things were sent (or forever);
    the runner cancels it at ``--duration``, Ctrl-C or SIGTERM."""

    device: ClassVar[str]
    """The name after ``hub simulate`` (lower case, unique across plugins)."""
    summary: ClassVar[str]
    """One line for ``hub simulate --help``."""
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other names ``hub simulate`` accepts for this device."""
    rate_help: ClassVar[str] = "messages per second"
    default_rate: ClassVar[float] = 1.0
    start_before_hub: ClassVar[bool] = False
    """True when the hub opens the device (a serial port on a pty), so the device must be
    up before the hub starts; False when the device reaches the hub (MQTT, HTTP push)."""

    def __init__(self, args: argparse.Namespace, say: Say) -> None:
        self.args = args
        self.say = say
        self.sent = 0
        self.rng = random.Random(args.seed)
        if args.rate <= 0:
            raise ValueError("--rate must be > 0")

    @classmethod
    @abstractmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Device options (the runner adds --rate, --count, --duration, --seed)."""

    def more(self) -> bool:
        return self.args.count is None or self.sent < self.args.count

    def report(self, line: str) -> None:
        """Count one thing sent and say what it was."""
        self.sent += 1
        self.say(f"{self.device}: {line}")

    async def paced(self, stream: Iterable[_T], start: datetime) -> AsyncIterator[_T]:
        """Yield the simulator's timed messages (``msg.at``) on schedule, until ``--count``."""
        pace = Pace()
        for msg in stream:
            if not self.more():
                return
            await pace.until((msg.at - start).total_seconds())
            yield msg

    @abstractmethod
    def target(self) -> str:
        """Where the device sends to (for the start line)."""

    @abstractmethod
    async def run(self) -> None:
        """Send until done or cancelled; close everything on the way out."""


# -- option groups ---------------------------------------------------------------------------


def add_mqtt(
    p: argparse.ArgumentParser,
    *,
    broker: str | None = "127.0.0.1:1883",
    topic: str | None = None,
    credentials: bool = True,
) -> None:
    """Add ``--broker`` (and ``--user``/``--password``, ``--topic``) for a device on MQTT."""
    g = p.add_argument_group("MQTT target")
    where = f" (default {broker})" if broker else " (instead of pushing over HTTP)"
    g.add_argument("--broker", default=broker, metavar="HOST:PORT", help="MQTT broker" + where)
    if credentials:
        g.add_argument("--user", help="MQTT user name")
        g.add_argument("--password", help="MQTT password")
    if topic is not None:
        g.add_argument("--topic", default=topic, help=f"topic to publish on (default {topic})")


def add_http(
    p: argparse.ArgumentParser, path: str, *, basic: bool = True, bearer: bool = True
) -> None:
    """Add ``--url`` (default the hub's ingest path ``/ingest/<path>``) and the auth options."""
    g = p.add_argument_group("HTTP target")
    url = f"http://127.0.0.1:8080/ingest/{path}"
    g.add_argument("--url", default=url, help=f"where to push (default {url})")
    if bearer:
        g.add_argument("--token", help="bearer token sent with each push")
    if basic:
        g.add_argument("--user", help="basic auth user")
        g.add_argument("--password", help="basic auth password")


def http_auth(args: argparse.Namespace) -> HttpAuth | None:
    """The auth of :func:`add_http`'s options: ``--token`` (bearer) or ``--user`` (basic)."""
    token = getattr(args, "token", None)
    if token:
        return HttpAuth(scheme="bearer", token=token)
    user = getattr(args, "user", None)
    if user is not None:
        return HttpAuth(scheme="basic", username=user, password=args.password or "")
    return None


_FAULTS = {
    "bad-checksum": "every N-th {0} has a bad checksum",
    "reset": "the device resets its counters every N {0}s",
    "gap": "every N-th {0} is lost (a sequence gap)",
    "disconnect": "drop the connection every N {0}s",
}


def add_faults(p: argparse.ArgumentParser, unit: str, **faults: str | None) -> None:
    """Add ``--<fault>-every N`` options; a value overrides the default help text."""
    g = p.add_argument_group("faults")
    for name, text in faults.items():
        flag = name.replace("_", "-")
        g.add_argument(
            f"--{flag}-every",
            type=int,
            default=0,
            metavar="N",
            help=text or _FAULTS[flag].format(unit),
        )
