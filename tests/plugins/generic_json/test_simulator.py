"""Simulator output is real wire format and maps back through the worked-example config."""

from __future__ import annotations

import base64
import json
import tomllib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.events import QualityReason
from hub.plugins.generic_json.config import GenericJsonConfig
from hub.plugins.generic_json.protocol import Mapper, Reading
from hub.plugins.generic_json.simulator import (
    VS133Simulator,
    people_counter_readings,
    vs133_frm_payload,
)

SAMPLE = Path(__file__).parents[3] / "hub" / "plugins" / "generic_json" / "sample.toml"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
LINE_OF = {1: "main-door", 4: "side-door"}


def sample_mapper() -> Mapper:
    raw = tomllib.loads(SAMPLE.read_text(encoding="utf-8"))
    cfg = GenericJsonConfig.model_validate(raw["sources"]["generic_json"][0])
    return Mapper(cfg, lines=("main-door", "side-door"), zones=("hall",))


def test_frm_payload_matches_the_milesight_example() -> None:
    # VS_Series/VS13x/README.md example uplink and its decoding
    want = bytes.fromhex(
        "03D248000000 04D2C8000000 06D200000000 07D200000000"
        " 09D200000000 0AD200000000 0CD2B4140000 0DD28D1A0000"
    )
    assert vs133_frm_payload({1: (72, 200), 2: (0, 0), 3: (0, 0), 4: (5300, 6797)}) == want


def test_uplinks_are_consistent_tts_messages() -> None:
    sim = VS133Simulator(lines=4, seed=1)
    (topic, payload), *_ = sim.uplinks(1)
    msg = json.loads(payload)
    assert topic == "v3/crowd-counting@ttn/devices/vs133-entrance/up"
    up = msg["uplink_message"]
    assert "f_cnt" not in up  # TTN omits zero fields
    assert up["f_port"] == 85
    decoded = up["decoded_payload"]
    totals = {
        n: (decoded[f"line_{n}_total_in"], decoded[f"line_{n}_total_out"]) for n in range(1, 5)
    }
    assert base64.b64decode(up["frm_payload"]) == vs133_frm_payload(totals)
    assert msg["received_at"].endswith("Z") and len(msg["received_at"]) == 30  # ns digits


def _run(sim: VS133Simulator, cycles: int) -> tuple[list[Reading], int, int]:
    m = sample_mapper()
    readings: list[Reading] = []
    duplicates = 0
    for topic, payload in sim.uplinks(cycles):
        res = m.map_payload(payload, received_at=NOW, stream=topic)
        assert res.problems == []
        duplicates += res.duplicate
        readings += res.readings
    return readings, duplicates, len(sim.sent)


def _totals(readings: list[Reading]) -> Counter[tuple[str | None, str]]:
    c: Counter[tuple[str | None, str]] = Counter()
    for r in readings:
        assert r.in_ >= 0 and r.out >= 0
        c[(r.line, "in")] += r.in_
        c[(r.line, "out")] += r.out
    return c


def _sent(sim: VS133Simulator) -> Counter[tuple[str | None, str]]:
    c: Counter[tuple[str | None, str]] = Counter()
    for delivered in sim.sent[1:]:  # the first uplink is only the baseline
        for line, (i, o) in delivered.items():
            if line in LINE_OF:
                c[(LINE_OF[line], "in")] += i
                c[(LINE_OF[line], "out")] += o
    return c


def test_deltas_add_up_to_the_crossings() -> None:
    sim = VS133Simulator(lines=4, seed=7, rate_per_min=20)
    readings, dups, delivered = _run(sim, 30)
    assert dups == 0 and len(readings) == 2 * (delivered - 1)
    assert _totals(readings) == _sent(sim)
    assert all(r.reasons == () for r in readings)
    assert [r.sequence for r in readings[::2]] == list(range(1, 30))


@pytest.mark.parametrize(
    ("faults", "reason"),
    [({"gap_every": 5}, QualityReason.SEQUENCE_GAP), ({"duplicate_every": 4}, None)],
)
def test_gaps_and_duplicates_keep_the_counts_right(
    faults: dict[str, Any], reason: QualityReason | None
) -> None:
    sim = VS133Simulator(lines=4, seed=3, **faults)
    readings, dups, _ = _run(sim, 40)
    assert _totals(readings) == _sent(sim)  # a lost uplink's crossings arrive in the next
    if reason is not None:
        flagged = {r.sequence for r in readings if reason in r.reasons}
        assert flagged == {5, 10, 15, 20, 25, 30, 35}  # after lost f_cnt 4, 9, ...
    else:
        assert dups == 10


def test_resets_are_flagged_and_never_negative() -> None:
    sim = VS133Simulator(lines=4, seed=11, reset_every=6, rate_per_min=40)
    readings, _, _ = _run(sim, 30)
    reset = [r for r in readings if QualityReason.COUNTER_RESET in r.reasons]
    # totals cleared before cycles 6, 12, ... (f_cnt 5, 11, ...): both lines flag it
    assert sorted(r.sequence or 0 for r in reset) == [5, 5, 11, 11, 17, 17, 23, 23, 29, 29]
    assert _totals(readings) == _sent(sim)


@pytest.mark.parametrize(("epoch_ms", "strings"), [(True, False), (False, True)])
def test_people_counter_readings_map_back(epoch_ms: bool, strings: bool) -> None:
    cfg = GenericJsonConfig.model_validate(
        {
            "id": "bench",
            "topics": ["sensors/+/raw"],
            "line_expr": "zone",
            "map": {f"z{i}": "gate-a" for i in range(1, 6)},
            "in": "in",
            "out": "out",
            "time": "ts",
            "interval_s": 1.0,
        }
    )
    m = Mapper(cfg)
    msgs = list(people_counter_readings(200, epoch_ms=epoch_ms, strings=strings, seed=5))
    assert all(len(p) <= 140 for _, p in msgs)
    total_in = 0
    for topic, payload in msgs:
        (r,) = m.map_payload(payload, received_at=NOW, stream=topic).readings
        assert r.observed_to is not None and r.observed_to.year == 2026
        total_in += r.in_
    expected = sum(int(json.loads(p)["in"]) for _, p in msgs)
    assert total_in == expected > 0
