"""The ``xovis`` source: logics pushes over a fake and a real HTTP ingest, and over MQTT."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

import hub
from hub.plugins.lidar.simulator import xovis_live_push, xovis_logics_push, xovis_logics_sequence
from hub.plugins.lidar.xovis_source import XovisSource
from hub.site import Site
from hub.testing.fakes import FakeHttpIngest, FakeMessageTransport, fake_transports

from .helpers import FIXTURES, T0, WAIT_S, running, until


def test_required_transports() -> None:
    mqtt = XovisSource.config_model(id="x", transport="mqtt", broker="local", line="gate-a")
    assert XovisSource.required_transports(mqtt) == [("mqtt", "local")]
    http = XovisSource.config_model(id="x", line="gate-a", auth={"scheme": "none"})
    assert XovisSource.required_transports(http) == [("http", None)]


XOVIS = {
    "id": "xovis-north",
    "auth": {"scheme": "none"},
    "logics": [
        {"logic": 1008, "line": "gate-a"},
        {"logic": "Square zone", "zone": "boulevard"},
    ],
}


def _sample(name: str = "xovis_push_logics.json") -> bytes:
    return (FIXTURES / name).read_bytes()


async def test_xovis_http_logics_push(site: Site) -> None:
    http = FakeHttpIngest()
    async with running(XovisSource, XOVIS, site, fake_transports(http=http)) as (src, events, _):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        assert (await http.request("xovis-north", _sample())).status == 204
        assert (await http.request("xovis-north", _sample())).status == 204  # resent
        await events.wait_for(2, WAIT_S)
        assert (await http.request("xovis-north", method="GET")).status == 405
    crossing, occupancy = events.events
    assert len(events.events) == 2  # the repeat was deduplicated
    assert crossing.measurement == hub.Crossing(in_=37, out=12)
    assert crossing.line == "gate-a" and crossing.sequence == 1090
    assert crossing.observed_from == datetime(2024, 4, 27, 10, 14, tzinfo=UTC)
    assert crossing.observed_to == datetime(2024, 4, 27, 10, 15, tzinfo=UTC)
    assert occupancy.measurement == hub.Occupancy(count=143)
    assert occupancy.zone == "boulevard"
    assert occupancy.observed_at == datetime(2024, 4, 27, 10, 15, tzinfo=UTC)
    assert occupancy.provenance.transport == "http"
    for e in events.events:
        text = e.model_dump_json()
        assert "00:6E" not in text and "Entrance-North" not in text
    assert src._xovis.duplicates == 2


async def test_xovis_gaps_repeats_and_default_mapping(site: Site) -> None:
    http = FakeHttpIngest()
    config = {
        "id": "x",
        "auth": {"scheme": "none"},
        "line": "gate-a",
        "zone": "boulevard",
    }
    docs = xovis_logics_sequence(4, start=T0, gaps_after=[1], repeat_after=[2])
    async with running(XovisSource, config, site, fake_transports(http=http)) as (_, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        for doc in docs:
            assert (await http.request("x", json.dumps(doc))).status == 204
        await events.wait_for(8, WAIT_S)
    assert len(events.events) == 8
    gap = [e.sequence for e in events.events if hub.QualityReason.SEQUENCE_GAP in e.quality_reasons]
    assert gap == [1003, 1003]  # package 1002 was lost
    crossings = [e for e in events.events if e.type == "crossing"]
    for doc, e in zip([docs[i] for i in (0, 1, 2, 4)], crossings, strict=True):
        counts = doc["logics_data"]["logics"][0]["records"][0]["counts"]
        assert e.measurement == hub.Crossing(in_=counts[0]["value"], out=counts[1]["value"])


async def test_xovis_incomplete_bin_is_estimated_and_direction_configurable(site: Site) -> None:
    http = FakeHttpIngest()
    config = XOVIS | {
        "logics": [
            {"logic": 1008, "line": "gate-a", "in_counter": "bw", "out_counter": "fw"},
            {"logic": 1009, "zone": "boulevard"},
        ]
    }
    async with running(XovisSource, config, site, fake_transports(http=http)) as (_, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        assert (
            await http.request("xovis-north", _sample("xovis_push_logics_ms.json"))
        ).status == 204
        crossing, occupancy = await events.wait_for(2, WAIT_S)
    assert crossing.measurement == hub.Crossing(in_=12, out=37)
    assert crossing.quality == hub.Quality.ESTIMATED
    assert crossing.extras["xovis"]["incomplete"] is True
    assert occupancy.quality == hub.Quality.OK


async def test_xovis_live_push_is_refused_without_ids_in_logs(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    http = FakeHttpIngest()
    caplog.set_level(logging.INFO)
    async with running(XovisSource, XOVIS, site, fake_transports(http=http)) as (_, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        resp = await http.request("xovis-north", _sample("xovis_push_live.json"))
    assert resp.status == 422
    assert "live_counts_only" in str(resp.body)
    assert "live push" in caplog.text
    assert "48211" not in caplog.text and "00:6E" not in caplog.text
    assert events.events == []


async def test_xovis_live_counts_only(site: Site) -> None:
    http = FakeHttpIngest()
    config = XOVIS | {
        "live_counts_only": True,
        "zone": "boulevard",
        "live_polygon": [[-100, 0], [100, 0], [100, 200], [-100, 200]],
    }
    async with running(XovisSource, config, site, fake_transports(http=http)) as (_, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        assert (await http.request("xovis-north", _sample("xovis_push_live.json"))).status == 204
        # a second frame within live_min_interval_s is not emitted
        doc = xovis_live_push(
            [(9, "PERSON", 0, 50)], time=datetime(2024, 4, 27, 10, 15, tzinfo=UTC)
        )
        assert (await http.request("xovis-north", json.dumps(doc))).status == 204
        (e,) = await events.wait_for(1, WAIT_S)
    assert len(events.events) == 1
    assert e.measurement == hub.Occupancy(count=2)
    assert e.quality == hub.Quality.ESTIMATED
    assert "48211" not in e.model_dump_json()


async def test_xovis_malformed_push_is_counted_and_answered_400(site: Site) -> None:
    http = FakeHttpIngest()
    async with running(XovisSource, XOVIS, site, fake_transports(http=http)) as (src, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        bad = await http.request("xovis-north", b'{"logics_data": {"logics": [{"id": "x"}]}}')
        not_json = await http.request("xovis-north", b"{nope")
    assert bad.status == 400 and "logics_data.logics[0].id" in str(bad.body)
    assert not_json.status == 400
    assert src.ctx.counters.malformed == 2
    assert events.events == []


async def test_xovis_over_mqtt(site: Site) -> None:
    mqtt = FakeMessageTransport()
    config = {k: v for k, v in XOVIS.items() if k != "auth"} | {
        "transport": "mqtt",
        "broker": "local",
        "topic": "xovis/+/logics",
    }
    async with running(XovisSource, config, site, fake_transports(mqtt={"local": mqtt})) as (
        src,
        events,
        _t,
    ):
        await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
        assert await mqtt.inject("xovis/s1/logics", _sample()) == 1
        await mqtt.inject("xovis/s1/logics", b"not json")
        await mqtt.inject("xovis/s1/logics", _sample("xovis_push_live.json"))
        await mqtt.inject(
            "xovis/s1/logics",
            json.dumps(
                xovis_logics_push(
                    1091, start=datetime(2024, 4, 27, 10, 15, tzinfo=UTC), lines={1008: (1, 2)}
                )
            ),
        )
        await events.wait_for(3, WAIT_S)
    assert [e.type for e in events.events] == ["crossing", "occupancy", "crossing"]
    assert events.events[2].measurement == hub.Crossing(in_=1, out=2)
    assert all(e.provenance.transport == "mqtt" for e in events.events)
    assert src.ctx.counters.malformed == 1
    assert src._xovis.live_rejected == 1


async def test_xovis_over_real_http(site: Site, ingest_client: Any) -> None:
    config = XOVIS | {"auth": {"scheme": "bearer", "token": "s3cret-token"}}
    server = ingest_client.server
    async with running(XovisSource, config, site, fake_transports(http=server)) as (_, events, _t):
        await until(lambda: "xovis-north" in server._routes, "route")
        denied = await ingest_client.request("xovis-north", _sample())
        ok = await ingest_client.request(
            "xovis-north", _sample(), headers={"Authorization": "Bearer s3cret-token"}
        )
        live = await ingest_client.request(
            "xovis-north",
            _sample("xovis_push_live.json"),
            headers={"Authorization": "Bearer s3cret-token"},
        )
        await events.wait_for(2, WAIT_S)
    assert denied.status == 401
    assert ok.status == 204
    assert live.status == 422 and b"live_counts_only" in live.body
    assert events.events[0].measurement == hub.Crossing(in_=37, out=12)
