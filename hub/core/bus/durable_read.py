"""Reading a durable queue back (see :mod:`hub.core.bus.durable`): stored rows to events.

Pure helpers: no file access, no queue state. The queue reads committed rows
from its file and takes the rest from the transactions not written yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from pydantic import ValidationError

from hub.core.bus.durable_store import Commit, Row
from hub.events import Event
from hub.json_memo import event_json

log = logging.getLogger("hub.bus")


def uncommitted(commits: Iterable[Commit | None], start: int, end: int) -> list[tuple[int, bytes]]:
    """``(seq, body)`` for ``start <= seq < end`` from transactions not written yet."""
    return [(r[0], r[2]) for c in commits if c is not None for r in c.rows if start <= r[0] < end]


def deliverable(committed: int, end: int, commits: Iterable[Commit | None]) -> int:
    """The seq up to which an output may take events: the committed ones (below
    ``committed``), then, in order, those of transactions not written yet that only
    deferred acknowledgements wait for (``Commit.early``: delivery need not wait; at
    least once). A transaction somebody awaits (an HTTP push answering ``2xx`` or
    ``503``) holds its events back until it is done: a push refused and sent again
    must not reach an output twice. ``end``: the queue's next seq."""
    upto = committed
    waiting = False
    for commit in commits:
        if commit is None:
            continue
        waiting = True
        if not commit.early:
            return max(upto, min(commit.first, end))
        upto = commit.end
    return upto if waiting else max(upto, end)


def decode_run(
    bodies: Iterable[tuple[int, bytes]], start: int, *, skip_bad: bool, output: str
) -> tuple[list[Event], int, int]:
    """Decode consecutive rows from seq ``start`` on (a gap ends the run).

    A row that no longer validates ends the run, or, with ``skip_bad`` and nothing
    decoded yet (it is the oldest queued), is skipped and logged. Returns the
    events, how many were skipped, and the seq after the last one taken.
    """
    events: list[Event] = []
    skipped, expect = 0, start
    for seq, body in bodies:
        if seq != expect:
            break
        try:
            events.append(Event.model_validate_json(body))
        except ValidationError as err:
            if events or not skip_bad:
                break  # handled once it reaches the front
            log.error("%s: dropped a queued event that no longer validates: %s", output, err)
            skipped += 1
        expect += 1
    return events, skipped, expect


def survivors(
    seqs: range, time_of: Callable[[int], float], window: Sequence[Event], rows: Iterable[Row]
) -> list[tuple[float, bytes]]:
    """What is still in memory of the queued ``seqs`` once the file is gone: the decoded
    window at the front, then the rows of transactions not written yet."""
    bodies = {r[0]: r[2] for r in rows}
    out: list[tuple[float, bytes]] = []
    head = seqs.start
    for seq in seqs:
        if seq - head < len(window):
            out.append((time_of(seq), event_json(window[seq - head])))
        elif seq in bodies:
            out.append((time_of(seq), bodies[seq]))
    return out
