"""Running until stopped: signals, the exit status, and waits that give way to a stop.

:func:`run_until_stopped` runs a body (the hub, the demo, a dry run) on a new event
loop until SIGINT/SIGTERM or a duration; :class:`EventsLost` is the failure of a
hub that stopped cleanly but could not keep what an output still had queued. The
small helpers are what :class:`hub.core.runtime.Hub` uses to open, drain and stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hub.errors import HubError

__all__ = ["EventsLost", "drain", "leaves", "run_until_stopped", "unless_stopped", "wait_for_stop"]

log = logging.getLogger("hub")


class EventsLost(HubError):
    """The hub stopped, but some outputs' queued events could not be delivered or kept."""


def run_until_stopped(
    body: Callable[[asyncio.Event], Awaitable[None]],
    duration: float | None = None,
    *,
    done: str = "stopped cleanly",
) -> int:
    """Run ``body(stop)`` on a new loop; SIGINT/SIGTERM (or ``duration``) set ``stop``.

    Returns the exit status: 0 after a clean stop, 1 when it failed (each failure
    printed on one line, unexpected ones with their traceback in the log).
    """

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # the default action of SIGHUP ends the process without flushing: say why it is ignored
        loop.add_signal_handler(
            signal.SIGHUP, log.warning, "SIGHUP ignored: restart to apply config changes"
        )
        if duration:
            loop.call_later(duration, stop.set)
        await body(stop)

    try:
        asyncio.run(main())
    except BaseExceptionGroup as group:
        for exc in leaves(group):
            if isinstance(exc, HubError):
                print(f"hub: {exc}", file=sys.stderr)
            else:
                log.error("hub: unexpected error", exc_info=exc)
        return 1
    except EventsLost as exc:  # the run's last word: a log line (text or JSON) like the others
        log.error("%s", exc)
        return 1
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    log.info(done)
    return 0


async def wait_for_stop(stop: asyncio.Event, delay: float) -> bool:
    """Wait ``delay`` seconds or until ``stop`` is set; True when it was set."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True


async def unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event, name: str) -> bool:
    """Await ``work`` unless ``stop`` is set first (then cancel it): True when it finished.

    Exceptions of ``work`` propagate.
    """
    if stop.is_set():
        work.close()
        return False
    task = asyncio.create_task(work, name=name)
    waiter = asyncio.create_task(stop.wait(), name=f"{name}:stop")
    try:
        await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        task.result()  # finished first: its exception, if any, is the caller's
        return True
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception as err:  # the work turned our cancel into an error; we stop anyway
        log.debug("%s: error while cancelled: %s", name, err)
    return False


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


async def drain(tasks: list[asyncio.Task[None]], limit_s: float) -> None:
    """Give the sink runners ``timeout`` seconds to write what is queued; then cancel them."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=limit_s)
    for t in pending:
        log.error("%s: did not finish flushing within %.0f s", t.get_name(), limit_s)
        t.cancel()
