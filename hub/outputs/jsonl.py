"""``jsonl`` output: append events as JSON lines to a file, rotated by size.

Rotation renames ``events.jsonl`` to ``events.jsonl.1`` (``.1`` → ``.2`` …) and
keeps ``keep`` old files. Writes happen in a worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import Field

import hub
from hub import Event, Sink, SinkConfig, SinkUnavailable


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

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._size = self._file.tell()

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self._open)
        except OSError as err:
            raise SinkUnavailable(f"cannot open {self.path}: {err}") from err

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
        if self.config.fsync:
            os.fsync(self._file.fileno())

    async def write(self, batch: Sequence[Event]) -> None:
        lines = [e.model_dump_json() + "\n" for e in batch]
        try:
            await asyncio.to_thread(self._write, lines)
        except OSError as err:
            raise SinkUnavailable(f"cannot write {self.path}: {err}") from err

    async def close(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None


@hub.hookimpl
def register_sinks(register: Callable[[type[Sink[Any]]], None]) -> None:
    register(JsonlSink)
