"""A short run of bench/fuzz.py: every bundled parser, and a push and an MQTT path through a
running hub, raise only the documented errors on mutated inputs and return nothing
impossible. (The long runs are bench/fuzz.py's job; this one takes a few seconds.)"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from fuzz import fuzz_parser, main  # noqa: E402
from fuzz_report import TargetStats  # noqa: E402
from fuzz_targets import Target, parser_targets  # noqa: E402

from hub.errors import MalformedInput  # noqa: E402

INPUTS = 300
TARGETS = {t.name: t for t in parser_targets()}


def _explain(stats: TargetStats) -> str:
    return "; ".join(
        f"{f.category} {f.signature} x{f.count} ({f.detail}) reproducer {f.file}"
        for f in stats.findings.values()
    )


def test_every_bundled_parser_is_a_target() -> None:
    names = set(TARGETS)
    assert {
        "paxcounter_packed",
        "paxcounter_plain",
        "paxcounter_mqtt_body",
        "ttn_uplink",
        "meraki",
        "tfluna_cm",
        "rplidar",
        "xovis",
        "axis",
        "hikvision",
        "vivotek",
    } <= names
    assert sum(n.startswith("generic_json[") for n in names) >= 3


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_raises_only_documented_errors(name: str, tmp_path: Path) -> None:
    stats = fuzz_parser(TARGETS[name], INPUTS, random.Random(f"suite:{name}"), tmp_path)
    assert stats.inputs == INPUTS
    assert stats.crashed == 0, _explain(stats)
    assert stats.impossible == 0, _explain(stats)
    assert stats.accepted > 0  # the mutations still reach past the decoder
    if name != "rplidar":  # its decoder resynchronises silently on every byte
        assert stats.refused > 0


def test_a_crash_is_counted_minimised_and_saved(tmp_path: Path) -> None:
    def parse(data: bytes) -> int:
        if b"!" in data:
            return {}["boom"]  # type: ignore[no-any-return]  # a KeyError: not documented
        if not data.isdigit():
            raise MalformedInput("not digits")
        return int(data)

    target = Target("toy", [b"12345", b"hello!world"], parse)
    stats = fuzz_parser(target, 200, random.Random(1), tmp_path)
    assert stats.crashed > 0 and stats.refused > 0 and stats.accepted > 0
    (finding,) = [f for f in stats.findings.values() if f.category == "crash"]
    assert finding.signature.startswith("KeyError at test_fuzz.py:")
    assert Path(finding.file).read_bytes() == b"!"  # minimised to the one byte that matters
    assert "KeyError" in Path(finding.file).with_suffix(".txt").read_text()


@pytest.mark.mosquitto
def test_live_push_and_mqtt_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--inputs",
            "0",
            "--live",
            "60",
            "--targets",
            "live:camera_aggregate[hikvision_timerange,live:wifi_counter[paxcounter_ttn",
            "--crashes",
            str(tmp_path),
            "--strict",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines() if line.startswith("live:")]
    assert [r[0] for r in rows] == [
        "live:camera_aggregate[hikvision_timerange_http]",
        "live:wifi_counter[paxcounter_ttn]",
    ]
    for name, inputs, accepted, refused, crash, impossible in rows:
        assert int(inputs) == 60 and int(accepted) > 0 and int(refused) > 0, name
        assert (crash, impossible) == ("0", "0"), name
