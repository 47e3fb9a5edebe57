"""One retry policy for the whole hub: jittered exponential backoff that honours ``retry_after``.

Every place that retries (source supervisor, sink runner, sink opening, MQTT
reconnects, the HTTP server's bind, the embedded broker) uses this module, so
the numbers mean the same everywhere::

    policy = Backoff(initial_s=1.0, max_s=60.0)
    while True:
        try:
            await connect()
        except DeviceUnavailable as err:
            await sleep(policy.next_delay(retry_after=getattr(err, "retry_after", None)))
            continue
        policy.reset()

The n-th delay (``n`` from 0) is ``min(max_s, initial_s * 2**n)`` times a random
factor in ``[0.5, 1.0]`` (so many clients do not retry in step). A peer's
``retry_after`` (HTTP 429/503 ``Retry-After``) raises the delay to at least that.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff", "backoff_delay"]


def backoff_delay(
    attempt: int, initial_s: float, max_s: float, *, retry_after: float | None = None
) -> float:
    """The jittered delay before retry number ``attempt`` (0 for the first retry)."""
    base = min(max_s, initial_s * (2.0 ** min(attempt, 30)))
    delay = base * random.uniform(0.5, 1.0)
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    return float(delay)


@dataclass
class Backoff:
    """Stateful form of :func:`backoff_delay`: counts the attempts since the last ``reset``."""

    initial_s: float = 1.0
    max_s: float = 60.0
    attempt: int = field(default=0)

    def next_delay(self, *, retry_after: float | None = None) -> float:
        """The delay before the next try; counts one attempt."""
        delay = backoff_delay(self.attempt, self.initial_s, self.max_s, retry_after=retry_after)
        self.attempt += 1
        return delay

    def slowest(self) -> float:
        """The longest delay (e.g. after bad credentials); counts one attempt."""
        self.attempt += 1
        return float(self.max_s * random.uniform(0.5, 1.0))

    def reset(self) -> None:
        """The operation succeeded: start again from ``initial_s``."""
        self.attempt = 0
