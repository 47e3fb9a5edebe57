"""``jsonl`` output: append events as JSON lines to a file, rotated by size.

Rotation renames ``events.jsonl`` to ``events.jsonl.1`` (``.1`` → ``.2`` …) and
keeps ``keep`` old files. Writes happen in a worker thread, never on the loop.

Files changed by others are noticed on each batch (one ``stat`` and one
``fstat``): a file renamed away (``logrotate``, ``mv``) keeps what was written
to it and a new file is started at ``path``; a file *deleted* while the hub ran
raises :class:`~hub.errors.SinkUnavailable` naming it (so ``hub status``
shows it), a new file is started and a batch that went into the deleted file
is written again, never acknowledged.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import Field

import hub
from hub import Event, Sink, SinkConfig, SinkUnavailable, event_json
from hub.storage import diagnose


class JsonlConfig(SinkConfig):
    path: str = Field(
        default="events.jsonl", description="file to append to (relative to [hub] data_dir)"
    )
    max_bytes: int = Field(
        default=50_000_000, ge=1024, description="rotate when the file would exceed this"
    )
    keep: int = Field(default=5, ge=0, description="rotated files to keep")
    fsync: bool = Field(default=False, description="fsync after every batch (slower, safer)")


class JsonlSink(Sink[JsonlConfig]):
    kind = "jsonl"
    config_model = JsonlConfig
    description = "append JSON lines to a file, rotating by size"

    def __init__(self, config: JsonlConfig, ctx: hub.SinkContext) -> None:
        super().__init__(config, ctx)
        self.path = Path(ctx.data_dir) / config.path
        self._file: IO[str] | None = None
        self._size = 0
        self._file_id: tuple[int, int] | None = None
        self._name = f"jsonl[{ctx.instance}]"

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        st = os.fstat(self._file.fileno())
        self._file_id = (st.st_dev, st.st_ino)
        self._size = st.st_size

    def _lost(self, when: str) -> SinkUnavailable:
        """Forget the deleted file; the error that says so."""
        assert self._file is not None
        self._file.close()
        self._file = None
        return SinkUnavailable(
            f"{self._name}: {self.path} was deleted {when} (by another program?); the lines "
            "in it are gone with it. A new file is started and this batch written there. "
            "To rotate the file from outside, rename it instead: the hub then starts a new one"
        )

    def _check_file(self, when: str) -> None:
        """Follow a rename (new file at ``path``); raise when our file was deleted."""
        if self._file is None:
            return
        st = os.fstat(self._file.fileno())
        if st.st_nlink == 0:
            raise self._lost(when)
        try:
            here = os.stat(self.path)
        except FileNotFoundError:
            here = None
        if here is None or (here.st_dev, here.st_ino) != self._file_id:
            self.ctx.log.info("%s: %s was moved away; starting a new file", self._name, self.path)
            self._file.close()
            self._open()
        else:
            self._size = st.st_size  # truncated by someone (copytruncate): follow

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self._open)
        except OSError as err:
            raise SinkUnavailable(
                f"{self._name}: cannot open {self.path}: {err}; check that the data dir is writable"
            ) from err

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        keep = self.config.keep
        if keep == 0:
            self.path.unlink(missing_ok=True)
        else:
            for i in range(keep - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._open()

    def _write(self, lines: list[str]) -> None:
        self._check_file("while the hub ran")
        if self._file is None:
            self._open()
        for line in lines:
            n = len(line.encode())
            if self._size and self._size + n > self.config.max_bytes:
                self._rotate()
            assert self._file is not None
            self._file.write(line)
            self._size += n
        assert self._file is not None
        self._file.flush()
        if os.fstat(self._file.fileno()).st_nlink == 0:
            raise self._lost("while this batch was written to it")
        if self.config.fsync:
            os.fsync(self._file.fileno())

    async def write(self, batch: Sequence[Event]) -> None:
        lines = [event_json(e).decode() + "\n" for e in batch]
        try:
            await asyncio.to_thread(self._write, lines)
        except OSError as err:
            raise SinkUnavailable(
                f"{self._name}: cannot write {self.path} ({err.strerror or err}): "
                f"{diagnose(err, self.path)}; the events wait in this output's queue meanwhile"
            ) from err

    async def close(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None


@hub.hookimpl
def register_sinks(register: Callable[[type[Sink[Any]]], None]) -> None:
    register(JsonlSink)
