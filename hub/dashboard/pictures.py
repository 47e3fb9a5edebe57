"""The pictures one dashboard serves: the live one, and one per ``delay_s`` of its views.

Each :class:`Picture` has its provider (the live :class:`PictureProvider` or a
:class:`~hub.dashboard.delay.DelayedPicture`), its live stream and the interval samples
(:class:`~hub.dashboard.coarse.Sampler`) its coarsening views need. :class:`Pictures`
runs the recorder (one subscription to the live picture feeding the delay lines and the
live samples) and the clock that releases what is ``delay_s`` old. Neither runs when no
view needs them: a dashboard of live, exact views costs what it did. With a
:class:`~hub.dashboard.seed.StoreSeed` (``seeder``), :meth:`Pictures.seed` fills the delay
lines from the store before the dashboard serves, so a restart leaves no gap.
"""

from __future__ import annotations

__all__ = ["Picture", "Pictures"]

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.dashboard.access import DashboardView
from hub.dashboard.coarse import Numbers, Sampler
from hub.dashboard.delay import DelayedPicture
from hub.dashboard.provider import Change, PictureProvider
from hub.dashboard.seed import StoreSeed, closed_since
from hub.dashboard.store import StoreError
from hub.dashboard.stream import Streams

log = logging.getLogger("hub.dashboard")


@dataclass
class Picture:
    """One picture: what its views read, stream and sample."""

    provider: PictureProvider
    streams: Streams
    source: str
    delayed: DelayedPicture | None = None
    samplers: dict[int, Sampler] = field(default_factory=dict)

    def observe(self, change: Change, t: float) -> None:
        for s in self.samplers.values():
            s.observe(change.kind, change.data, t)

    def numbers(self, view: DashboardView) -> Numbers | None:
        """The coarsening context of ``view`` (None for a view that coarsens no count)."""
        if not view.coarsens_counts:
            return None
        if self.delayed is not None:
            self.delayed.advance()
        return Numbers(
            now=self.provider.now().timestamp(),
            source=self.source,
            sampler=self.samplers.get(view.resolution_s),
        )


