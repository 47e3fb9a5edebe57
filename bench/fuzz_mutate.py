"""Mutations for bench/fuzz.py: structure-aware (JSON, XML, base64 text) and byte-level.

``Mutator(seeds, rng).next()`` returns one mutated input. Half of the JSON/XML
mutations keep the document well-formed and change one value to an "interesting"
one (huge, negative, NaN, a lone surrogate, year 9999, deep nesting ...), so the
inputs reach past the decoder into the mapping and plausibility code; the rest
are byte-level (flips, cuts, splices, repeats) against the framing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import random
import re
from typing import Any

DEEP = 100_000
INTERESTING_JSON: list[Any] = [
    0,
    -1,
    1,
    255,
    65535,
    2**31,
    2**32,
    2**63,
    2**64,
    10**30,
    -(10**30),
    1e30,
    -1e30,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    0.5,
    -0.0,
    "",
    "\ud800",
    "\udfff",
    "x" * 4096,
    "NaN",
    "1e30",
    "-1",
    "0x1f",
    "\u0661\u0662",
    "9999-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00",
    "2026-06-01T12:00:00+25:00",
    "2026-13-45T99:99:99Z",
    "253402300800",
    "PT-5M",
    None,
    True,
    False,
    [],
    {},
    [None],
    {"": None},
]
INTERESTING_TEXT = [
    "",
    "-1",
    "0",
    "1e30",
    "NaN",
    "inf",
    "99999999999999999999999999",
    "18446744073709551616",
    "9999-12-31T23:59:59",
    "1970-01-01T00:00:00Z",
    "0000-00-00T00:00:00",
    "2026-06-01T12:00:00+99:00",
    "&amp;",
    "\u0661",
    "x" * 2000,
]
INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x5A, 0x59, 0x0A, 0x0D, 0x22, 0x7B]
_TEXT_NODE = re.compile(rb">([^<>]{0,200})<")
_ELEMENT = re.compile(rb"<([A-Za-z][\w.-]*)[^<>]*>[^<>]*</\1>")
_ENCODINGS = [b"UTF-8", b"UTF-16", b"x-unknown", b"shift_jis", b"utf-32", b"ISO-8859-1", b"cp500"]


Path = tuple[Any, ...]


def _paths(node: Any, prefix: Path = (), out: list[Path] | None = None) -> list[Path]:
    out = [] if out is None else out
    out.append(prefix)
    if len(out) > 2000:
        return out
    if isinstance(node, dict):
        for k, v in node.items():
            _paths(v, (*prefix, k), out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _paths(v, (*prefix, i), out)
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = _get(root, path[:-1])
    parent[path[-1]] = value
    return root


class Mutator:
    """Mutated inputs from a list of seeds (bytes), reproducible from ``rng``."""

    def __init__(self, seeds: list[bytes], rng: random.Random) -> None:
        if not seeds:
            raise ValueError("no seeds")
        self.seeds = seeds
        self.rng = rng
        self._json: dict[int, Any] = {}
        for i, s in enumerate(seeds):
            with contextlib.suppress(ValueError, UnicodeDecodeError, RecursionError):
                self._json[i] = json.loads(s)

    def next(self) -> bytes:
        rng = self.rng
        i = rng.randrange(len(self.seeds))
        seed = self.seeds[i]
        roll = rng.random()
        if i in self._json and roll < 0.6:
            data = self._mutate_json(self._json[i])
        elif seed.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<") and roll < 0.6:
            data = self._mutate_xml(seed)
        elif _is_base64(seed) and roll < 0.5:
            raw = base64.b64decode(seed)
            data = base64.b64encode(self._mutate_bytes(raw, rounds=rng.randint(1, 3)))
        else:
            data = self._mutate_bytes(seed, rounds=rng.choice((1, 1, 2, 3, 8)))
        return data

    # -- JSON ---------------------------------------------------------------------------
    def _interesting(self) -> Any:
        return copy.deepcopy(self.rng.choice(INTERESTING_JSON))

    def _mutate_json(self, doc: Any) -> bytes:
        rng = self.rng
        doc = json.loads(json.dumps(doc))  # a copy
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            paths = _paths(doc)
            path = rng.choice(paths)
            op = rng.random()
            if op < 0.55:
                doc = _set(doc, path, self._interesting())
            elif op < 0.65 and path:
                parent = _get(doc, path[:-1])
                del parent[path[-1]]
            elif op < 0.75:
                doc = _set(doc, path, [_get(doc, path)])
            elif op < 0.82:
                other = _get(doc, rng.choice(paths))
                doc = _set(doc, path, json.loads(json.dumps(other)))
            elif op < 0.88 and isinstance(_get(doc, path), dict):
                _get(doc, path)[rng.choice(["seq", "count", "in", "time", "id", "", "value"])] = (
                    self._interesting()
                )
            elif op < 0.93:
                value = _get(doc, path)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    doc = _set(doc, path, str(value))
                elif isinstance(value, str):
                    try:
                        doc = _set(doc, path, float(value))
                    except ValueError:
                        doc = _set(doc, path, value + rng.choice(["\x00", "\ud800", "Z", "+99"]))
            else:
                return self._deep(doc, path)
        text = json.dumps(doc, indent=rng.choice((None, None, 1)))
        return text.encode("utf-8", "surrogatepass")

    def _deep(self, doc: Any, path: tuple[Any, ...]) -> bytes:
        marker = "\x00DEEP\x00"
        doc = _set(doc, path, marker)
        n = self.rng.choice((50, 1000, DEEP))
        opener, closer = self.rng.choice((("[", "]"), ('{"a":', "}")))
        text = json.dumps(doc).replace(json.dumps(marker), opener * n + "1" + closer * n)
        return text.encode("utf-8", "surrogatepass")

    # -- XML ----------------------------------------------------------------------------
    def _mutate_xml(self, seed: bytes) -> bytes:
        rng = self.rng
        data = seed
        op = rng.random()
        if op < 0.5:
            nodes = list(_TEXT_NODE.finditer(data))
            if nodes:
                m = rng.choice(nodes)
                text = rng.choice(INTERESTING_TEXT).encode()
                data = data[: m.start(1)] + text + data[m.end(1) :]
        elif op < 0.65:
            elements = list(_ELEMENT.finditer(data))
            if elements:
                m = rng.choice(elements)
                repl = b"" if rng.random() < 0.5 else m.group(0) * rng.randint(2, 50)
                data = data[: m.start()] + repl + data[m.end() :]
        elif op < 0.75:
            data = re.sub(rb'encoding="[^"]*"', b'encoding="' + rng.choice(_ENCODINGS) + b'"', data)
        elif op < 0.85:
            body = data.decode("utf-8", "replace")
            body = re.sub(r'encoding="[^"]*"', 'encoding="UTF-16"', body)
            data = body.encode(rng.choice(("utf-16", "utf-16-le", "utf-16-be")))
        elif op < 0.92:
            depth = rng.choice((100, 10_000))
            data = data.replace(b"</EventNotificationAlert>", b"<a>" * depth + b"</a>" * depth, 1)
            if b"<a>" not in data:
                data = b"<a>" * depth + data + b"</a>" * depth
        else:
            dtd = b'<!DOCTYPE a [<!ENTITY e "' + b"x" * 64 + b'">]>'
            at = data.find(b"?>")
            data = data[: at + 2] + dtd + data[at + 2 :] if at >= 0 else dtd + data
        return data

    # -- bytes --------------------------------------------------------------------------
    def _mutate_bytes(self, seed: bytes, rounds: int) -> bytes:
        rng = self.rng
        buf = bytearray(seed)
        for _ in range(rounds):
            op = rng.randrange(10)
            n = len(buf)
            if op == 0 and n:
                at = rng.randrange(n)
                buf[at] ^= 1 << rng.randrange(8)
            elif op == 1 and n:
                buf[rng.randrange(n)] = rng.choice(INTERESTING_BYTES)
            elif op == 2:
                at = rng.randrange(n + 1)
                buf[at:at] = rng.randbytes(rng.randint(1, 16))
            elif op == 3 and n:
                a = rng.randrange(n)
                del buf[a : a + rng.randint(1, max(1, n // 4))]
            elif op == 4 and n:
                del buf[rng.randrange(n) :]
            elif op == 5 and n:
                a = rng.randrange(n)
                chunk = buf[a : a + rng.randint(1, 64)]
                at = rng.randrange(n + 1)
                buf[at:at] = chunk * rng.randint(1, 8)
            elif op == 6:
                other = rng.choice(self.seeds)
                cut = rng.randrange(len(other) + 1)
                buf = buf[: rng.randrange(n + 1)] + bytearray(other[cut:])
            elif op == 7 and n >= 2:
                a, b = sorted(rng.sample(range(n), 2))
                buf[a], buf[b] = buf[b], buf[a]
            elif op == 8 and n:
                at = rng.randrange(n)
                width = rng.choice((1, 2, 4))
                buf[at : at + width] = rng.choice((b"\xff", b"\x00", b"\x7f", b"\x80")) * width
            else:
                buf += rng.randbytes(rng.randint(1, 32))
        return bytes(buf)


def _is_base64(data: bytes) -> bool:
    if not data or len(data) % 4 or len(data) > 4096:
        return False
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
