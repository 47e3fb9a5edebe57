"""``hub demo``: the bundled config, fed by simulated devices on real transports.

What runs, all in this process and without any external service:

* the embedded MQTT broker (``mqtt_broker``) and a **Paxcounter** publishing on
  it, read by the ``wifi_counter`` source through the hub's MQTT client;
* a **TF-Luna pair** on two pseudo-terminals, read by the ``tfluna`` source
  through the serial transport (direction in/out);
* a **Hikvision camera** pushing ISAPI XML to the hub's HTTP ingest server,
  read by the ``camera_aggregate`` source, with a scripted surge (``--surge``) that
  takes the boulevard from green to red and back every few minutes, raising an
  alert to acknowledge with ``hub alerts``.

Free ports and the pty paths are written into the config before it is
validated. The simulators run as named tasks in a TaskGroup beside the hub's;
the hub stops first (its sources, then its outputs), then the devices.
"""

from __future__ import annotations

__all__ = ["DemoPlan", "plan_demo", "run_demo"]

import asyncio
import logging
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import hub
from hub.core.config import (
    HubConfig,
    preliminary_plugin_settings,
    read_toml,
    run_configure_hooks,
    substitute_env,
    validate_config,
)
from hub.core.plugins import Registry, load_plugins
from hub.core.runtime import Hub, run_until_stopped
from hub.dashboard.settings import served_views
from hub.errors import ConfigError, ConfigProblem
from hub.simulate import Simulator
from hub.simulate.cli import build_simulator
from hub.simulate.surge import Surge

log = logging.getLogger("hub.demo")

SURGE = "950:20:40:30:40:60"
"""The camera's scripted surge: 950 people on the boulevard's 400 m² (red above 860)."""


@dataclass
class DemoPlan:
    """The validated config plus the simulators that feed it."""

    config: HubConfig
    registry: Registry
    simulators: list[Simulator]
    banner: str
    pty_dir: Path


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _only(raw: dict[str, Any], table: str, kind: str) -> list[dict[str, Any]]:
    items = raw.get(table, {}).get(kind, [])
    if not items:
        raise ConfigError([ConfigProblem(f"{table}.{kind}", "the demo needs this table")])
    return list(items)


def plan_demo(data_dir: Path, *, say: Any = None) -> DemoPlan:
    """Load the bundled config, give it free ports and ptys, and make its simulators."""
    source = resources.files("hub.demo").joinpath("demo.toml")
    with resources.as_file(source) as path:
        raw = read_toml(Path(path))
    settings = preliminary_plugin_settings(raw)
    registry = load_plugins(load=settings.load, block=settings.block)
    problems: list[ConfigProblem] = []
    raw = substitute_env(raw, "", problems)

    mqtt_port, http_port = free_port(), free_port()
    pty_dir = Path(tempfile.mkdtemp(prefix="crowdhub-demo-"))
    links = [pty_dir / "tfluna-a", pty_dir / "tfluna-b"]
    _only(raw, "transports", "mqtt_broker")[0]["port"] = mqtt_port
    _only(raw, "transports", "mqtt")[0]["port"] = mqtt_port
    _only(raw, "transports", "http")[0]["port"] = http_port
    beams = _only(raw, "sources", "tfluna")[0]["beams"]
    for beam, link in zip(beams, links, strict=True):
        beam["serial"]["port"] = str(link)
    raw["hub"]["data_dir"] = str(data_dir)

    config = validate_config(raw, registry, problems)
    if problems or config is None:
        shutil.rmtree(pty_dir, ignore_errors=True)
        raise ConfigError(problems, "demo.toml")
    run_configure_hooks(config, registry, "demo.toml")

    camera = config.sources["camera_aggregate"][0]
    auth = getattr(camera, "auth")  # noqa: B009 - typed as SourceConfig here
    url = f"http://127.0.0.1:{http_port}/ingest/{camera.id}"
    speak = say or (lambda line: log.debug("%s", line))
    argvs = [
        ["paxcounter", "--broker", f"127.0.0.1:{mqtt_port}", "--rate", "0.5", "--seed", "7"],
        ["tfluna", "--beams", "2", "--rate", "40", "--seed", "8"]
        + [x for link in links for x in ("--link", str(link))],
        [
            "hikvision",
            "--url",
            url,
            "--rate",
            "1",
            "--seed",
            "9",
            "--surge",
            SURGE,
            "--user",
            auth.username,
            "--password",
            auth.password.get_secret_value(),
        ],
    ]
    simulators = [build_simulator(argv, speak, registry=registry) for argv in argvs]
    banner = "\n".join(
        [
            f"crowdhub {hub.__version__} demo: simulated devices speaking their real wire "
            "formats, no external service:",
            f"  Paxcounter -> MQTT paxout/1 on the embedded broker 127.0.0.1:{mqtt_port} "
            "-> wifi_counter (devices, beach)",
            f"  TF-Luna beam pair -> ptys {links[0]} and {links[1]} -> tfluna "
            "(crossings in/out, gate-a)",
            f"  Hikvision camera -> HTTP push to {url} -> camera_aggregate "
            "(crossings gate-b, occupancy boulevard)",
            f"  Crowd picture: the camera scripts a surge on the boulevard every "
            f"{Surge.parse(SURGE).period_s / 60:.0f} min, green -> red -> green; "
            f"watch it with `hub zones --data-dir {data_dir}`. When alert level-red fires "
            "(about a minute in), acknowledge it:",
            f"    hub alerts --data-dir {data_dir} ack level-red/boulevard --by operator "
            "--note 'stewards to the boulevard'",
            *_dashboard_lines(config, http_port),
            f"Events go to the console, {data_dir / 'events.sqlite'} and "
            f"{data_dir / 'events.jsonl'}. Stop with Ctrl-C.",
            f"Config: {source} - a starting point for a real site (or "
            "`hub sample-config --all`); check yours with `hub check-config FILE`, run it with "
            f"`hub run FILE`. State: `hub status --data-dir {data_dir}`.",
        ]
    )
    return DemoPlan(config, registry, simulators, banner, pty_dir)


