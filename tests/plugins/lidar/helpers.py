"""Shared helpers for the lidar plugin tests (imported as `from .helpers import ...`)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def hex_fixture(name: str) -> bytes:
    """The bytes of a ``.hex`` fixture: hex pairs, ``#`` starts a comment."""
    out = bytearray()
    for line in (FIXTURES / name).read_text().splitlines():
        data = line.split("#", 1)[0].strip()
        if data:
            out += bytes.fromhex(data)
    return bytes(out)
