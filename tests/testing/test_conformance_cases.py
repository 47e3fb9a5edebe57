"""The case folder format: loading, precise errors, event comparison, the manual clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

import hub
from hub.events import Provenance
from hub.testing.conformance import CaseError, ManualClock, load_cases
from hub.testing.conformance.cases import compare_events, load_case


def write(folder: Path, toml: str, expected: str = '{"events": []}') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.toml").write_text(toml)
    (folder / "expected.json").write_text(expected)
    return folder


def test_every_payload_form(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "frame.hex").write_text("59 59 # sync\n7b 00\n")
    (tmp_path / "c" / "body.bin").write_bytes(b"\x01\x02")
    case = load_case(
        write(
            tmp_path / "c",
            """
transport = "mqtt"
topic = "t/1"
start = "2026-01-01T00:00:00+01:00"
[source]
line = "gate"
[[inputs]]
text = "abc"
[[inputs]]
hex = "01 ff"
advance_s = 30
[[inputs]]
base64 = "AQI="
topic = "t/2"
[[inputs]]
file = "frame.hex"
[[inputs]]
file = "body.bin"
[[inputs]]
json = {a = 1, b = [true]}
[[inputs]]
advance_s = 5
""",
            '{"events": [{"line": "gate"}], "expected_malformed": 2}',
        )
    )
    payloads = [i.payload for i in case.inputs]
    assert payloads == [b"abc", b"\x01\xff", b"\x01\x02", b"YY{\x00", b"\x01\x02",
                        b'{"a":1,"b":[true]}', None]  # fmt: skip
    assert case.inputs[1].advance_s == 30 and case.inputs[2].topic == "t/2"
    assert case.start == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert case.config == {"id": "conformance", "line": "gate"}
    assert [ln.id for ln in case.site.lines] == ["gate"]  # a site made from the config
    assert case.expected.malformed == 2


@pytest.mark.parametrize(
    ("toml", "expected", "message"),
    [
        ('transport = "pigeon"', "{}", "transport must be one of"),
        ("colour = 1", "{}", "unknown key(s) ['colour']"),
        ('transport = "mqtt"\n[[inputs]]\ntext = "x"', "{}", "needs a topic"),
        ('[[inputs]]\ntext = "x"\nhex = "00"', "{}", "give one of"),
        ('[[inputs]]\nhex = "zz"', "{}", "not valid hexadecimal"),
        ('[[inputs]]\nfile = "nope.bin"', "{}", "file 'nope.bin' not found"),
        ('transport = "none"\n[[inputs]]\ntext = "x"', "{}", "takes no payloads"),
        ("", '{"events": [{"mesurement": {}}]}', "['mesurement'] are not event fields"),
        ("", '{"expected_malformed": -1}', "expected_malformed must be a count"),
        ("", "[", "not valid JSON"),
    ],
)
def test_case_mistakes_name_file_and_key(
    tmp_path: Path, toml: str, expected: str, message: str
) -> None:
    write(tmp_path / "bad", toml, expected)
    with pytest.raises(CaseError, match="bad") as err:
        load_cases(tmp_path)
    assert message in str(err.value)


def test_no_cases(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="no cases"):
        load_cases(tmp_path)
    with pytest.raises(CaseError, match="no such cases folder"):
        load_cases(tmp_path / "missing")


def crossing(i: int, o: int, minute: int, *reasons: hub.QualityReason) -> hub.Event:
    start = datetime(2026, 6, 1, 12, minute, tzinfo=UTC)
    return hub.Event.create(
        source="s", kind="k", measurement=hub.Crossing(in_=i, out=o),
        provenance=Provenance(plugin="k", plugin_version="0"), key=minute, line="gate",
        observed_from=start, observed_to=start.replace(second=59),
        quality_reasons=reasons,
    )  # fmt: skip


def test_compare_events_on_the_fields_given() -> None:
    got = [crossing(3, 1, 0), crossing(2, 0, 1, hub.QualityReason.SEQUENCE_GAP)]
    want = [
        {
            "measurement": {"type": "crossing", "in": 3},
            "observed_from": "2026-06-01T14:00:00+02:00",
        },
        {"quality_reasons": ["sequence_gap"], "line": "gate"},
    ]
    assert compare_events(want, got) == []
    assert compare_events(list(reversed(want)), list(reversed(got))) == []
    problems = compare_events([{"measurement": {"in": 4}}, want[1]], got)
    assert problems == ["event #1: measurement.in: expected 4, got 3"]
    assert compare_events(want[:1], got) == [
        "1 unexpected event(s) after the expected 1; the first: crossing at "
        "2026-06-01T12:01:59+00:00"
    ]
    assert compare_events(want[:1], got, allow_extra=True) == []
    assert compare_events([want[1], want[0]], got, ordered=False) == []
    assert "not produced" in compare_events([{"sequence": 9}], got, ordered=False)[0]
    assert "missing (got only 2" in compare_events([*want, {}], got)[0]


async def test_manual_clock_moves_only_when_advanced() -> None:
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(60)
        woke.append(clock.monotonic())

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    assert clock.next_deadline() == 1060.0
    assert clock.advance_to(1030.0) == 0
    await asyncio.sleep(0)
    assert not woke and clock.now() == datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC)
    assert clock.advance_to(1060.0) == 1
    await task
    assert woke == [1060.0]
