"""Storage failing under a running hub (issue 10): `hub run` as a subprocess, real peers.

The hub takes crowd-counter readings over MQTT (QoS 1, through a private Mosquitto,
published by an independent paho client) and HTTP pushes (to its real aiohttp
server) and feeds a sqlite output and a webhook (a real aiohttp receiver). While it
runs, the storage under it fails and comes back:

* the data dir, where the durable queues live, becomes read-only, or fills up;
* the sqlite output's file is deleted, or its directory becomes read-only.

The failing storage is a real file system, no mock: a small tmpfs mounted for the
test and remounted read-only (``mount -o remount,ro``) and back, or filled with a
ballast file. Root ignores file modes (``chmod`` does not stop root's writes, and
the tests and CI run as root), so a mount is the one real switch; mounting needs
root with ``CAP_SYS_ADMIN``, which the test container has (the test says so and
stops when it has not). ``test_file_size_limit_*`` needs no mount: a file-size limit
(``RLIMIT_FSIZE``, set on the running hub with ``prlimit``) makes every write past
it fail in the kernel, as a full disk does.

What must hold: one precise error line per affected output (which output, which
path, what is wrong, what to do); ``/healthz``, ``/metrics`` and ``hub status`` show
it; while nothing can be kept a push is answered ``503`` and MQTT messages are not
acknowledged (the broker keeps them); nothing crashes, other outputs go on; once
the storage is back delivery resumes and every reading acknowledged upstream is
in sqlite exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.testing import HubProcess
from tests.test_durable_mqtt import Publisher, broker, event_id, receiver

pytestmark = pytest.mark.mosquitto

CONFIG = """
[hub]
data_dir = "{data}"
shutdown_timeout_s = 5
status_interval_s = 0.2

[site]
id = "s"

[[site.zones]]
id = "hall"
area_m2 = 100

[zones]
enabled = false             # the sources' events only

[[transports.mqtt]]
id = "default"
host = "127.0.0.1"
port = {mqtt_port}
client_id = "hub-under-test"

[[transports.http]]
port = {http_port}

[[sources.generic_json]]
id = "counters"
broker = "default"
topics = ["sensors/+/raw"]
qos = 1
measurement = "occupancy"
zone_expr = "zone"
count = "count"
sequence = "seq"

[[sources.generic_json]]
id = "push"
transport = "http"
measurement = "occupancy"
zone_expr = "zone"
count = "count"
sequence = "seq"
rate_per_s = 100000
auth = {{ scheme = "bearer", token = "t0ken" }}

[[sinks.sqlite]]
id = "db"
path = "{out}/events.sqlite"
retry_initial_s = 0.1
retry_max_s = 0.5
{sink_extra}
{db_extra}

