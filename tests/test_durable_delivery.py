"""Durable delivery at the hub level: `hub run` (a subprocess) with real peers.

An HTTP push source (generic_json, with sequence numbers) feeds three outputs:
sqlite and jsonl outside the data dir, and a webhook to a real aiohttp receiver.
The data dir, where the durable queues live, is a small tmpfs (mounted as root;
a real full file system, no mock). A read-only data dir is refused before start
(tests/core/test_config_check.py) and per output at open (test_bus_durable.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from hub.testing import HubProcess

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(
    not ROOT, reason="mounts a small tmpfs as the data dir (needs root: the test container is)"
)

CONFIG = """
[hub]
data_dir = "{data}"
shutdown_timeout_s = 5

[site]
id = "s"

[[site.zones]]
id = "hall"
area_m2 = 100

[[site.lines]]
id = "door"
zone = "hall"
width_m = 2

[zones]
enabled = false             # the source's events only (the crowd picture: test_e2e_zones)

[[transports.http]]
port = {port}

[[sources.generic_json]]
id = "push"
transport = "http"
measurement = "crossing"
line = "door"
in = "in"
out = "out"
sequence = "seq"
rate_per_s = 100000
auth = {{ scheme = "bearer", token = "t0ken" }}

[[sinks.sqlite]]
id = "db"
path = "{out}/events.sqlite"

[[sinks.jsonl]]
id = "archive"
path = "{out}/events.jsonl"

[[sinks.http]]
id = "hook"
url = "http://127.0.0.1:{hook_port}/hook"
view = "internal"
retry_initial_s = 0.05
retry_max_s = 0.2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.asynccontextmanager
async def receiver(port: int) -> AsyncIterator[list[str]]:
    got: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        got.extend(e["event_id"] for e in body["events"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield got
    finally:
        await runner.cleanup()


def fill(path: Path) -> Path:
    """Write a ballast file until the file system is full."""
    ballast = path / "ballast"
    with ballast.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return ballast


async def push(session: aiohttp.ClientSession, url: str, seq: int) -> tuple[int, str]:
    body = {"seq": seq, "in": 1, "out": 0}
    async with session.post(url, json=body, headers={"Authorization": "Bearer t0ken"}) as resp:
        return resp.status, await resp.text()


async def push_until_refused(
    session: aiohttp.ClientSession, url: str, start: int, accepted: list[int]
) -> tuple[int, str]:
    """Push seq start, start+1, ... until one is refused; returns (seq, answer text)."""
    seq = start
    while seq < start + 5000:
        status, text = await push(session, url, seq)
        if status == 503:
            return seq, text
        assert status == 204, (status, text)
        accepted.append(seq)
        seq += 1
    raise AssertionError("never refused")


async def retry_until_taken(session: aiohttp.ClientSession, url: str, seq: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, _ = await push(session, url, seq)
        if status == 204:
            return
        assert status == 503
        await asyncio.sleep(0.3)
    raise AssertionError(f"seq {seq} never taken")


async def test_full_data_dir_refuses_with_503_and_the_retry_arrives_once_everywhere(
    tmp_path: Path,
) -> None:
    port, hook_port = free_port(), free_port()
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "hub.log"
    with tmpfs(tmp_path / "data", "2m") as data:
        cfg = tmp_path / "hub.toml"
        cfg.write_text(CONFIG.format(data=data, out=out, port=port, hook_port=hook_port))
        url = f"http://127.0.0.1:{port}/ingest/push"
        accepted: list[int] = []
        async with (
            receiver(hook_port) as hooked,
            aiohttp.ClientSession() as session,
            HubProcess(cfg, log) as hub,
        ):
            await hub.wait_healthy_async(port)
            for seq in range(1, 21):
                assert (await push(session, url, seq))[0] == 204
                accepted.append(seq)

            # the disk fills up: a 503 that says nothing was kept, per output an error
            ballast = fill(data)
            refused, text = await push_until_refused(session, url, 21, accepted)
            assert "nothing of this was kept, send it again" in text
            async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                status = json.loads(await resp.text())
            assert status["state"] == "running"  # no crash
            errors = {sid: s["queue_error"] for sid, s in status["sinks"].items()}
            for sid, kind in (("db", "sqlite"), ("archive", "jsonl"), ("hook", "http")):
                assert errors[sid] is not None and errors[sid].startswith(
                    f"output {kind}[{sid}]: durable queue {data}/queues/{kind}-{sid}.sqlite"
                ), errors
            # room again: the refused push, sent again, is taken (after the retry pause)
            ballast.unlink()
            await retry_until_taken(session, url, refused)
            accepted.append(refused)

            # a replay of a taken message is a duplicate, not a new event
            assert (await push(session, url, 1))[0] == 204
            deadline = time.monotonic() + 20
            while len(set(hooked)) < len(accepted) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            code = await hub.stop_async()
        text = log.read_text()
        assert code == 0, text
        assert "cannot write (database or disk is full): the file system is full" in text
    with sqlite3.connect(out / "events.sqlite") as db:
        stored = [r[0] for r in db.execute("SELECT event_id FROM events")]
    archived = [json.loads(ln)["event_id"] for ln in (out / "events.jsonl").read_text().split()]
    # every accepted message is in every output exactly once; nothing refused slipped in twice
    assert len(set(stored)) == len(accepted) == len(stored)
    assert Counter(archived) == Counter(set(stored))
    assert Counter(hooked) == Counter(set(stored))
