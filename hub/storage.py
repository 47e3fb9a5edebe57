"""What is wrong with the storage under a file the hub could not write, and what to do.

Public: outputs that write files (the bundled ``sqlite``) use it for their error
lines, as the durable queues do.

A failed write (SQLite's "database or disk is full", "attempt to write a readonly
database", "disk I/O error", an ``OSError``) says little on its own: SQLite reports
a write to a file system that went read-only as an I/O error. :func:`diagnose`
looks at the file system holding the file (``statvfs``, a probe write) and the
error and answers
one phrase, *what is wrong: what to do*, for the one error line the output or
queue logs::

    the file system is full (0 bytes free on /var/lib/crowdhub): free space there
"""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
from pathlib import Path

__all__ = ["diagnose"]

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_CODES = (sqlite3.SQLITE_FULL,)
_READONLY_CODES = (sqlite3.SQLITE_READONLY,)
_LOW_BYTES = 1 << 20  # less free than this counts as full (SQLite needs room for a page run)


def _errno(err: BaseException) -> int | None:
    while err is not None:
        if isinstance(err, OSError) and err.errno is not None:
            return err.errno
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return None


def _sqlite_code(err: BaseException) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the file may be gone)."""
    for p in (path, *path.parents):
        if p.exists():
            return p
    return path


def _probe(where: Path) -> int | None:
    """Create, write and remove a small file in ``where``: the errno it fails with."""
    probe = where / f".write-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        return err.errno
    return None


def _over_size_limit(path: Path) -> bool:
    """Is one of the files of ``path`` (the database, its journal) near ``RLIMIT_FSIZE``?"""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY:
        return False
    for suffix in ("", "-wal", "-journal"):
        try:
            if os.stat(f"{path}{suffix}").st_size + 65536 > limit:
                return True
        except OSError:
            continue
    return False


def diagnose(err: BaseException, path: Path) -> str:
    """What is wrong with writing ``path`` (``err`` being the failure) and what to do.

    Looks at the file system (``statvfs``, a small probe file written and removed:
    a file system turned read-only by a disk error may still say ``rw``)."""
    where = _existing(path.parent)
    try:
        st = os.statvfs(where)
    except OSError:
        st = None
    code, num = _sqlite_code(err), _errno(err)
    if num is None or num == errno.EIO:
        num = _probe(where) or num
    if (st is not None and st.f_flag & os.ST_RDONLY) or num == errno.EROFS:
        return (
            f"the file system holding {where} is read-only (remounted after a disk error?): "
            "check the kernel log, repair it and mount it writable again"
        )
    if code in _READONLY_CODES or num in (errno.EACCES, errno.EPERM):
        return f"{path} or {where} is not writable: make it writable for the hub's user"
    if num == errno.EFBIG or _over_size_limit(path):
        return "the hub's file-size limit (ulimit -f) was reached: raise it"
    free = None if st is None else st.f_bavail * st.f_frsize
    if code in _FULL_CODES or num in _FULL_ERRNOS or (free is not None and free < _LOW_BYTES):
        shown = "" if free is None else f" ({free:,} bytes free on {where})"
        return f"the file system is full{shown}: free space there"
    return f"the write failed ({err}): check the disk and the kernel log"
