"""What `hub check-config` catches before start that used to fail later: one exact line each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.errors import ConfigError
from hub.site import Zone
from hub.transports import HttpAuth

GOOD = """\
[hub]
data_dir = "data"

[site]
id = "scheveningen"

[[site.zones]]
id = "boulevard"
area_m2 = 1200.0

[[site.lines]]
id = "gate-a"
zone = "boulevard"
width_m = 4.0

[[sources.simulated]]
id = "sim-gate"
line = "gate-a"

[[sinks.console]]
id = "console"
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, load_plugins(entrypoints=False))
    return [str(p) for p in info.value.problems]


def test_misspelt_key_in_a_zone_suggests_the_closest() -> None:
    allowed = ", ".join(sorted(Zone.model_fields))
    text = GOOD.replace("area_m2 = 1200.0", "area_m2 = 1200.0\ncapcity = 5000")
    assert "capacity" in Zone.model_fields
    assert problems_of(text) == [
        f"site.zones[boulevard].capcity: unknown field; did you mean 'capacity'? "
        f"(allowed: {allowed})"
    ]


def test_unknown_key_in_a_zone_lists_the_allowed_keys() -> None:
    allowed = ", ".join(sorted(Zone.model_fields))
    text = GOOD.replace("area_m2 = 1200.0", 'area_m2 = 1200.0\ncolour = "red"')
    assert problems_of(text) == [
        f"site.zones[boulevard].colour: unknown field (allowed: {allowed})"
    ]


def test_misspelt_key_in_a_nested_option_of_a_plugin() -> None:
    allowed = ", ".join(sorted(HttpAuth.model_fields))
    text = GOOD + (
        '\n[[sources.generic_json]]\nid = "feed"\ntransport = "http"\nzone = "boulevard"\n'
        'measurement = "occupancy"\nvalue = "n"\nauth = { scheme = "bearer", tokn = "x" }\n'
    )
    assert problems_of(text) == [
        f"sources.generic_json[feed].auth.tokn: unknown field; did you mean 'token'? "
        f"(allowed: {allowed})"
    ]


def test_unknown_time_zone() -> None:
    text = GOOD.replace('id = "scheveningen"', 'id = "scheveningen"\ntimezone = "Europe/Amsterdm"')
    assert problems_of(text) == [
        "site.timezone: unknown IANA time zone 'Europe/Amsterdm'; did you mean "
        "'Europe/Amsterdam'? (names as in the tz database)"
    ]
    ok = GOOD.replace('id = "scheveningen"', 'id = "scheveningen"\ntimezone = "Europe/Amsterdam"')
    assert load(ok).site.timezone == "Europe/Amsterdam"


def test_same_id_across_sink_kinds() -> None:
    text = GOOD + '\n[[sinks.jsonl]]\nid = "console"\n'
    assert problems_of(text) == [
        "sinks.jsonl[console].id: id also used by sinks.console[console]; ids must be unique "
        "within [sinks] (status, metrics and the data dir key on them); rename one of them"
    ]


def test_same_id_across_source_kinds() -> None:
    text = GOOD + (
        '\n[[sources.generic_json]]\nid = "sim-gate"\nbroker = "b"\ntopics = ["t/#"]\n'
        'zone = "boulevard"\nmeasurement = "occupancy"\ncount = "n"\n'
        '\n[[transports.mqtt]]\nid = "b"\nhost = "127.0.0.1"\n'
    )
    assert problems_of(text) == [
        "sources.generic_json[sim-gate].id: id also used by sources.simulated[sim-gate]; ids "
        "must be unique within [sources] (they name events, HTTP routes, status and metrics); "
        "rename one of them"
    ]


def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    # a file where a folder should be fails for every user, root included
    (tmp_path / "taken").write_text("")
    found = problems(tmp_path, GOOD.replace('data_dir = "data"', 'data_dir = "taken/data"'))
    assert found == [
        f"hub.data_dir: cannot create {tmp_path / 'taken' / 'data'}: {tmp_path / 'taken'} is a "
        "file, not a folder; choose another data_dir (relative paths are relative to the "
        "config file)"
    ]


def test_checking_the_data_dir_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(GOOD.replace('data_dir = "data"', 'data_dir = "state/deep/data"'))
    cfg = load_config(path, load_plugins(entrypoints=False))
    assert cfg.data_dir == tmp_path / "state" / "deep" / "data"
    assert not (tmp_path / "state").exists()


