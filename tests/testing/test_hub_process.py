"""hub.testing.HubProcess: `hub run` as a child process (a real hub, real signals)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from hub.testing import HubExited, HubProcess
from hub.testing.mosquitto import free_port
from tests.test_cli import CONFIG


def config(tmp_path: Path, port: int) -> Path:
    """test_cli's hub (simulated sources, file outputs) with an HTTP server on ``port``."""
    path = tmp_path / "hub.toml"
    path.write_text(f'{CONFIG}\n[[transports.http]]\nhost = "127.0.0.1"\nport = {port}\n')
    return path


def test_healthy_then_sigterm_returns_the_exit_code(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, port)
    with HubProcess(cfg, tmp_path / "hub.log") as hub:
        hub.wait_healthy(port, 30)
        archive = tmp_path / "data" / "events.jsonl"
        assert hub.wait_until(lambda: archive.exists() and archive.stat().st_size, 20, "events")
        assert hub.alive()
        assert hub.stop() == 0, hub.log_tail()
        assert not hub.alive() and hub.returncode == 0
        assert hub.stop() == 0  # stopping an ended hub only reports its code again
    assert "stopped cleanly" in hub.log_text()


async def test_async_waits_and_stop(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, port)
    async with HubProcess(cfg, tmp_path / "hub.log") as hub:
        await hub.wait_healthy_async(port)

        async def archived() -> int:
            path = tmp_path / "data" / "events.jsonl"
            return path.stat().st_size if path.exists() else 0

        assert await hub.wait_until_async(archived, 20, "events") > 0
        assert await hub.stop_async(sig=signal.SIGINT) == 0, hub.log_tail()


def test_a_hub_that_exits_early_fails_the_wait_with_its_log(tmp_path: Path) -> None:
    cfg = config(tmp_path, free_port())
    cfg.write_text(cfg.read_text().replace('id = "archive"', 'idd = "archive"'))
    with HubProcess(cfg, tmp_path / "hub.log") as hub, pytest.raises(HubExited) as err:
        hub.wait_healthy(free_port(), 30)
    message = str(err.value)
    assert message.startswith("hub exited early with status 2\n"), message
    assert "sinks.jsonl" in message and "idd" in message  # the config error, from the log
    assert isinstance(err.value, AssertionError)


def test_a_condition_never_met_times_out_with_the_log(tmp_path: Path) -> None:
    cfg = config(tmp_path, free_port())
    printed = tmp_path / "stdout.jsonl"  # the console output's events, apart from the log
    args = ["--log-format", "json"]
    with HubProcess(cfg, tmp_path / "hub.log", extra_args=args, stdout_path=printed) as hub:
        with pytest.raises(AssertionError) as err:
            hub.wait_until(lambda: False, 0.5, "something that never happens")
        assert not isinstance(err.value, HubExited)
        assert "timed out after 0.5 s waiting for something that never happens" in str(err.value)
        assert hub.alive()
        first = hub.wait_until(lambda: hub.log_text().splitlines(), 20, "a log line")[0]
    assert {"level", "logger", "message"} <= set(json.loads(first)), first  # extra_args
    assert '"event_id"' in printed.read_text() and '"event_id"' not in hub.log_text()
