"""The simulators produce the real wire formats: their output parses back with the
plugin's own sans-io parsers, and the faults they inject are visible there."""

from __future__ import annotations

import json
from datetime import timedelta

from hub.plugins.camera_aggregate import hikvision, protocol, simulator
from hub.quality import CumulativeCounter, SequenceTracker


def test_axis_crossline_roundtrip_with_resets_and_drops() -> None:
    msgs = list(simulator.axis_crossline(crossings=30, reset_at=[12], drop=[5, 6], seed=7))
    assert len(msgs) == 28
    counter = CumulativeCounter()
    resets = 0
    counted = 0
    for w in msgs:
        assert w.topic is not None and w.topic.startswith("axis/ACCC8E000001/event/")
        doc = json.loads(w.body)
        assert all(isinstance(v, str) for v in doc["message"]["data"].values())
        m = protocol.parse_axis(w.topic, w.body)
        assert m.timestamp == w.at.replace(microsecond=m.timestamp.microsecond)
        cl = protocol.axis_crossline(m)
        d = counter.update("s", cl.totals, epoch=cl.start_time)
        resets += d.reset
        counted += 1 if d.first else d.values["all"]
        assert all(v >= 0 for v in d.values.values())
    assert resets == 1
    # every crossing counted exactly once, lost messages included (cumulative totals)
    assert counted == 30
    times = [w.at for w in msgs]
    assert times == sorted(times)


def test_axis_crossline_counts_every_crossing_across_reset() -> None:
    msgs = list(simulator.axis_crossline(crossings=20, reset_at=[8], seed=2))
    counter = CumulativeCounter()
    total = 0
    for w in msgs:
        cl = protocol.axis_crossline(protocol.parse_axis(w.topic or "", w.body))
        d = counter.update("s", cl.totals, epoch=cl.start_time)
        total += 1 if d.first else d.values["all"]
    assert total == 20


def test_axis_numbers_variant_and_occupancy_keys() -> None:
    (w,) = simulator.axis_crossline(crossings=1, numbers_as_strings=False)
    data = json.loads(w.body)["message"]["data"]
    assert isinstance(data["total"], int)
    assert protocol.axis_crossline(protocol.parse_axis(w.topic or "", w.body)).totals["all"] == 1
    for keys in ("plain", "total"):
        for o in simulator.axis_occupancy(messages=5, class_keys=keys):
            m = protocol.parse_axis(o.topic or "", o.body)
            assert protocol.axis_shape(m) == "occupancy"
            assert protocol.axis_occupancy(m, ["all"]) >= protocol.axis_occupancy(m, ["human"])


def test_hikvision_timerange_both_namespaces_gaps_and_retransmissions() -> None:
    for ns in ("1.0", "2.0"):
        msgs = list(
            simulator.hikvision_timerange(
                bins=6,
                namespace=ns,
                gaps_after=[2],
                retransmit=[1],
                offset_h=5.5,
            )
        )
        alerts = [hikvision.parse_alert(w.body) for w in msgs]
        assert {a.namespace for a in alerts} == {ns}
        assert len(alerts) == 7
        retrans = [a for a in alerts if a.retransmission]
        assert len(retrans) == 1
        assert isinstance(retrans[0].counting, hikvision.HikTimeRange)
        assert retrans[0].counting.start == alerts[1].counting.start  # type: ignore[union-attr]
        seq = SequenceTracker()
        results = [seq.observe(a.active_post_count or 0) for a in alerts if not a.retransmission]
        results = [r.verdict for r in results]
        assert "gap" in results
        for w, a in zip(msgs, alerts, strict=True):
            assert b"+05:30" in w.body
            assert isinstance(a.counting, hikvision.HikTimeRange)
            assert a.counting.end - a.counting.start == timedelta(minutes=1)


def test_hikvision_realtime_and_multipart() -> None:
    msgs = list(simulator.hikvision_realtime(pushes=8, reset_at=[4], namespace="2.0"))
    alerts = [hikvision.parse_alert(w.body) for w in msgs]
    enters = [a.counting.enter for a in alerts]  # type: ignore[union-attr]
    assert enters[4] < enters[3] or enters[4] <= 3
    assert all(isinstance(a.counting, hikvision.HikRealTime) for a in alerts)
    ct, body = simulator.hikvision_multipart(msgs[0].body)
    assert ct.startswith("multipart/form-data; boundary=")
    assert hikvision.parse_body(body, ct) == alerts[0]
    assert hikvision.parse_body(body, "multipart/form-data") == alerts[0]


def test_vivotek_reports_roundtrip() -> None:
    for local in (True, False):
        msgs = list(
            simulator.vivotek_reports(
                reports=3, rules=["A", "B"], duplicate=[1], local_times=local, tz="-03:00"
            )
        )
        assert len(msgs) == 4 and msgs[1] == msgs[2]
        for w in msgs:
            r = protocol.parse_vivotek(w.body)
            assert [c.rule for c in r.counts] == ["A", "B"]
            assert all(c.end == w.at and c.end - c.start == timedelta(minutes=5) for c in r.counts)
