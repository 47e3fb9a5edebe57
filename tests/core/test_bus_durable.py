"""The durable queue per output (issue 10 item 1): real files, real subprocesses, real kills."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.core.bus.durable import DurableQueue, DurableQueueSettings, queue_path
from hub.core.bus.durable_store import ROW_OVERHEAD, event_budget
from hub.errors import QueueUnavailable, SinkError
from hub.events import Event, Occupancy, Provenance

REPO = Path(__file__).resolve().parents[2]


def ev(i: int, pad: int = 0) -> Event:
    return Event.create(
        source="gate-a",
        kind="test",
        measurement=Occupancy(count=i),
        provenance=Provenance(plugin="test", plugin_version="1"),
        key=i,
        zone="boulevard",
        observed_at=datetime(2026, 1, 1, tzinfo=UTC),
        received_at=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
        sequence=i,
        extras={"test": {"pad": "x" * pad}} if pad else {},
    )


def seqs(events: list[Event]) -> list[int | None]:
    return [e.sequence for e in events]


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def drain(q: DurableQueue, batch: int = 50) -> list[Event]:
    out: list[Event] = []
    while len(q):
        got = q.peek_batch(batch)
        out.extend(got)
        q.ack(len(got))
    return out


async def test_fifo_peek_ack_and_restart_redelivers_in_order(tmp_path: Path) -> None:
    path = queue_path(tmp_path, "sqlite", "store")
    q = DurableQueue(path, output="sqlite[store]")
    assert q.durable is True
    for i in range(10):
        assert q.put_nowait(ev(i)) is True
    assert (
        q.kept() is not None
    )  # deferred acknowledgements (MQTT): the output may take them before the commit
    assert len(q) == 10
    assert seqs(q.peek_batch(3)) == [0, 1, 2]
    assert seqs(q.peek_batch(3)) == [0, 1, 2]  # peeking removes nothing
    await q.flush()
    q.ack(4)  # more than peeked: the oldest 4 go
    assert len(q) == 6
    assert seqs(q.peek_batch(100)) == [4, 5, 6, 7, 8, 9]
    q.ack(2)
    q.close()

    again = DurableQueue(path, output="sqlite[store]")
    got = again.peek_batch(100)
    assert seqs(got) == [6, 7, 8, 9]
    assert got == [ev(i) for i in range(6, 10)]  # same JSON, same event_id
    assert [e.event_id for e in got] == [ev(i).event_id for i in range(6, 10)]
    again.close()


async def test_backlog_beyond_the_memory_window_is_read_back_in_order(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q.sqlite", output="http[push]", window=8)
    for i in range(50):
        q.put_nowait(ev(i))
    q.kept()  # deferred acknowledgements (MQTT): the output may take them before the commit
    # not yet committed: read back from the pending transaction
    assert seqs(q.peek_batch(20)) == list(range(20))
    await q.flush()
    for i in range(50, 130):
        q.put_nowait(ev(i))
    await q.flush()
    assert seqs(drain(q, 17)) == list(range(130))
    q.close()


async def test_restart_with_a_backlog_larger_than_the_window(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q.sqlite", output="http[push]", window=4)
    for i in range(40):
        q.put_nowait(ev(i))
    await q.flush()
    q.close()
    again = DurableQueue(tmp_path / "q.sqlite", output="http[push]", window=4)
    assert len(again) == 40
    assert seqs(drain(again, 7)) == list(range(40))
    again.close()


async def test_a_second_hub_cannot_open_the_same_queue(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path / "q.sqlite", output="sqlite[a]")
    with pytest.raises(QueueUnavailable, match=r"sqlite\[b\].*in use by another process"):
        DurableQueue(tmp_path / "q.sqlite", output="sqlite[b]")
    q.close()


async def test_byte_bound_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    settings = DurableQueueSettings(max_bytes=256 * 1024)
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="webhook[cc]", settings=settings)
    size = len(ev(0, pad=2000).model_dump_json())
    for i in range(100):
        assert q.put_nowait(ev(i, pad=2000))
    q.kept()  # deferred acknowledgements (MQTT): the output may take them before the commit
    # the bound is on the files: the WAL's allowance and the row overhead come off the top
    budget = event_budget(256 * 1024)
    assert budget == int((256 - 64) * 1024 / ROW_OVERHEAD)
    assert q.bytes <= budget
    kept = len(q)
    assert kept == budget // size
    assert q.dropped["overflow"] == 100 - kept
    assert seqs(q.peek_batch(1000)) == list(range(100 - kept, 100))  # the newest survive
    await q.flush()
    q.close()
    again = DurableQueue(path, output="webhook[cc]", settings=settings)
    assert seqs(drain(again)) == list(range(100 - kept, 100))
    again.close()


async def test_a_drop_during_delivery_does_not_ack_undelivered_events(tmp_path: Path) -> None:
    q = DurableQueue(
        tmp_path / "q.sqlite", output="webhook[cc]", settings=DurableQueueSettings(max_bytes=65536)
    )
    per = event_budget(65536) // len(ev(0, pad=2000).model_dump_json())
    for i in range(per):
        q.put_nowait(ev(i, pad=2000))
    q.kept()  # deferred acknowledgements (MQTT): the output may take them before the commit
    batch = q.peek_batch(5)  # the sink is writing events 0..4
    for i in range(per, per + 3):  # meanwhile three new ones push 0..2 out
        q.put_nowait(ev(i, pad=2000))
    assert q.dropped["overflow"] == 3
    q.ack(len(batch))  # the sink acknowledges its 5: only 3 and 4 remain to remove
    assert seqs(q.peek_batch(1)) == [5]
    await q.flush()
    q.close()


async def test_age_bound_drops_expired_events_and_survives_restart(tmp_path: Path) -> None:
    clock = FakeTime()
    settings = DurableQueueSettings(max_age_s=60)
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="mqtt[up]", settings=settings, clock=clock)
    for i in range(3):
        q.put_nowait(ev(i))
    clock.now += 50
    for i in range(3, 5):
        q.put_nowait(ev(i))
    clock.now += 20  # the first three are 70 s old
    q.kept()  # deferred acknowledgements (MQTT): the output may take them before the commit
    assert seqs(q.peek_batch(10)) == [3, 4]
    assert q.dropped["expired"] == 3
    assert len(q) == 2
    await q.flush()
    q.close()
    clock.now += 45  # 65 s for the other two, counted across the restart
    again = DurableQueue(path, output="mqtt[up]", settings=settings, clock=clock)
    assert len(again) == 2
    assert again.peek_batch(10) == []
    assert again.dropped["expired"] == 2
    again.close()


async def test_block_policy_refuses_without_dropping_and_put_waits_for_room(
    tmp_path: Path,
) -> None:
    settings = DurableQueueSettings(max_bytes=64 * 1024, overflow="block")
    q = DurableQueue(tmp_path / "q.sqlite", output="webhook[cc]", settings=settings)
    n = 0
    while q.put_nowait(ev(n, pad=2000)):
        n += 1
    assert n == event_budget(64 * 1024) // len(ev(0, pad=2000).model_dump_json())
    assert len(q) == n
    assert not q.dropped
    waiter = asyncio.create_task(q.put(ev(n, pad=2000)))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    q.ack(len(q.peek_batch(2)))
    await asyncio.wait_for(waiter, 5)
    assert len(q) == n - 1
    assert seqs(q.peek_batch(1000))[-1] == n
    await q.flush()
    q.close()


@pytest.mark.parametrize(
    ("synchronous", "interval"), [("normal", 0.0), ("full", 0.0), ("normal", 0.05)]
)
async def test_close_writes_what_is_pending_or_in_flight(
    tmp_path: Path, synchronous: str, interval: float
) -> None:
    settings = DurableQueueSettings(synchronous=synchronous, commit_interval_s=interval)
    q = DurableQueue(tmp_path / "q.sqlite", output="sqlite[store]", settings=settings)
    for i in range(300):
        q.put_nowait(ev(i))
        q.kept()  # deferred acknowledgements (MQTT): the output may take them before the commit
        if i % 100 == 0:
            await asyncio.sleep(0)  # a commit starts (in the worker thread for "full")
    q.ack(len(q.peek_batch(7)))
    waiter = asyncio.create_task(q.flush())
    await asyncio.sleep(0)
    q.close()  # no flush: close writes the rest and the acks
    await asyncio.wait_for(waiter, 5)  # a flush waiting on close's write returns
    again = DurableQueue(tmp_path / "q.sqlite", output="sqlite[store]")
    assert seqs(drain(again, 100)) == list(range(7, 300))
    again.close()


# -- a killed process --------------------------------------------------------------------

KILL_CHILD = """
import asyncio, random, sys
from datetime import UTC, datetime
from hub.core.bus.durable import DurableQueue, DurableQueueSettings
from hub.events import Event, Occupancy, Provenance

