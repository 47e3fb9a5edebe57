"""Simulated devices come from plugins (``register_simulators``): a pip-installed third-party
plugin's device shows up in ``hub simulate --help`` and runs; bad registrations are one-line
errors naming the plugin; ``hub run`` never imports a simulator module."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import hub
from hub.core.plugins import load_plugins
from hub.errors import PluginError
from hub.simulate import Simulator
from hub.simulate.cli import build_simulator, simulate_parser
from hub.simulate.registry import collect_simulators

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "plugins" / "simulator"
BUILTIN_DEVICES = [
    "paxcounter",
    "meraki",
    "tfluna",
    "rplidar",
    "xovis",
    "axis",
    "hikvision",
    "vivotek",
    "json",
]


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture plugin really installed (dist-info with its entry point)."""
    target = tmp_path_factory.mktemp("site-simulator")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--target", str(target), str(FIXTURE),
        ],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def run_hub(*args: str, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=str(path), **env)
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=60, env=e
    )


def test_help_lists_a_third_party_device_beside_the_bundled_ones(site_dir: Path) -> None:
    proc = run_hub("simulate", "--help", path=site_dir)
    assert proc.returncode == 0, proc.stderr
    assert "test_beeper (test-beep)" in proc.stdout
    assert "a test device that only says beep (plugin test_sim)" in proc.stdout
    for device in BUILTIN_DEVICES:
        assert f"    {device}" in proc.stdout


def test_a_third_party_device_runs(site_dir: Path) -> None:
    proc = run_hub(
        "simulate", "test-beep", "--count", "3", "--rate", "200", "--word", "hi", path=site_dir
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "test_beeper: simulating, sending to stdout; stop with Ctrl-C",
        "test_beeper: hi 1",
        "test_beeper: hi 2",
        "test_beeper: hi 3",
        "test_beeper: stopped after 3 sent",
    ]


def test_a_blocked_plugin_contributes_no_device(site_dir: Path) -> None:
    proc = run_hub("simulate", "--help", path=site_dir, HUB_BLOCK_PLUGINS="test_sim")
    assert proc.returncode == 0, proc.stderr
    assert "test_beeper" not in proc.stdout and "paxcounter" in proc.stdout
    proc = run_hub("simulate", "test_beeper", path=site_dir, HUB_BLOCK_PLUGINS="test_sim")
    assert proc.returncode == 2
    assert "invalid choice: 'test_beeper'" in proc.stderr


def test_loading_plugins_for_a_run_imports_no_simulator() -> None:
    code = (
        "import sys; from hub.core.plugins import load_plugins; load_plugins(); "
        "print(sorted(m for m in sys.modules if m.startswith('hub.simulate') "
        "or m.endswith('.simulate')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "[]"


# -- registrations, in-process plugins ---------------------------------------------------------


class Dup(Simulator):
    device = "paxcounter"
    summary = "a second paxcounter"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        pass

    def target(self) -> str:
        return "nowhere"

    async def run(self) -> None:
        pass


class Unfinished(Simulator):  # no run(), no target()
    device = "unfinished"
    summary = "a device without run()"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        pass


class BadName(Dup):
    device = "Bad Name"


class Registers:
    def __init__(self, *classes: object) -> None:
        self.classes = classes

    @hub.hookimpl
    def register_simulators(self, register: Callable[[object], None]) -> None:
        for cls in self.classes:
            register(cls)


@pytest.mark.parametrize(
    ("registered", "message"),
    [
        (
            Dup,
            "simulated device 'paxcounter' is registered by both plugin 'wifi_counter' and "
            "plugin 'mine'; block one of them",
        ),
        (int, "plugin 'mine': registered <class 'int'> as a simulator, but it is not a "
         "subclass of Simulator"),
        (Unfinished, "plugin 'mine': Unfinished does not implement run, target"),
        (BadName, "plugin 'mine': BadName.device must be a lower-case name (a-z, 0-9, _ or -), "
         "got 'Bad Name'"),
    ],
    ids=["duplicate", "not-a-simulator", "abstract", "bad-name"],
)  # fmt: skip
def test_a_bad_registration_is_one_precise_line(registered: object, message: str) -> None:
    registry = load_plugins(entrypoints=False, extra=[("mine", Registers(registered))])
    with pytest.raises(PluginError) as err:
        collect_simulators(registry)
    assert str(err.value) == message


def test_an_in_process_plugin_device_is_built_like_a_bundled_one() -> None:
    class Quiet(Dup):
        device = "quiet"

    registry = load_plugins(entrypoints=False, extra=[("mine", Registers(Quiet))])
    entries = collect_simulators(registry)
    assert list(entries)[: len(BUILTIN_DEVICES)] == BUILTIN_DEVICES
    assert entries["quiet"].plugin == "mine" and not entries["quiet"].builtin
    assert "(plugin mine)" in simulate_parser(entries).format_help()
    sim = build_simulator(["quiet", "--rate", "3"], print, registry=registry)
    assert isinstance(sim, Quiet) and sim.args.rate == 3.0
