"""Every kind of configuration mistake is reported on its own line, before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.errors import ConfigError

GOOD = """
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
        load_config(path, load_plugins())
    return [str(p) for p in info.value.problems]


def test_valid_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(GOOD)
    cfg = load_config(path, load_plugins())
    assert cfg.site.id == "scheveningen"
    assert cfg.sources["simulated"][0].line == "gate-a"
    assert cfg.data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("interval_s = 1.0", 'interval_s = "fast"'),
            "sources.simulated[sim-gate].interval_s: Input should be a valid number",
        ),
        (
            ('line = "gate-a"', 'line = "gate-a"\ncolour = "red"'),
            "sources.simulated[sim-gate].colour: unknown field (allowed:",
        ),
        (
            ("[[sources.simulated]]", "[[sources.simulatd]]"),
            "sources.simulatd: unknown source kind 'simulatd'; did you mean 'simulated'? "
            "installed kinds:",
        ),
        (
            ('line = "gate-a"\n', 'line = "gate-b"\n'),
            "sources.simulated[sim-gate].line: unknown line 'gate-b'",
        ),
        (
            ("area_m2 = 1200.0", "area_m2 = -5"),
            "site.zones[boulevard].area_m2: Input should be greater than 0",
        ),
        (
            ('zone = "boulevard"\nwidth_m', 'zone = "nowhere"\nwidth_m'),
            "line 'gate-a' refers to unknown zone 'nowhere'",
        ),
        (("[hub]", "[hub]\ncolour = 1"), "hub.colour: unknown field"),
        (("[hub]", "[hubb]\n[hub]"), "hubb: unknown top-level table"),
        (
            ('id = "console"', 'id = "${CROWDHUB_TEST_UNSET_VAR}"'),
            "environment variable CROWDHUB_TEST_UNSET_VAR is not set",
        ),
        (
            ('id = "sim-gate"', 'id = "sim gate!"'),
            "sources.simulated[sim gate!].id: String should match pattern",
        ),
    ],
)
def test_each_mistake_is_named(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace("[[sources.simulated]]\nid", "[[sources.simulated]]\ninterval_s = 1.0\nid")
    old, new = change
    assert old in text
    found = problems(tmp_path, text.replace(old, new, 1))
    assert any(expected in p for p in found), found


def test_several_mistakes_each_on_its_own_line_exit_2(tmp_path: Path) -> None:
    text = GOOD.replace('line = "gate-a"\n', 'line = "gate-x"\ninterval_s = "x"\nbogus = 1\n')
    text += '\n[[sinks.nosuch]]\nid = "n"\n\n[[sinks.console]]\nid = "console"\n'
    path = tmp_path / "bad.toml"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(str(path))]
    joined = "\n".join(lines)
    assert len(lines) == 5, proc.stderr
    assert "sources.simulated[sim-gate].line: unknown line 'gate-x'" in joined
    assert "sources.simulated[sim-gate].interval_s: Input should be a valid number" in joined
    assert "sources.simulated[sim-gate].bogus: unknown field" in joined
    assert "sinks.nosuch: unknown sink kind 'nosuch'" in joined
    assert "sinks.console[console].id: duplicate id 'console'" in joined
    assert "nothing was started" in proc.stderr


def test_check_config_ok_exit_0(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(GOOD)
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    assert "not valid TOML" in problems(tmp_path, "[site\nid=")[0]
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml", load_plugins())


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROWDHUB_TEST_SINK", "from-env")
    path = tmp_path / "hub.toml"
    path.write_text(
        GOOD.replace('id = "console"', 'id = "${CROWDHUB_TEST_SINK}"')
        + '\n[[sinks.jsonl]]\nid = "j"\npath = "${CROWDHUB_TEST_NOPE:-ev.jsonl}"\n'
    )
    cfg = load_config(path, load_plugins())
    assert cfg.sinks["console"][0].id == "from-env"
    assert cfg.sinks["jsonl"][0].path == "ev.jsonl"  # type: ignore[attr-defined]