class Pictures:
    """The live picture and the delayed ones, by ``delay_s``."""

    def __init__(
        self,
        live: PictureProvider,
        views: Iterable[DashboardView],
        snapshot: Callable[[DashboardView], dict[str, Any]],
        *,
        heartbeat_s: float = 5.0,
        tick_s: float = 0.25,
    ) -> None:
        self.live_provider = live
        self.tick_s = tick_s
        model = getattr(live, "model", None)
        source = str(getattr(model, "source", "zones"))
        views = list(views)

        def picture(provider: PictureProvider, delayed: DelayedPicture | None) -> Picture:
            pic = Picture(provider, Streams(provider, snapshot, heartbeat_s=heartbeat_s), source)
            pic.delayed = delayed
            pic.streams.numbers = pic.numbers
            return pic

        self.live = picture(live, None)
        self.delayed: dict[float, Picture] = {}
        for v in views:
            if v.delay_s > 0 and v.delay_s not in self.delayed:
                d = DelayedPicture(live, v.delay_s)
                self.delayed[v.delay_s] = pic = picture(d, d)
                d.listeners.append(pic.observe)
        for v in views:
            if v.holds:
                pic = self.for_view(v)
                pic.samplers.setdefault(v.resolution_s, Sampler(v.resolution_s))
        self.closing = False
        self.seeder: StoreSeed | None = None
        """Fills the delay lines from the store at start (None: they start empty)."""
        self.seed_timeout_s = 10.0

    def for_view(self, view: DashboardView) -> Picture:
        """The picture ``view`` sees (its delay's, else the live one)."""
        return self.delayed.get(view.delay_s, self.live) if view.delay_s > 0 else self.live

    def all(self) -> list[Picture]:
        return [self.live, *self.delayed.values()]

    @property
    def recording(self) -> bool:
        """Whether the live picture's changes must be recorded (delay lines, live samples)."""
        return bool(self.delayed or self.live.samplers)

    # --- running ------------------------------------------------------------------------

    async def seed(self) -> int:
        """Fill each delay line from the store (the ``seeder``); returns the changes seeded.

        Run before :meth:`tasks`: the seeded changes are older than any the recorder adds.
        A store that cannot be read leaves the line empty (said once per delay)."""
        if self.seeder is None or not self.delayed:
            return 0
        now = self.live_provider.now()
        ts = now.timestamp()
        open_now = {str(a["id"]) for a in self.live_provider.alerts()}
        total = 0
        for pic in self.delayed.values():
            d = pic.delayed
            assert d is not None
            try:
                seeded = await asyncio.wait_for(
                    self.seeder.changes(ts, d.delay_s, d.step_s), self.seed_timeout_s
                )
            except (StoreError, TimeoutError) as err:
                log.warning(
                    "dashboard: the %g s delayed picture starts empty: sqlite[%s] %s",
                    d.delay_s,
                    self.seeder.store.output_id,
                    err or f"not read within {self.seed_timeout_s:g} s",
                )
                continue
            cut = ts - d.delay_s
            for t, change in seeded:
                if t > cut and d.pending():  # what held at the cut is shown at once
                    d.advance(datetime.fromtimestamp(ts, UTC))
                    cut = float("inf")
                d.record(change, t)
            for change in closed_since(seeded, open_now):
                d.record(change, ts)
            d.advance(now)
            total += len(seeded)
        log.info(
            "dashboard: %d delayed picture(s) seeded with %d stored change(s) from sqlite[%s]",
            len(self.delayed),
            total,
            self.seeder.store.output_id,
        )
        return total

    def _feed(self, change: Change, t: float) -> None:
        self.live.observe(change, t)
        for pic in self.delayed.values():
            assert pic.delayed is not None
            pic.delayed.record(change, t)

    def _snapshot(self) -> None:
        """The live picture as it is, recorded as changes (at start, after falling behind)."""
        live = self.live_provider
        t = live.now().timestamp()
        for kind, items in (("zone", live.zones()), ("line", live.lines())):
            for d in items:
                self._feed(Change(kind, d), t)  # type: ignore[arg-type]
        for d in live.sensors():
            self._feed(Change("sensor", {k: v for k, v in d.items() if k != "age_s"}), t)
        for d in live.alerts():
            self._feed(Change("alert", d), t)

    async def record(self) -> None:
        """Run until cancelled: the live picture's changes into the delay lines and samples."""
        live = self.live_provider
        while not self.closing:
            self._snapshot()
            async for change in live.subscribe():
                self._feed(change, live.now().timestamp())
            await asyncio.sleep(0.5)  # fell behind: start over from a snapshot

    async def clock(self) -> None:
        """Run until cancelled: release what is ``delay_s`` old to the delayed pictures."""
        while not self.closing:
            for pic in self.delayed.values():
                assert pic.delayed is not None
                pic.delayed.advance()
            await asyncio.sleep(self.tick_s)

    def tasks(self) -> list[asyncio.Task[None]]:
        """Start what this dashboard needs (stream pumps; recorder and clock if used)."""
        self.closing = False
        out = []
        for i, pic in enumerate(self.all()):
            pic.streams.closing = False
            out.append(asyncio.create_task(pic.streams.pump(), name=f"dashboard-stream-pump-{i}"))
        if self.recording:
            out.append(asyncio.create_task(self.record(), name="dashboard-recorder"))
        if self.delayed:
            out.append(asyncio.create_task(self.clock(), name="dashboard-delay-clock"))
        return out

    def close(self) -> None:
        self.closing = True
        for pic in self.all():
            pic.streams.close()
            if pic.delayed is not None:
                pic.delayed.close()

    @staticmethod
    async def stop(tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