def ev(i):
    return Event.create(source="gate-a", kind="test", measurement=Occupancy(count=i),
        provenance=Provenance(plugin="test", plugin_version="1"), key=i, zone="boulevard",
        observed_at=datetime(2026, 1, 1, tzinfo=UTC),
        received_at=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), sequence=i)

async def main():
    q = DurableQueue(sys.argv[1], output="sqlite[store]",
                     settings=DurableQueueSettings(synchronous=sys.argv[2]), window=64)
    i = 0
    while True:
        for _ in range(random.randint(1, 40)):
            q.put_nowait(ev(i)); i += 1
        if random.random() < 0.7:
            await q.flush()
            print("durable", i, flush=True)
        batch = q.peek_batch(random.randint(0, 45))
        if batch:
            print("acking", batch[-1].sequence + 1, flush=True)
            q.ack(len(batch))
        await asyncio.sleep(0)

asyncio.run(main())
"""


@pytest.mark.parametrize("synchronous", ["normal", "normal", "normal", "full"])
def test_sigkill_under_load_loses_nothing_reported_durable(
    tmp_path: Path, synchronous: str
) -> None:
    """A real child puts, flushes and acks under load; SIGKILL at a random moment."""
    path = tmp_path / "q.sqlite"
    script = tmp_path / "child.py"
    script.write_text(KILL_CHILD)
    target = random.randint(2_000, 12_000)
    reported = {"durable": 0, "acking": 0}  # "acking" is printed before ack(): an upper bound

    def note(line: str) -> None:
        word, _, num = line.strip().partition(" ")
        if word in reported and num.isdigit():
            reported[word] = max(reported[word], int(num))

    with subprocess.Popen(
        [sys.executable, str(script), str(path), synchronous], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            note(line)
            if reported["durable"] >= target:
                break
        child.send_signal(signal.SIGKILL)
        for line in child.stdout:  # what it printed before it died (same buffered reader)
            note(line)
        assert child.wait(timeout=30) == -signal.SIGKILL
    durable, acked = reported["durable"], reported["acking"]
    assert durable >= target

    q = DurableQueue(path, output="sqlite[store]")
    got = drain(q, 500)
    q.close()
    nums = seqs(got)
    if nums:
        first = nums[0]
        assert first is not None
        assert nums == list(range(first, first + len(nums))), "gaps or disorder"
        assert got == [ev(i) for i in range(first, first + len(nums))]
    # every event reported durable and not (possibly) acknowledged is there, once
    assert set(range(acked, durable)) <= set(nums)


# -- storage failures ----------------------------------------------------------------------

CHILD_PRELUDE = """
import asyncio, json, sys
from datetime import UTC, datetime
from pathlib import Path
from hub.core.bus.durable import DurableQueue, DurableQueueSettings
from hub.errors import QueueUnavailable
from hub.events import Event, Occupancy, Provenance

