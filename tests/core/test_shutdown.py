"""Stopping `hub run` (a subprocess, real signals) in states where it used to hang or lie."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from hub.testing import HubProcess

HEAD = """
[hub]
data_dir = "data"
shutdown_timeout_s = 5

[site]
id = "s"

[[site.zones]]
id = "square"
area_m2 = 100

[[sources.simulated]]
id = "sim"
zone = "square"
measurement = "occupancy"
interval_s = 0.05
"""


def start(tmp_path: Path, sinks: str) -> HubProcess:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(HEAD + sinks)
    log = tmp_path / "hub.log"
    log.unlink(missing_ok=True)  # each start its own log
    return HubProcess(cfg, log).start()


def wait_for_line(hub: HubProcess, text: str, limit_s: float = 30) -> None:
    hub.wait_until(lambda: text in hub.log_text(), limit_s, f"{text!r} in the log")


def stop(hub: HubProcess, sig: signal.Signals) -> float:
    """Send ``sig``; the seconds until the process exited (killed after 20 s)."""
    sent = time.monotonic()
    hub.stop(20, sig)
    return time.monotonic() - sent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_while_an_output_retries_opening(tmp_path: Path, sig: signal.Signals) -> None:
    # the database path is a directory: sqlite cannot open it (works as root, unlike chmod)
    (tmp_path / "data" / "events.sqlite").mkdir(parents=True)
    hub = start(
        tmp_path,
        '[[sinks.sqlite]]\nid = "db"\non_startup_error = "retry"\nretry_initial_s = 30\n',
    )
    wait_for_line(hub, "sinks.sqlite[db]: could not open")
    took = stop(hub, sig)
    text = hub.log_text()
    assert hub.returncode == 0, text
    assert took < 10, f"took {took:.1f} s to stop"
    assert (
        "sinks.sqlite[db]: stop requested while retrying to open this output (1 attempt(s), "
        "last: sqlite[db]: cannot open " in text
    )
    assert "stopping without starting the sources" in text
    assert "hub running" not in text


def test_stop_with_a_dead_output_exits_non_zero_and_says_what_was_lost(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hub = start(
        tmp_path,
        f'[[sinks.http]]\nid = "hook"\nurl = "http://127.0.0.1:{port}/hook"\nview = "internal"\n'
        'queue = "memory"\nretry_initial_s = 0.05\nretry_max_s = 0.1\n\n'
        '[[sinks.jsonl]]\nid = "archive"\n',
    )
    wait_for_line(hub, "sinks.http[hook]: output unavailable")
    took = stop(hub, signal.SIGTERM)
    text = hub.log_text()
    assert hub.returncode == 1, text
    assert took < 10, f"took {took:.1f} s to stop"
    assert "sinks.http[hook]: output still failing at shutdown; " in text
    assert "queued event(s) lost (the memory queue does not survive a stop)" in text
    assert "hub: stopped, but " in text and " queued event(s) were lost: sinks.http[hook] " in text
    assert "stopped cleanly" not in text
    # the healthy output kept receiving while the webhook was down
    assert (tmp_path / "data" / "events.jsonl").read_text().count("\n") >= 1


def test_stop_with_a_dead_output_keeps_its_events_and_delivers_them_first_next_time(
    tmp_path: Path,
) -> None:
    with socket.socket() as s:  # a port nobody listens on (yet)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sinks = (
        f'[[sinks.http]]\nid = "hook"\nurl = "http://127.0.0.1:{port}/hook"\nview = "internal"\n'
        "retry_initial_s = 0.05\nretry_max_s = 0.1\n\n"
        '[[sinks.jsonl]]\nid = "archive"\n'
    )
    hub = start(tmp_path, sinks)
    wait_for_line(hub, "sinks.http[hook]: output unavailable")
    time.sleep(0.3)
    took = stop(hub, signal.SIGTERM)
    text = hub.log_text()
    # nothing was lost: the durable queue keeps what the webhook did not take; exit 0
    assert hub.returncode == 0, text
    assert took < 10, f"took {took:.1f} s to stop"
    assert "sinks.http[hook]: output still failing at shutdown; " in text
    waiting = [ln for ln in text.splitlines() if "wait in the durable queues" in ln]
    assert len(waiting) == 1 and waiting[0].endswith(
        tuple(f"for the next start: sinks.http[hook] {n}" for n in range(1, 1000))
    ), text
    kept = int(waiting[0].rsplit(" ", 1)[1])
    assert "lost" not in text and "stopped cleanly" in text
    lines = (tmp_path / "data" / "events.jsonl").read_text().splitlines()
    archived = [json.loads(ln)["event_id"] for ln in lines]
    assert len(archived) >= kept

    # the next start, with the receiver up: the kept events arrive first, in order
    got: list[str] = []
    received = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.extend(e["event_id"] for e in body["events"])
            if len(got) >= kept + 1:
                received.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hub = start(tmp_path, sinks)
        wait_for_line(hub, f"http[hook]: {kept} event(s) queued from the last run")
        assert received.wait(20), hub.log_text()
        stop(hub, signal.SIGTERM)
    finally:
        server.shutdown()
        server.server_close()
    assert hub.returncode == 0, hub.log_text()
    # the webhook got first exactly the events it missed, in the order the archive has them
    assert got[:kept] == archived[-kept:]
