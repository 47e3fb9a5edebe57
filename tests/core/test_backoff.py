"""The one retry policy: exponential, capped, jittered, honouring retry_after."""

from __future__ import annotations

from hub.core.backoff import Backoff, backoff_delay


def test_delay_doubles_and_is_capped() -> None:
    for attempt, top in [(0, 1.0), (1, 2.0), (2, 4.0), (10, 30.0), (500, 30.0)]:
        for _ in range(50):
            d = backoff_delay(attempt, 1.0, 30.0)
            assert top * 0.5 <= d <= top


def test_retry_after_raises_the_delay_but_never_lowers_it() -> None:
    assert backoff_delay(0, 1.0, 30.0, retry_after=12.0) == 12.0
    assert backoff_delay(10, 1.0, 30.0, retry_after=0.1) >= 15.0


def test_stateful_policy_counts_and_resets() -> None:
    b = Backoff(initial_s=0.5, max_s=4.0)
    delays = [b.next_delay() for _ in range(5)]
    assert b.attempt == 5
    assert delays[0] <= 0.5 and delays[-1] >= 2.0
    b.reset()
    assert b.attempt == 0 and b.next_delay() <= 0.5
    assert 2.0 <= b.slowest() <= 4.0