def ev(i):
    return Event.create(source="gate-a", kind="test", measurement=Occupancy(count=i),
        provenance=Provenance(plugin="test", plugin_version="1"), key=i, zone="boulevard",
        observed_at=datetime(2026, 1, 1, tzinfo=UTC),
        received_at=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), sequence=i,
        extras={"test": {"pad": "x" * 500}})
"""

READONLY_CHILD = """
def main():
    out = {}
    for name in ("fresh", "existing"):
        try:
            DurableQueue(Path(sys.argv[1]) / name / "q.sqlite", output=f"webhook[{name}]")
            out[name] = "opened"
        except QueueUnavailable as err:
            out[name] = [str(err), err.output, err.path]
    print(json.dumps(out))

main()
"""


def _run_read_only(data_dir: Path, script: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script data_dir`` with ``data_dir`` read-only.

    Root ignores file modes, so as root the directory is bind-mounted read-only in a
    private mount namespace of the child (``unshare``); otherwise ``chmod`` does it.
    """
    args = [sys.executable, str(script), str(data_dir)]
    if os.geteuid() != 0:
        data_dir.chmod(0o555)
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=60)
        finally:
            data_dir.chmod(0o755)
    remount = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", remount, str(data_dir)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)


async def test_read_only_data_dir_is_a_clear_error_per_output(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "fresh").mkdir(parents=True)
    existing = DurableQueue(data / "existing" / "q.sqlite", output="webhook[existing]")
    existing.put_nowait(ev(1))
    await existing.flush()
    existing.close()
    script = tmp_path / "child.py"
    script.write_text(CHILD_PRELUDE + READONLY_CHILD)
    done = _run_read_only(data, script)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for name in ("fresh", "existing"):
        message, output, path = out[name]
        assert output == f"webhook[{name}]"
        assert path == str(data / name / "q.sqlite")
        assert message.startswith(f"output webhook[{name}]: durable queue {path}: cannot open it")
    # nothing was lost from the existing queue
    again = DurableQueue(data / "existing" / "q.sqlite", output="webhook[existing]")
    assert seqs(again.peek_batch(10)) == [1]
    again.close()