def _dashboard_lines(config: Any, http_port: int) -> list[str]:
    """The dashboard's URL and the demo's tokens (demo only: real tokens stay secret)."""
    views = served_views(config.views)
    if not views:
        return []
    tokens = ", ".join(f"{v.id}: {v.token.get_secret_value()}" for v in views if v.token)
    return [
        f"Dashboard: http://127.0.0.1:{http_port}/ - log in with a demo token ({tokens}); "
        "the operator can acknowledge the alert there too",
    ]


class _Started:
    """A plugin whose ``startup`` hook says the hub's outputs and transports are up."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    @hub.hookimpl
    def startup(self, hub: Any) -> None:
        self.event.set()


async def _simulate(sim: Simulator, started: asyncio.Event, first: bool) -> None:
    if not first:  # ptys must exist before the hub opens them; pushes wait for the hub
        await started.wait()
    await sim.run()


async def run_plan(plan: DemoPlan, stop: asyncio.Event) -> None:
    """Run the hub and its simulators until ``stop`` is set."""
    started = _Started()
    plan.registry.pm.register(started, name="demo-started")
    the_hub = Hub(plan.config, plan.registry)
    hub_stop = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as tg:
            sims = [
                tg.create_task(
                    _simulate(sim, started.event, sim.start_before_hub),
                    name=f"simulator:{sim.device}",
                )
                for sim in plan.simulators
            ]
            hub_task = tg.create_task(the_hub.run(hub_stop), name="hub")
            stop_task = tg.create_task(stop.wait(), name="demo-stop")
            await asyncio.wait([hub_task, stop_task], return_when=asyncio.FIRST_COMPLETED)
            hub_stop.set()  # the hub stops its sources and flushes while the devices still run
            stop_task.cancel()
            await asyncio.wait([hub_task])
            for task in sims:
                task.cancel()
    finally:
        plan.registry.pm.unregister(name="demo-started")
        shutil.rmtree(plan.pty_dir, ignore_errors=True)


def run_demo(data_dir: Path, duration: float | None) -> int:
    """``hub demo``: 0 after a clean stop, 1 when the hub failed."""
    plan = plan_demo(data_dir)
    print(plan.banner, file=sys.stderr, flush=True)

    async def body(stop: asyncio.Event) -> None:
        await run_plan(plan, stop)

    return run_until_stopped(body, duration, done="demo stopped cleanly")
