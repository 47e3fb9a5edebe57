"""Replays, retries, reordering and shutdown, through the real transports: the hub's
aiohttp ingest server with a real client, and a real Mosquitto broker.

Refusals are forced with an output that does not take one event (``emit`` raises
:class:`hub.DeviceUnavailable` once, what the bus does when the outputs are behind):
the HTTP transport answers ``503``, and the camera's retry must then be accepted
and reach the output exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hub import DeviceUnavailable, Event, Quality, QualityReason
from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
from hub.plugin import Transport, TransportContext
from hub.plugins.camera_aggregate import simulator
from hub.testing import EventCollector
from hub.testing.fakes import fake_transports
from hub.testing.mosquitto import Mosquitto
from hub.testing.pytest_plugin import IngestClient

from .conftest import FIX, SERIAL, SteppedClock, axis_sequence, running, wait_until, xing

BEARER = {"Authorization": "Bearer t0ken"}
VIVOTEK = {
    "id": "viv-hall",
    "device": "vivotek",
    "auth": {"scheme": "bearer", "token": "t0ken"},
    "rules": [{"rule": "Entrance", "line": "gate-a"}, {"rule": "Side door", "line": "door"}],
}
HIK = {
    "id": "hik-gate",
    "device": "hikvision",
    "auth": {"scheme": "none"},
    "channels": [{"channel": 1, "line": "gate-b", "occupancy_zone": "plaza"}],
}


class RefusingOutput(EventCollector):
    """Collects events; refuses the ``refuse``-th (1-based) emit call once, as the bus does
    when the outputs are behind."""

    def __init__(self, *refuse: int) -> None:
        super().__init__()
        self.refuse = set(refuse)
        self.calls = 0

    async def __call__(self, event: Event) -> None:
        self.calls += 1
        if self.calls in self.refuse:
            raise DeviceUnavailable("outputs are behind (test)")
        await super().__call__(event)


def _http(client: IngestClient) -> Any:
    def lookup(kind: str, instance: str | None) -> Transport[Any]:
        assert kind == "http"
        return client.server  # type: ignore[no-any-return]

    return lookup


async def _routed(client: IngestClient, sid: str) -> None:
    await wait_until(lambda: sid in client.server.health()["routes"])


# -- VIVOTEK ------------------------------------------------------------------------------


async def test_vivotek_push_refused_503_is_accepted_when_retried(
    ingest_client: IngestClient,
) -> None:
    out = RefusingOutput(2)  # the second rule's event is refused
    body = (FIX / "vivotek_counting.json").read_bytes()
    async with running(VIVOTEK, _http(ingest_client), collector=out) as (src, _):
        await _routed(ingest_client, "viv-hall")
        refused = await ingest_client.request("viv-hall", body, headers=BEARER)
        retried = await ingest_client.request("viv-hall", body, headers=BEARER)
        replayed = await ingest_client.request("viv-hall", body, headers=BEARER)
        events = list(out.events)
        routes = ingest_client.server.health()["routes"]["viv-hall"]
    assert refused.status == 503 and "retry later" in refused.body.decode()
    assert (retried.status, replayed.status) == (200, 200)
    # each rule's interval reaches the output exactly once
    assert sorted((e.line, xing(e).in_, xing(e).out) for e in events) == [
        ("door", 3, 0),
        ("gate-a", 17, 9),
    ]
    assert src.stats["duplicate_bin"] == 1 + 2  # the retry's first rule, the whole replay
    assert routes == {"accepted": 2, "rejected": {"503": 1}}
    assert all(e.provenance.transport == "http" for e in events)


async def test_vivotek_csv_report_over_real_http(
    ingest_client: IngestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    csv_body = (FIX / "vivotek_counting.csv").read_bytes()
    broken = csv_body.replace(b"Counting,Side door,3,0", b"Counting,Side door,3,n/a")
    out = EventCollector()
    async with running(VIVOTEK, _http(ingest_client), collector=out) as (src, _):
        await _routed(ingest_client, "viv-hall")
        bad = await ingest_client.request(
            "viv-hall", broken, content_type="text/csv", headers=BEARER
        )
        ok = await ingest_client.request(
            "viv-hall", csv_body, content_type="text/csv", headers=BEARER
        )
        events = list(out.events)
    assert bad.status == 400 and "line 5" in bad.body.decode() and "Out" in bad.body.decode()
    assert ok.status == 200  # the fixed report is accepted: nothing was taken from the bad one
    assert [(e.line, xing(e).in_, xing(e).out, e.observed_from) for e in events] == [
        ("gate-a", 17, 9, datetime(2024, 5, 2, 6, 0, tzinfo=UTC)),  # TimeZone +8
        ("door", 3, 0, datetime(2024, 5, 2, 6, 0, tzinfo=UTC)),
    ]
    assert src.ctx.counters.malformed == 1
    for ident in ("00:02:D1:7A:12:34", "192.168.0.90"):
        assert ident not in "".join(e.model_dump_json() for e in events) + caplog.text


async def test_vivotek_unknown_rule_is_a_warning_and_a_counter(
    ingest_client: IngestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The manual's own JSON example spells the rule 'Conting1' where the CSV has
    'Counting1': a mapping that matches nothing must be visible, not an INFO line."""
    caplog.set_level(logging.INFO)
    cfg = {**VIVOTEK, "rules": [{"rule": "Counting1", "line": "gate-a"}]}
    doc = json.loads((FIX / "vivotek_counting.json").read_bytes())
    doc["Data"][0]["CountingInfo"][0]["RuleName"] = "Conting1"
    doc["Data"][0]["CountingInfo"] = doc["Data"][0]["CountingInfo"][:1]
    async with running(cfg, _http(ingest_client)) as (src, out):
        await _routed(ingest_client, "viv-hall")
        answers = [
            await ingest_client.request("viv-hall", json.dumps(doc), headers=BEARER)
            for _ in range(3)
        ]
        events = list(out.events)
    assert [a.status for a in answers] == [200, 200, 200]
    assert events == []
    assert src.status()["unknown_rule"] == 3
    warnings = [r for r in caplog.records if "matches no configured rule" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # once per burst
    assert "'Conting1'" in warnings[0].getMessage() and "'Counting1'" in warnings[0].getMessage()


# -- Hikvision ---------------------------------------------------------------------------


async def test_hikvision_timerange_503_then_retry_reaches_the_output_once(
    ingest_client: IngestClient,
) -> None:
    out = RefusingOutput(1)
    pushes = list(simulator.hikvision_timerange(bins=2, namespace="2.0"))
    async with running(HIK, _http(ingest_client), collector=out) as (src, _):
        await _routed(ingest_client, "hik-gate")
        send = [
            ingest_client.request("hik-gate", w.body, content_type="text/xml")
            for w in (pushes[0], pushes[0], pushes[0], pushes[1])
        ]
        statuses = [(await s).status for s in send]
        events = list(out.events)
    assert statuses == [503, 200, 200, 200]
    assert len(events) == 2
    assert [e.sequence for e in events] == [json_seq(pushes[0].body), json_seq(pushes[1].body)]
    # the retry is neither a duplicate of the refused push nor a gap after it
    assert all(QualityReason.SEQUENCE_GAP not in e.quality_reasons for e in events)
    assert src.stats["duplicate_bin"] == 1
    assert src.stats["sequence_next"] == 1 and src.stats["sequence_first"] == 1


def json_seq(body: bytes) -> int:
    """activePostCount of a Hikvision push."""
    text = body.decode()
    return int(text.split("<activePostCount>")[1].split("<")[0])


async def test_hikvision_realtime_occupancy_refused_then_retried(
    ingest_client: IngestClient, fake_clock: SteppedClock
) -> None:
    out = RefusingOutput(2)  # the second push's occupancy is refused
    pushes = list(simulator.hikvision_realtime(pushes=3))
    async with running(HIK, _http(ingest_client), fake_clock, collector=out) as (src, _):
        await _routed(ingest_client, "hik-gate")
        statuses = []
        for w in (pushes[0], pushes[1], pushes[1], pushes[2]):
            resp = await ingest_client.request("hik-gate", w.body, content_type="text/xml")
            statuses.append(resp.status)
        fake_clock.advance(3600)
        await wait_until(lambda: any(e.type == "crossing" for e in out.events))
        events = list(out.events)
    assert statuses == [200, 503, 200, 200]
    occupancy = [e for e in events if e.type == "occupancy"]
    assert len(occupancy) == 3  # one per push, the refused one from its retry
    crossings = [e for e in events if e.type == "crossing"]
    last = pushes[2].body.decode()
    first = pushes[0].body.decode()

    def total(text: str, tag: str) -> int:
        return int(text.split(f"<{tag}>")[1].split("<")[0])

    entered = total(last, "enter") - total(first, "enter")
    assert sum(xing(e).in_ for e in crossings) == entered  # the retry's step counted once
    assert src.stats["realtime_repeat"] == 0


# -- AXIS through a real Mosquitto --------------------------------------------------------


@contextlib.asynccontextmanager
async def _mqtt(broker: Mosquitto) -> AsyncIterator[MqttTransport]:
    ctx = TransportContext(
        instance="local", kind="mqtt", clock=SystemClock(), log=logging.getLogger("t.mqtt")
    )
    transport = MqttTransport(
        MqttTransportConfig(id="local", host=broker.host, port=broker.port), ctx
    )
    task = asyncio.create_task(transport.run(), name="test-mqtt")
    try:
        yield transport
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


AXIS = {
    "id": "axis-gate",
    "device": "axis",
    "broker": "local",
    "grace_s": 0,
    "scenarios": [{"scenario": 3, "line": "gate-a", "direction": "in", "classes": ["human"]}],
}


@pytest.mark.mosquitto
async def test_axis_replays_spread_and_stop_over_real_mosquitto(
    mosquitto: Mosquitto, fake_clock: SteppedClock
) -> None:
    """An older message after a newer one changes no totals; crossings reported over
    several minutes are not put in one interval marked ok; the open interval goes out as
    incomplete on a clean stop."""
    seq = axis_sequence()
    # the fixture's first three messages, then the older two again (a camera retry),
    # then the first message of the next epoch
    plan = [seq[0], seq[1], seq[2], seq[1], seq[0], seq[3]]
    out = EventCollector()
    async with _mqtt(mosquitto) as hub_side, _mqtt(mosquitto) as camera:
        lookup = fake_transports(mqtt={"local": hub_side})
        async with running(AXIS, lookup, fake_clock, collector=out) as (src, _):
            await wait_until(lambda: hub_side.connected and camera.connected)
            topic, first = plan[0]
            async with asyncio.timeout(10):
                while src.stats["messages"] == 0:  # the source subscribes after connecting
                    await camera.publish(topic, first, qos=1)
                    await asyncio.sleep(0.05)
            await camera.publish_many(plan[1:], qos=1)
            await wait_until(lambda: src.stats["messages"] >= len(plan))
            await wait_until(lambda: len(out.events) == 2)
            before_stop = list(out.events)
        events = list(out.events)  # the source was cancelled: a clean stop
    assert src.stats["crossline_out_of_order"] == 2  # the older two: no totals changed
    closed, spread = before_stop
    assert closed.observed_from == datetime(2024, 2, 15, 12, 26, tzinfo=UTC)
    assert xing(closed).in_ == 1 and closed.quality == Quality.OK
    # +3 humans at 12:27:10 since 12:26:52: one at 12:27:10, two somewhere in between
    assert xing(spread).in_ == 2 and spread.quality == Quality.ESTIMATED
    assert (spread.observed_from, spread.observed_to) == (
        datetime(2024, 2, 15, 12, 26, 52, tzinfo=UTC),
        datetime(2024, 2, 15, 12, 27, 10, tzinfo=UTC),
    )
    (last,) = events[2:]
    assert last.observed_from == datetime(2024, 2, 15, 12, 27, tzinfo=UTC)
    assert xing(last).in_ == 1 + 2  # 12:27:10's own crossing, 2 since the reset at 12:27:30
    assert QualityReason.INCOMPLETE in last.quality_reasons
    assert last.quality == Quality.ESTIMATED
    assert last.observed_to == datetime(2024, 2, 15, 12, 27, 45, tzinfo=UTC)  # device time
    # 4 humans were counted by the camera in all (1, +3) plus 2 after its reset: none twice
    assert sum(xing(e).in_ for e in events) == 1 + 3 + 2
    assert all(e.provenance.transport == "mqtt" for e in events)
    assert SERIAL not in "".join(e.model_dump_json() for e in events)