def test_empty_meraki_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CROWDHUB_TEST_MERAKI", raising=False)
    text = GOOD + (
        '\n[[sources.wifi_counter]]\nid = "meraki"\ndevice = "meraki"\nvalidator = "v"\n'
        'secret = "${CROWDHUB_TEST_MERAKI:-}"\nzone = "boulevard"\n'
    )
    assert problems_of(text) == [
        "sources.wifi_counter[meraki].secret: secret is empty: '${CROWDHUB_TEST_MERAKI:-}' gave "
        "an empty value; export CROWDHUB_TEST_MERAKI with the secret"
    ]
    monkeypatch.setenv("CROWDHUB_TEST_MERAKI", "s3cret")
    assert load(text).sources["wifi_counter"][0].id == "meraki"


def camera(auth: str) -> str:
    return GOOD + (
        '\n[[transports.http]]\nport = 0\n\n[[sources.camera_aggregate]]\nid = "cam"\n'
        f'device = "vivotek"\nauth = {auth}\n'
        '[[sources.camera_aggregate.rules]]\nrule = "Entrance"\nline = "gate-a"\n'
    )


def test_empty_and_missing_bearer_token_of_any_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    # the camera plugin checks neither: the core's generic check over HttpAuth and secrets does
    monkeypatch.delenv("CROWDHUB_TEST_TOKEN", raising=False)
    empty = camera('{ scheme = "bearer", token = "${CROWDHUB_TEST_TOKEN:-}" }')
    assert problems_of(empty) == [
        "sources.camera_aggregate[cam].auth.token: secret is empty: '${CROWDHUB_TEST_TOKEN:-}' "
        "gave an empty value; export CROWDHUB_TEST_TOKEN with the secret"
    ]
    literal = camera('{ scheme = "bearer", token = "" }')
    assert problems_of(literal) == [
        'sources.camera_aggregate[cam].auth.token: secret is empty: set it, e.g. "${MY_SECRET}" '
        "with MY_SECRET exported, or leave the key out"
    ]
    missing = camera('{ scheme = "bearer" }')
    assert problems_of(missing) == [
        "sources.camera_aggregate[cam].auth.token: auth scheme 'bearer' needs token; add "
        'token = "${...}" (an environment variable) or choose another scheme'
    ]
    monkeypatch.setenv("CROWDHUB_TEST_TOKEN", "t0ken")
    assert load(empty).sources["camera_aggregate"][0].id == "cam"  # type: ignore[attr-defined]


def test_empty_mqtt_password() -> None:
    text = GOOD + '\n[[transports.mqtt]]\nhost = "127.0.0.1"\nusername = "hub"\npassword = ""\n'
    assert problems_of(text) == [
        'transports.mqtt[default].password: secret is empty: set it, e.g. "${MY_SECRET}" with '
        "MY_SECRET exported, or leave the key out"
    ]


def test_line_id_shaped_like_a_mac_address() -> None:
    mac = "00:11:22:33:44:55"
    text = GOOD.replace('"gate-a"', f'"{mac}"')
    assert problems_of(text) == [
        f"site.lines[{mac}].id: '{mac}' looks like a MAC address; the privacy check refuses "
        "events that carry one, so every event of this line would be dead-lettered; choose a "
        "plain name such as 'gate-a'"
    ]


def test_source_id_shaped_like_an_ip_address() -> None:
    text = GOOD.replace('id = "sim-gate"', 'id = "10.1.2.3"')
    assert problems_of(text) == [
        "sources.simulated[10.1.2.3].id: '10.1.2.3' looks like an IPv4 address; the privacy "
        "check refuses events that carry one, so every event of this source would be "
        "dead-lettered; choose a plain name such as 'gate-a'"
    ]


def test_key_set_twice_names_key_table_and_lines() -> None:
    text = GOOD.replace("area_m2 = 1200.0", "area_m2 = 1200.0\narea_m2 = 900.0")
    assert problems_of(text) == [
        "line 10 in [[site.zones]]: key 'area_m2' is set twice (first on line 9); keep one of them"
    ]


def test_table_declared_twice() -> None:
    text = GOOD + '\n[hub]\nlog_level = "debug"\n'
    assert problems_of(text) == [
        "line 23: table [hub] is declared twice (first on line 1); merge the two into one table"
    ]


