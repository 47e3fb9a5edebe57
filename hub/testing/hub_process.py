"""`hub run` as a child process, for end-to-end tests and benches.

:class:`HubProcess` starts ``python -m hub run <config>`` with its output in a log file,
waits until the hub is up (``/healthz`` on its HTTP port, or any condition of the test),
and stops it with SIGTERM, returning its exit code::

    with HubProcess(config, tmp_path / "hub.log") as hub:
        hub.wait_healthy(port)
        ...
        assert hub.stop() == 0, hub.log_tail()

Every wait fails with :class:`HubExited` (an :class:`AssertionError`, so pytest shows it as
a failed check) when the hub ends early, and with a plain :class:`AssertionError` when the
time runs out; both messages end with the tail of the hub's log. Each wait has an ``_async``
twin (its time limit named ``within_s``) that polls without blocking the event loop, for
tests that run servers the hub talks to in their own loop. Leaving the ``with`` block stops
a hub still running (SIGTERM, then SIGKILL after 30 s).
"""

from __future__ import annotations

__all__ = ["HubExited", "HubProcess"]

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar, overload

T = TypeVar("T")

POLL_S = 0.1
TAIL_CHARS = 3000


class HubExited(AssertionError):
    """The hub process ended while the test still waited for it (message: exit code and
    log tail)."""


class HubProcess:
    """``python -m hub run [extra_args] config_path`` as a subprocess.

    ``log_path`` gets the hub's stderr (its log) and, unless ``stdout_path`` is given, its
    stdout; it is appended to, so a hub started again on the same log keeps one record.
    ``env`` holds variables added to the test's environment; ``cwd`` is the hub's working
    directory. The process starts on :meth:`start` or on entering the ``with`` block (which
    may also hold a started one: ``with HubProcess(...).start() as hub``).
    """

    def __init__(
        self,
        config_path: str | Path,
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        cwd: Path | None = None,
        stdout_path: Path | None = None,
    ) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.env = dict(env or {})
        self.extra_args = tuple(extra_args)
        self.cwd = cwd
        self.stdout_path = stdout_path
        self._proc: subprocess.Popen[bytes] | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the hub (once); returns ``self``."""
        if self._proc is not None:
            raise RuntimeError("this hub process was already started")
        cmd = [sys.executable, "-m", "hub", "run", *self.extra_args, str(self.config_path)]
        with self.log_path.open("ab") as log:
            out = self.stdout_path.open("ab") if self.stdout_path else None
            try:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out or log,
                    stderr=log,
                    cwd=self.cwd,
                    env={**os.environ, **self.env},
                )
            finally:
                if out is not None:
                    out.close()
        return self

    def __enter__(self) -> Self:
        return self if self._proc is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self._stop_quietly()

    async def __aenter__(self) -> Self:
        return self if self._proc is not None else self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self._stop_quietly)

    def _stop_quietly(self) -> None:
        """On leaving the ``with`` block: SIGTERM a hub still running, SIGKILL after 30 s."""
        if self._proc is not None and self._proc.poll() is None:
            self._terminate(signal.SIGTERM, 30.0)

    def stop(self, timeout: float = 30.0, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` (if the hub still runs), wait up to ``timeout`` seconds and return
        the exit code (negative: the signal that ended it). A hub that does not stop in
        time is killed, and an :class:`AssertionError` with the log tail is raised."""
        proc = self.popen
        if proc.poll() is None and not self._terminate(sig, timeout):
            raise AssertionError(
                f"hub did not stop within {timeout:g} s of {sig.name}; killed\n{self._tail_block()}"
            )
        return int(proc.returncode)

    async def stop_async(self, within_s: float = 30.0, sig: signal.Signals = signal.SIGTERM) -> int:
        """:meth:`stop` without blocking the event loop."""
        return await asyncio.to_thread(self.stop, within_s, sig)

    def _terminate(self, sig: signal.Signals, timeout: float) -> bool:
        """Signal, wait; kill on timeout. True when it ended within ``timeout``."""
        proc = self.popen
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return False

    # -- state ------------------------------------------------------------------------------

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        """The running (or ended) process; error before :meth:`start`."""
        if self._proc is None:
            raise RuntimeError("the hub process has not been started")
        return self._proc

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once ended (polled), else None."""
        return self.popen.poll()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check_alive(self) -> None:
        """Raise :class:`HubExited` (exit code and log tail) if the hub has ended."""
        code = self.popen.poll()
        if code is not None:
            raise HubExited(f"hub exited early with status {code}\n{self._tail_block()}")

    def log_text(self) -> str:
        """Everything the hub logged so far ('' before it wrote anything)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = TAIL_CHARS) -> str:
        """The last ``chars`` characters of the log."""
        return self.log_text()[-chars:]

    def _tail_block(self) -> str:
        return f"--- tail of {self.log_path} ---\n{self.log_tail()}"

    # -- waiting ----------------------------------------------------------------------------

    def wait_healthy(self, port: int, timeout: float = 30.0) -> None:
        """Until ``GET http://127.0.0.1:<port>/healthz`` answers 200."""
        self.wait_until(lambda: _healthz_ok(port), timeout, f"/healthz on port {port}")

    async def wait_healthy_async(self, port: int, within_s: float = 30.0) -> None:
        """:meth:`wait_healthy` without blocking the event loop."""

        async def ok() -> bool:
            return await asyncio.to_thread(_healthz_ok, port)

        await self.wait_until_async(ok, within_s, f"/healthz on port {port}")

    def wait_until(
        self, predicate: Callable[[], T], timeout: float = 30.0, what: str = "the condition"
    ) -> T:
        """Poll ``predicate()`` until it returns something truthy, and return that. Fails
        early if the hub ends, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            got = predicate()
            if got:
                return got
            self._check_deadline(deadline, timeout, what)
            time.sleep(POLL_S)

    @overload
    async def wait_until_async(
        self, predicate: Callable[[], Awaitable[T]], within_s: float = ..., what: str = ...
    ) -> T: ...

    @overload
    async def wait_until_async(
        self, predicate: Callable[[], T], within_s: float = ..., what: str = ...
    ) -> T: ...

    async def wait_until_async(
        self,
        predicate: Callable[[], Any],
        within_s: float = 30.0,
        what: str = "the condition",
    ) -> Any:
        """:meth:`wait_until` without blocking the event loop; ``predicate`` may be a
        coroutine function."""
        deadline = time.monotonic() + within_s
        while True:
            self.check_alive()
            got = predicate()
            if inspect.isawaitable(got):
                got = await got
            if got:
                return got
            self._check_deadline(deadline, within_s, what)
            await asyncio.sleep(POLL_S)

    def _check_deadline(self, deadline: float, timeout: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}\n{self._tail_block()}"
            )


def _healthz_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False