[[sinks.http]]
id = "hook"
url = "http://127.0.0.1:{hook_port}/hook"
view = "internal"
retry_initial_s = 0.1
retry_max_s = 0.5
batch_size = 500
{sink_extra}
"""

RATE = 100  # MQTT readings per second


def _run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False)


@cache
def cannot_mount(kind: str) -> str:
    """Empty when this process can mount a ``kind`` ("tmpfs" or "ext4" on a loop device)
    file system, else why not."""
    if os.geteuid() != 0:
        return "not root"
    with tempfile.TemporaryDirectory() as probe:
        target = Path(probe) / "mnt"
        target.mkdir()
        if kind == "tmpfs":
            done = _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", target)
        else:
            image = Path(probe) / "probe.img"
            with image.open("wb") as f:
                f.truncate(2 << 20)
            made = _run("mkfs.ext4", "-q", "-O", "^has_journal", image)
            if made.returncode != 0:
                return f"mkfs.ext4: {made.stderr.strip()}"
            done = _run("mount", "-o", "loop", image, target)
        if done.returncode != 0:
            return done.stderr.strip() or f"mount exited {done.returncode}"
        _run("umount", target)
    return ""


def needs_mount(kind: str) -> pytest.MarkDecorator:
    why = cannot_mount(kind)
    return pytest.mark.skipif(
        bool(why),
        reason=f"mounts a {kind} file system (needs root with CAP_SYS_ADMIN, as the test "
        f"container and CI have): {why}",
    )


class Tmpfs:
    """A small tmpfs at ``path`` that :meth:`fill` fills up and :meth:`free` frees."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)
        self.ballast = path / "ballast"

    def fill(self) -> None:
        """Write a ballast file until the file system is full."""
        with contextlib.suppress(OSError), self.ballast.open("wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 65536)

    def free(self) -> None:
        self.ballast.unlink()

    def close(self) -> None:
        _run("umount", "-l", self.path)


class Ext4:
    """An ext4 file system in an image file, loop-mounted at ``path`` with
    ``errors=remount-ro``: :meth:`fail` makes the kernel take its error path (as on a
    failing disk), which turns the mounted file system read-only for every open file.

    A plain ``mount -o remount,ro`` is refused while a program has files open for
    writing ("mount point is busy"), so a disk error is the one way a running hub
    sees its storage turn read-only. The kernel then drops the data not yet on the
    disk (as a power loss would) and only a new mount, after ``e2fsck``, is writable:
    :meth:`repair` (the hub is stopped first, as an operator would).
    """

    def __init__(self, path: Path, size_mb: int = 64) -> None:
        self.path = path
        self.image = path.with_name(path.name + ".img")
        with self.image.open("wb") as f:
            f.truncate(size_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-O", "^has_journal", self.image], check=True)
        path.mkdir(parents=True, exist_ok=True)
        self._mount()

    def _mount(self) -> None:
        subprocess.run(["mount", "-o", "loop,errors=remount-ro", self.image, self.path], check=True)
        device = _run("findmnt", "-n", "-o", "SOURCE", self.path).stdout.strip()
        self.trigger = Path("/sys/fs/ext4") / Path(device).name / "trigger_fs_error"

    def fail(self) -> None:
        self.trigger.write_text("storage failure test")

    def repair(self) -> None:
        subprocess.run(["umount", self.path], check=True)
        # a copy: a mount namespace made meanwhile (another test's `unshare`) may keep the
        # failed file system alive, and mounting the same image would get it back
        copy = self.image.with_name(self.image.name + ".fixed")
        shutil.copyfile(self.image, copy)
        self.image.unlink()
        copy.rename(self.image)
        _run("e2fsck", "-fy", self.image)  # exit 1: errors were corrected
        self._mount()

    def close(self) -> None:
        _run("umount", "-l", self.path)


@contextlib.contextmanager
def mounted(fs: Tmpfs | Ext4) -> Iterator[Any]:
    try:
        yield fs
    finally:
        fs.close()


class Hub:
    """`hub run` as a subprocess, with its HTTP server, its log and its outputs' files."""

    def __init__(
        self, tmp: Path, data: Path, out: Path, mqtt_port: int, hook_port: int, **extra: str
    ) -> None:
        self.data, self.out = data, out
        self.http_port = _free_port()
        self.config = tmp / "hub.toml"
        self.config.write_text(
            CONFIG.format(
                data=data,
                out=out,
                mqtt_port=mqtt_port,
                http_port=self.http_port,
                hook_port=hook_port,
                sink_extra=extra.get("sink_extra", ""),
                db_extra=extra.get("db_extra", ""),
            )
        )
        self.log = tmp / "hub.log"
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.db = out / "events.sqlite"
        self.proc: HubProcess | None = None
        self.session: aiohttp.ClientSession | None = None
        self.accepted: list[int] = []  # push seqs answered 2xx
        self.next_seq = 1

    async def start(self) -> None:
        self.session = self.session or aiohttp.ClientSession()
        self.proc = HubProcess(self.config, self.log).start()
        await self.proc.wait_healthy_async(self.http_port)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    async def push(self, seq: int) -> tuple[int, str]:
        assert self.session is not None
        body = {"seq": seq, "zone": "hall", "count": seq % 50}
        url = f"{self.base}/ingest/push"
        headers = {"Authorization": "Bearer t0ken"}
        async with self.session.post(url, json=body, headers=headers) as resp:
            status, text = resp.status, await resp.text()
        if 200 <= status < 300:
            self.accepted.append(seq)
        return status, text

    async def push_next(self) -> tuple[int, str]:
        status, text = await self.push(self.next_seq)
        if status < 300:
            self.next_seq += 1
        return status, text

    async def healthz(self) -> dict[str, Any]:
        """The status snapshot /healthz answers, with its HTTP status as ``http``."""
        assert self.session is not None
        async with self.session.get(f"{self.base}/healthz") as resp:
            return {**json.loads(await resp.text()), "http": resp.status}

    async def metrics(self) -> str:
        assert self.session is not None
        async with self.session.get(f"{self.base}/metrics") as resp:
            return await resp.text()

    def status_cli(self) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "hub", "status", str(self.config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout + done.stderr

    def stored(self, source: str) -> list[int]:
        """Sequence numbers of ``source`` in the sqlite output (one per row)."""
        if not self.db.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as db:
            try:
                rows = db.execute(
                    "SELECT json_extract(event, '$.sequence') FROM events WHERE source = ?",
                    (source,),
                )
                return [int(r[0]) for r in rows]
            except sqlite3.OperationalError:  # being created
                return []

    async def stop(self) -> int:
        assert self.proc is not None
        code = await self.proc.stop_async()
        if self.session is not None:
            await self.session.close()
            self.session = None
        return code


def _free_port() -> int:
    from hub.testing.mosquitto import free_port

    return free_port()


async def until(check: Any, timeout_s: float, what: str, hub: Hub) -> Any:
    """Poll ``check()`` (sync or async) until truthy; fail with the hub's log."""
    assert hub.proc is not None
    return await hub.proc.wait_until_async(check, timeout_s, what)


@contextlib.asynccontextmanager
async def running(
    tmp: Path, data: Path, out: Path, **extra: str
) -> AsyncIterator[tuple[Hub, Publisher, list[str]]]:
    """Broker, receiver and hub up; a publisher sending readings at ``RATE`` msg/s."""
    hook_port = _free_port()
    with broker(tmp / "broker") as b:
        async with receiver(hook_port) as hooked:
            hub = Hub(tmp, data, out, b.port, hook_port, **extra)
            await hub.start()
            pub = Publisher(b.port, rate=RATE)
            try:
                await asyncio.to_thread(pub.warm_up, hub.db)
                pub.start()
                yield hub, pub, hooked
            finally:
                pub.stop.set()
                if hub.alive():
                    await hub.stop()


def queue_lines(log: str, output: str) -> list[str]:
    """Log lines that say ``output``'s durable queue cannot write (an ERROR when events
    were refused, a WARNING when the first failed write held acknowledgements only)."""
    return [
        line
        for line in log.splitlines()
        if f" hub.bus: output {output}: durable queue " in line and ": cannot write (" in line
    ]


async def finish_exactly_once(hub: Hub, pub: Publisher, hooked: list[str]) -> None:
    """Stop publishing; every reading the broker took and every push answered 2xx reach
    sqlite exactly once and the webhook at least once."""
    sent = await asyncio.to_thread(pub.finish)
    want = set(range(sent))
    await until(lambda: set(hub.stored("counters")) >= want, 60, "every reading in sqlite", hub)
    await until(
        lambda: set(hub.stored("push")) >= set(hub.accepted), 30, "every push in sqlite", hub
    )
    ids = {event_id(i) for i in want}
    await until(lambda: set(hooked) >= ids, 60, "every reading at the webhook", hub)
    assert await hub.stop() == 0, hub.log_text()
    counters, pushes = hub.stored("counters"), hub.stored("push")
    assert Counter(counters) == Counter(want), "sqlite: each reading exactly once"
    assert sorted(pushes) == sorted(set(hub.accepted)), "sqlite: each taken push exactly once"


# -- the data dir (the durable queues) -------------------------------------------------------

QUEUED = ("sqlite", "db"), ("http", "hook")


async def assert_nothing_kept(
    hub: Hub, data: Path, what: str, todo: str, *, status_file: bool = True
) -> None:
    """Each output's queue says what is wrong and what to do (/healthz, /metrics,
    `hub status`, one log line each); a push is refused; no reading is taken.
    ``status_file``: status.json cannot be written either (`hub status` asks /healthz)."""

    async def errors() -> dict[str, str] | None:
        found = {sid: s["queue_error"] for sid, s in (await hub.healthz())["sinks"].items()}
        return found if all(found.values()) else None

    found = await until(errors, 20, "a queue error per output", hub)
    for kind, sid in QUEUED:
        path = data / "queues" / f"{kind}-{sid}.sqlite"
        assert found[sid].startswith(f"output {kind}[{sid}]: durable queue {path}: "), found
        assert what in found[sid] and todo in found[sid], found
    _, text = await until(lambda: _refused(hub), 20, "a push answered 503", hub)
    assert "nothing of this was kept, send it again" in text
    # readings are not acknowledged to the broker: none is stored meanwhile
    await asyncio.sleep(1.5)
    before = len(hub.stored("counters"))
    await asyncio.sleep(2.0)
    assert len(hub.stored("counters")) == before
    health = await hub.healthz()
    assert hub.alive() and health["state"] == "running"
    assert health["http"] == 503  # unhealthy: it takes no data
    # the reading being handled waits unacknowledged (the broker keeps the rest)
    assert health["transports"]["mqtt[default]"]["unacknowledged"] >= 1, health["transports"]
    metrics = await hub.metrics()
    for kind, sid in QUEUED:
        assert f'crowdhub_sink_queue_writable{{kind="{kind}",sink="{sid}"}} 0.0' in metrics
    if status_file:
        await asyncio.sleep(1.5)  # the file's heartbeat is late
    cli = hub.status_cli()
    assert ("live from http://127.0.0.1:" in cli) is status_file, cli
    assert f"queue error: output sqlite[db]: durable queue {data}" in cli, cli
    log = hub.log_text()
    for kind, sid in QUEUED:  # one error line per output, not one per try
        assert len(queue_lines(log, f"{kind}[{sid}]")) == 1, log
    assert (f"cannot write {data / 'status.json'}" in log) is status_file


@needs_mount("tmpfs")
async def test_data_dir_full_mid_run_refuses_then_resumes_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with mounted(Tmpfs(tmp_path / "data", "8m")) as data:
        async with running(tmp_path, data.path, out) as (hub, pub, hooked):
            for _ in range(10):
                assert (await hub.push_next())[0] == 204
            await until(lambda: len(hub.stored("counters")) > 50, 20, "readings stored", hub)
            data.fill()
            await assert_nothing_kept(hub, data.path, "the file system is full", "free space")
            before = len(hub.stored("counters"))
            data.free()  # delivery resumes in the running hub
            await until(lambda: _taken(hub), 30, "a push taken again", hub)
            await until(
                lambda: len(hub.stored("counters")) > before + 50, 30, "readings again", hub
            )
            metrics = await hub.metrics()
            assert 'crowdhub_sink_queue_writable{kind="sqlite",sink="db"} 1.0' in metrics
            assert (await hub.healthz())["http"] == 200
            await finish_exactly_once(hub, pub, hooked)
        log = hub.log_text()
        for kind, sid in QUEUED:
            assert f"{kind}[{sid}]: durable queue is writable again" in log, log


async def test_file_size_limit_mid_run_refuses_then_resumes_exactly_once(tmp_path: Path) -> None:
    """No mount needed: a file-size limit (``RLIMIT_FSIZE``, set on the running hub with
    ``prlimit``) makes the kernel refuse every write past it (``EFBIG``), as a full
    disk refuses any; lifting it is the space coming back."""
    out = tmp_path / "out"
    out.mkdir()
    data = tmp_path / "data"
    async with running(tmp_path, data, out) as (hub, pub, hooked):
        assert hub.proc is not None
        for _ in range(10):
            assert (await hub.push_next())[0] == 204
        await until(lambda: len(hub.stored("counters")) > 50, 20, "readings stored", hub)
        # smaller than every queue file with its write-ahead log, larger than status.json
        resource.prlimit(hub.proc.pid, resource.RLIMIT_FSIZE, (16384, resource.RLIM_INFINITY))
        todo = "raise it"
        await assert_nothing_kept(hub, data, "file-size limit", todo, status_file=False)
        before = len(hub.stored("counters"))
        resource.prlimit(hub.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        await until(lambda: _taken(hub), 30, "a push taken again", hub)
        await until(lambda: len(hub.stored("counters")) > before + 50, 30, "readings again", hub)
        await finish_exactly_once(hub, pub, hooked)


@needs_mount("ext4")
async def test_data_dir_read_only_mid_run_refuses_until_repaired(tmp_path: Path) -> None:
    """The data dir's file system turns read-only under the hub (a disk error): no
    push is taken, no reading acknowledged; once it is repaired and the hub started
    again, every reading and push taken is stored exactly once. The queues write with
    ``queue_synchronous = "full"``: the kernel drops what is not yet on the disk."""
    out = tmp_path / "out"
    out.mkdir()
    extra = 'queue_synchronous = "full"'
    with mounted(Ext4(tmp_path / "data")) as data:
        async with running(tmp_path, data.path, out, sink_extra=extra) as (hub, pub, hooked):
            for _ in range(10):
                assert (await hub.push_next())[0] == 204
            await until(lambda: len(hub.stored("counters")) > 50, 20, "readings stored", hub)
            data.fail()
            await assert_nothing_kept(hub, data.path, "is read-only", "mount it writable again")
            code = await hub.stop()
            stopped = hub.log_text()
            data.repair()
            await hub.start()
            await finish_exactly_once(hub, pub, hooked)
        # nothing it took was lost: what it could not keep was refused or not acknowledged
        assert code == 0, stopped


async def _refused(hub: Hub) -> tuple[int, str] | None:
    status, text = await hub.push_next()
    return (status, text) if status == 503 else None


async def _taken(hub: Hub) -> bool:
    status, _ = await hub.push_next()
    return status < 300


# -- the sqlite output's own file ------------------------------------------------------------


async def test_sqlite_file_deleted_mid_run_is_said_and_stored_anew(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    async with running(tmp_path, tmp_path / "data", out) as (hub, pub, hooked):
        await until(lambda: len(hub.stored("counters")) > 50, 20, "readings stored", hub)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{hub.db}{suffix}").unlink(missing_ok=True)
        gone_at = pub.sent

        async def said() -> str | None:
            error = (await hub.healthz())["sinks"]["db"]["last_error"] or ""
            return error if "deleted or replaced" in error else None

        error = await until(said, 20, "the deletion in /healthz", hub)
        assert error.startswith(f"sqlite[db]: {hub.db} was deleted or replaced"), error
        cli = hub.status_cli()
        assert "deleted or replaced" in cli, cli
        sent = await asyncio.to_thread(pub.finish)
        after = set(range(gone_at + RATE, sent))  # from a second after the deletion on
        await until(lambda: set(hub.stored("counters")) >= after, 30, "the new file", hub)
        ids = {event_id(i) for i in range(sent)}
        await until(lambda: set(hooked) >= ids, 30, "the webhook, all along", hub)
        assert await hub.stop() == 0, hub.log_text()
        stored = hub.stored("counters")
        assert len(stored) == len(set(stored)), "each reading at most once in the new file"
    lines = [ln for ln in hub.log_text().splitlines() if "was deleted or replaced" in ln]
    assert len(lines) == 1, hub.log_text()
    assert "sinks.sqlite[db]" in lines[0] and str(hub.db) in lines[0]


@needs_mount("ext4")
async def test_sqlite_dir_read_only_mid_run_keeps_events_queued(tmp_path: Path) -> None:
    """The output's own directory (not the data dir) turns read-only (a disk error):
    the output retries and says so, its durable queue keeps everything (so pushes
    and readings are still taken), the webhook goes on. Repaired and the hub started
    again, every reading and push taken is stored exactly once. The sqlite output
    writes with ``synchronous = "FULL"``: the kernel drops what is not on the disk."""
    with mounted(Ext4(tmp_path / "out")) as out:
        data = tmp_path / "data"
        extra = 'synchronous = "FULL"'
        async with running(tmp_path, data, out.path, db_extra=extra) as (hub, pub, hooked):
            await until(lambda: len(hub.stored("counters")) > 50, 20, "readings stored", hub)
            out.fail()

            async def failing() -> dict[str, Any] | None:
                sink = (await hub.healthz())["sinks"]["db"]
                return sink if sink["state"] == "retrying" else None

            sink = await until(failing, 20, "the sqlite output retrying", hub)
            assert sink["last_error"].startswith(f"sqlite[db]: cannot write {hub.db} ("), sink
            assert "is read-only" in sink["last_error"], sink
            assert "mount it writable again" in sink["last_error"], sink
            assert sink["queue_error"] is None  # its queue is fine
            assert (await hub.healthz())["http"] == 200  # the hub takes data
            for _ in range(5):
                assert (await hub.push_next())[0] == 204  # kept in the queue: taken
            seen = len(hooked)
            await until(lambda: len(hooked) > seen + 100, 20, "the webhook going on", hub)
            metrics = await hub.metrics()
            assert 'crowdhub_sink_up{kind="sqlite",sink="db"} 0.0' in metrics
            assert 'crowdhub_sink_queue_writable{kind="sqlite",sink="db"} 1.0' in metrics
            cli = hub.status_cli()
            assert "output db" in cli and "retrying" in cli, cli
            queued = (await hub.healthz())["sinks"]["db"]["queued"]
            assert queued > 0
            assert await hub.stop() == 0, hub.log_text()  # what waits stays queued
            out.repair()
            await hub.start()
            await finish_exactly_once(hub, pub, hooked)
    log = hub.log_text()
    assert log.count("sinks.sqlite[db]: output unavailable") == 1, log
    assert "event(s) stay queued for the next start" in log, log