def test_key_set_twice_in_an_inline_table() -> None:
    text = GOOD + '\n[[sinks.http]]\nid = "h"\nurl = "http://127.0.0.1:9/"\n'
    text += 'headers = { X-A = "1", X-A = "2" }\n'
    assert problems_of(text) == [
        "line 26: Duplicate inline table key 'X-A' in 'headers'; keep one of them"
    ]


def test_check_config_prints_the_file_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(GOOD.replace("area_m2 = 1200.0", "area_m2 = 1200.0\narea_m2 = 900.0"))
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (
        f"{path}: line 10 in [[site.zones]]: key 'area_m2' is set twice (first on line 9); "
        "keep one of them"
    )


# -- helpers ---------------------------------------------------------------------------------

_TMP: list[Path] = []


@pytest.fixture(autouse=True)
def _tmp(tmp_path: Path) -> None:
    _TMP[:] = [tmp_path]


def problems_of(text: str) -> list[str]:
    return problems(_TMP[0], text)


def load(text: str) -> object:
    path = _TMP[0] / "hub.toml"
    path.write_text(text)
    return load_config(path, load_plugins(entrypoints=False))


def test_run_with_an_unusable_data_dir_stops_before_start_without_a_traceback(
    tmp_path: Path,
) -> None:
    (tmp_path / "taken").write_text("")
    path = tmp_path / "hub.toml"
    path.write_text(GOOD.replace('data_dir = "data"', 'data_dir = "taken/data"'))
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "run", "--duration", "1", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{path}: hub.data_dir: cannot create {tmp_path / 'taken' / 'data'}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_queue_settings_are_checked_per_output() -> None:
    text = GOOD.replace(
        'id = "console"\n',
        'id = "console"\nqueue = "disk"\n\n'
        '[[sinks.jsonl]]\nid = "archive"\nqueue_max_bytes = 1000\nqueue_synchronous = "off"\n\n'
        '[[sinks.sqlite]]\nid = "db"\nqueue = "memory"\nqueue_max_age_s = 60\n',
    )
    got = problems_of(text)
    assert "sinks.console[console].queue: unknown queue 'disk'; use one of: durable, memory" in got
    assert any(p.startswith("sinks.jsonl[archive].queue_max_bytes: ") and "65536" in p for p in got)
    assert any(
        p.startswith("sinks.jsonl[archive].queue_synchronous: ") and "'normal'" in p for p in got
    )
    assert (
        'sinks.sqlite[db].queue_max_age_s: applies only to queue = "durable", but this output '
        'uses queue = "memory"; remove it or set queue = "durable"'
    ) in got


def test_queue_bounds_larger_than_the_free_disk_are_a_warning_not_an_error(
    tmp_path: Path,
) -> None:
    """The durable queues may grow to queue_max_bytes each; if the disk fills first, new
    events are refused instead of the oldest dropped. check-config says so, still OK."""
    huge = 2**50  # 1 PiB: more than any test machine has free
    text = GOOD + f'\n[[sinks.jsonl]]\nid = "archive"\nqueue_max_bytes = {huge}\n'
    path = tmp_path / "hub.toml"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{path}: OK")
    data = tmp_path / "data"
    assert lines[1].startswith(
        f"warning: hub.data_dir {data}: the durable queues of 2 output(s) may grow to "
    )
    assert "lower queue_max_bytes or give data_dir more room" in lines[1]

    # the default bounds fit (256 MiB per output): nothing to say
    path.write_text(GOOD)
    ok = subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == 1, ok.stdout


def test_disk_room_counts_only_enabled_durable_queues(tmp_path: Path) -> None:
    from hub.core.bus.disk_room import disk_room_warning
    from hub.plugin import SinkConfig

    huge = 2**50
    memory = SinkConfig(id="m", queue="memory", queue_size=10)
    off = SinkConfig(id="off", enabled=False, queue_max_bytes=huge)
    assert disk_room_warning({"jsonl": [memory, off]}, tmp_path / "data") is None
    on = SinkConfig(id="on", queue_max_bytes=huge)
    warning = disk_room_warning({"jsonl": [memory, off, on]}, tmp_path / "data")
    assert warning is not None and "of 1 output(s)" in warning
