"""Plugin discovery: built-ins, a pip-installed entry-point plugin, a broken one, filters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hub
from hub.core.plugins import load_plugins
from hub.errors import PluginError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "plugins"


@pytest.fixture(scope="module")
def site_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Install the fixture plugins with pip into separate target folders (really installed:
    dist-info with entry points, discovered through importlib.metadata)."""
    out = {}
    for name in ("good", "broken"):
        target = tmp_path_factory.mktemp(f"site-{name}")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(target),
                str(FIXTURES / name),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        out[name] = target
    return out


def run_hub(*args: str, path: list[Path], **env: str) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    e.update(env)
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=60, env=e
    )


def test_builtins_are_registered_like_plugins() -> None:
    reg = load_plugins(entrypoints=False)
    names = {p.name for p in reg.plugins}
    assert {"output_console", "output_jsonl", "output_sqlite", "simulated"} <= names
    assert reg.sinks["console"][1].name == "output_console"
    assert reg.sources["simulated"][1].builtin


def test_installed_entry_point_plugin_is_listed(site_dirs: dict[str, Path]) -> None:
    proc = run_hub("plugins", "--json", path=[site_dirs["good"]])
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    good = next(r for r in rows if r["name"] == "test_good")
    assert good["version"] == "1.2.3"
    assert good["distribution"] == "crowdhub-test-good-plugin"
    assert good["sources"] == ["test_good_counter"]
    assert good["sinks"] == ["test_good_sink"]
    assert good["transports"] == []
    for row in rows:
        assert {"name", "version", "sources", "sinks", "transports"} <= set(row)
    text = run_hub("plugins", path=[site_dirs["good"]])
    assert "test_good" in text.stdout and "test_good_counter" in text.stdout


def test_broken_plugin_is_one_clear_line(site_dirs: dict[str, Path]) -> None:
    proc = run_hub("plugins", path=[site_dirs["good"], site_dirs["broken"]])
    assert proc.returncode == 2
    line = next(ln for ln in proc.stderr.splitlines() if "test_broken" in ln)
    assert "crowdhub-test-broken-plugin 0.0.1" in line
    assert "crowdhub_missing_dependency" in line
    assert "HUB_BLOCK_PLUGINS=test_broken" in line


def test_environment_blocks_and_restricts(site_dirs: dict[str, Path]) -> None:
    both = [site_dirs["good"], site_dirs["broken"]]
    proc = run_hub("plugins", "--json", path=both, HUB_BLOCK_PLUGINS="test_broken")
    assert proc.returncode == 0, proc.stderr
    assert "test_good" in {r["name"] for r in json.loads(proc.stdout)}
    proc = run_hub("plugins", "--json", path=both, HUB_LOAD_PLUGINS="")
    assert proc.returncode == 0, proc.stderr
    names = {r["name"] for r in json.loads(proc.stdout)}
    assert "test_good" not in names and "output_console" in names


def test_config_plugins_table_blocks(site_dirs: dict[str, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text('[plugins]\nblock = ["test_broken"]\n\n[[sinks.test_good_sink]]\nid = "x"\n')
    proc = run_hub("check-config", str(cfg), path=[site_dirs["good"], site_dirs["broken"]])
    assert proc.returncode == 0, proc.stderr


class Misspelled:
    @hub.hookimpl
    def register_sourcez(self, register: Any) -> None:
        """A typo: no such hook."""


class NotASource:
    @hub.hookimpl
    def register_sources(self, register: Any) -> None:
        register(int)


class Duplicate:
    @hub.hookimpl
    def register_sinks(self, register: Any) -> None:
        from hub.outputs.console import ConsoleSink

        register(ConsoleSink)


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (Misspelled(), "implements a hook that does not exist"),
        (NotASource(), "is not a subclass of hub.Source"),
        (
            Duplicate(),
            "sink kind 'console' is registered by both plugin 'output_console' and plugin 'bad'",
        ),
    ],
)
def test_plugin_mistakes_fail_loudly(plugin: object, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        load_plugins(entrypoints=False, extra=[("bad", plugin)])
