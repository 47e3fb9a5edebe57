"""Data-quality toolkit for source plugins: sans-io, no asyncio, no wall clock.

One implementation of the bookkeeping every device adapter needs, so that all
plugins agree on what a duplicate, a gap, a reset or an implausible value is:

* :class:`SequenceTracker`: device sequence numbers (LoRaWAN ``f_cnt``, push
  counters, package ids) → a :class:`Verdict`: ``first``, ``next``, ``gap``,
  ``duplicate``, ``out_of_order`` or ``restart``. Optional wrap-around
  (``modulus=2**16`` for a 16-bit counter). Each verdict maps onto one
  :class:`~hub.events.QualityReason` (:attr:`Verdict.reason`).
* :class:`SeenKeys`: a bounded memory of keys already processed (dedup).
* :class:`CumulativeCounter`: cumulative totals → per-reading deltas. Reset
  detection uses time order: an *older* reading arriving after a newer one is
  ``out_of_order`` (no delta, flagged), never a reset; a total that goes down
  with a newer time, or a new epoch marker (e.g. Axis ``startTime``), is a
  ``reset`` whose delta is the new total (never negative).
* :class:`Plausibility`: ``max_count`` and ``max_jump`` with one meaning
  (see the class), and :func:`parse_count`, which bounds every count to a
  non-negative 64-bit integer.
* :func:`parse_timestamp`: epoch seconds/milliseconds/... and RFC 3339 /
  ISO 8601 (with or without offset) → an aware UTC :class:`~datetime.datetime`,
  raising only :class:`~hub.errors.MalformedInput`.
* :func:`worst_quality`: the :class:`~hub.events.Quality` a set of reasons implies.

State only changes in ``observe``/``update``/``add``; ``check`` methods look
without changing anything, so a source can advance its state only once the hub
has accepted the event (a refused push retried later is then not a duplicate).
"""

from __future__ import annotations

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_COUNT",
    "CumulativeCounter",
    "Delta",
    "DeltaKind",
    "Plausibility",
    "SeenKeys",
    "SeqResult",
    "SequenceTracker",
    "TimeForm",
    "Verdict",
    "parse_count",
    "parse_timestamp",
    "worst_quality",
]

from hub.quality.counters import CumulativeCounter, Delta, DeltaKind
from hub.quality.limits import MAX_COUNT, Plausibility, parse_count, worst_quality
from hub.quality.sequence import SeenKeys, SeqResult, SequenceTracker, Verdict
from hub.quality.timestamps import EARLIEST, LATEST, TimeForm, parse_timestamp