DISK_FULL_CHILD = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
LIMIT = 256 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))

async def main():
    data = Path(sys.argv[1])
    full = DurableQueue(data / "full" / "q.sqlite", output="webhook[full]", retry_s=0.2)
    other = DurableQueue(data / "other" / "q.sqlite", output="sqlite[other]")
    out = {"durable": 0}
    i = 0
    while "error" not in out and i < 100_000:
        for _ in range(25):
            full.put_nowait(ev(i)); i += 1
        try:
            await full.flush()
            out["durable"] = i
        except QueueUnavailable as err:
            out["error"] = [str(err), err.output, err.path]
    out["len_after"] = len(full)
    out["dropped"] = dict(full.dropped)
    try:
        full.put_nowait(ev(i))
        out["put_after"] = "accepted"
    except QueueUnavailable as err:
        out["put_after"] = str(err)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)  # space freed
    await asyncio.sleep(0.3)  # past retry_s
    full.put_nowait(ev(i))
    await full.flush()
    out["recovered"] = len(full)
    for j in range(10):
        other.put_nowait(ev(j))
    await other.flush()
    out["other"] = [e.sequence for e in other.peek_batch(100)]
    full.close(); other.close()
    print(json.dumps(out))

asyncio.run(main())
"""


def test_disk_full_reports_only_what_was_written(tmp_path: Path) -> None:
    """A file-size limit (RLIMIT_FSIZE) in a real child process stands in for a full disk."""
    script = tmp_path / "child.py"
    script.write_text(CHILD_PRELUDE + DISK_FULL_CHILD)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    message, output, path = out["error"]
    assert output == "webhook[full]"
    assert path == str(tmp_path / "full" / "q.sqlite")
    assert message.startswith(f"output webhook[full]: durable queue {path}: cannot write (")
    assert message.endswith(": the hub's file-size limit (ulimit -f) was reached: raise it")
    durable = out["durable"]
    assert durable > 0
    assert out["len_after"] == durable  # the failed batch is not counted as queued
    assert out["dropped"] == {"unwritten": 25}
    assert out["put_after"] == message  # refused at once while failing
    assert out["recovered"] == durable + 1  # writes again once there is room
    assert out["other"] == list(range(10))  # the other output's queue is unaffected
    again = DurableQueue(tmp_path / "full" / "q.sqlite", output="webhook[full]")
    # all that was reported durable, nothing that was not, then the one after recovery
    assert seqs(drain(again, 500)) == [*range(durable), durable + 25]
    again.close()


def _delete(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


async def test_deleted_file_is_noticed_recreated_and_named(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="sqlite[store]")
    other = DurableQueue(tmp_path / "other.sqlite", output="mqtt[up]")
    for i in range(10):
        q.put_nowait(ev(i))
        other.put_nowait(ev(i))
    await q.flush()
    _delete(path)
    q.put_nowait(ev(10))
    with pytest.raises(QueueUnavailable) as caught:
        await q.flush()
    err = caught.value
    assert isinstance(err, SinkError)
    assert (err.output, err.path) == ("sqlite[store]", str(path))
    assert str(err).startswith(f"output sqlite[store]: durable queue {path} was deleted")
    assert q.last_error == str(err)
    # everything was still in memory: rewritten into a new file, nothing lost
    assert path.exists()
    assert q.dropped["file_lost"] == 0
    assert seqs(q.peek_batch(100)) == list(range(11))
    q.put_nowait(ev(11))
    await q.flush()  # works again
    await other.flush()  # the other output never noticed
    assert seqs(other.peek_batch(100)) == list(range(10))
    q.close()
    other.close()
    again = DurableQueue(path, output="sqlite[store]")
    assert seqs(drain(again)) == list(range(12))
    again.close()


async def test_deleted_file_with_a_backlog_on_disk_counts_what_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="sqlite[store]", window=4)
    for i in range(20):
        q.put_nowait(ev(i))
    await q.flush()
    batch = q.peek_batch(2)  # a sink is writing 0 and 1
    _delete(path)
    q.put_nowait(ev(20))
    with pytest.raises(QueueUnavailable, match="was deleted or replaced"):
        await q.flush()
    assert q.dropped["file_lost"] == 16  # 4..19 were only on disk
    q.ack(len(batch))  # the sink's ack still removes exactly 0 and 1
    assert seqs(drain(q)) == [2, 3, 20]
    q.close()


def files_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


async def test_disk_use_stays_within_max_bytes_and_shrinks_once_drained(tmp_path: Path) -> None:
    """The bound is on the files: the WAL is truncated past its allowance (a PASSIVE
    checkpoint never catches up with a steady writer) and a drained backlog gives
    its pages back."""
    max_bytes = 8 * 2**20
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="webhook[cc]", settings=DurableQueueSettings(max_bytes=max_bytes))
    peak = 0
    for i in range(40_000):  # ~18 MB of event JSON into an 8 MiB bound
        q.put_nowait(ev(i))
        if i % 500 == 499:
            await q.flush()
            await asyncio.sleep(0)  # a compaction in the worker may finish
            peak = max(peak, files_bytes(path))
    assert q.dropped["overflow"] > 15_000
    assert peak <= max_bytes * 1.05, peak
    assert q.disk_bytes == files_bytes(path)
    assert seqs(drain(q, batch=1000))[-1] == 39_999  # the newest kept
    deadline = asyncio.get_running_loop().time() + 10
    while files_bytes(path) > 2**20:  # the deletes are written within 1 s, then compacted
        assert asyncio.get_running_loop().time() < deadline, files_bytes(path)
        await asyncio.sleep(0.1)
    q.close()
    again = DurableQueue(path, output="webhook[cc]")
    assert len(again) == 0
    again.close()
