"""The page's files: vendored libraries by version, our own ES modules and CSS, two pages.

Everything is package data under ``hub/dashboard/static`` (see ``pyproject.toml``);
``scripts/vendor_frontend.sh`` re-fetches the libraries. :func:`referenced_assets`
lists every file the pages load (HTML ``src``/``href``, ES-module imports, CSS
``url()``), so a test can check each is shipped.
"""

from __future__ import annotations

__all__ = ["LEAFLET", "STATIC_DIR", "UPLOT", "page", "referenced_assets"]

import re
from functools import cache
from pathlib import Path, PurePosixPath

STATIC_DIR = Path(__file__).parent / "static"
LEAFLET = "leaflet-1.9.4"
UPLOT = "uplot-1.6.32"

# L.Icon.Default loads these by script (the CSS names only marker-icon.png)
_LEAFLET_ICONS = ("marker-icon.png", "marker-icon-2x.png", "marker-shadow.png")
_ATTR = re.compile(r"""(?:src|href)="(static/[^"?#]+)""")
_IMPORT = re.compile(r"""(?:import|from)\s*['"](\./[^'"]+)['"]""")
_CSS_URL = re.compile(r"""url\(\s*['"]?(?!data:|#)([^'")]+)['"]?\s*\)""")


@cache
def _template(name: str) -> str:
    return (STATIC_DIR / f"{name}.html").read_text(encoding="utf-8")


def page(name: str, *, error: bool = False) -> str:
    """The ``app`` or ``login`` page (``error``: the login form says the token was wrong)."""
    html = _template(name)
    if error:
        html = html.replace('class="login-error" hidden', 'class="login-error"')
    return html


def referenced_assets() -> set[str]:
    """Paths under ``static/`` that the pages load, followed through JS imports and CSS."""
    todo = [PurePosixPath(m) for n in ("app", "login") for m in _ATTR.findall(_template(n))]
    seen: set[str] = set()
    while todo:
        rel = todo.pop()
        key = str(rel)
        if key in seen:
            continue
        seen.add(key)
        path = STATIC_DIR.parent / key
        if not path.is_file():
            continue  # reported by the test that checks every path
        if rel.name == "leaflet.js":
            found = [f"images/{i}" for i in _LEAFLET_ICONS]
        elif rel.suffix == ".js" and "vendor" not in rel.parts:
            found = _IMPORT.findall(path.read_text(encoding="utf-8"))
        elif rel.suffix == ".css":
            found = _CSS_URL.findall(path.read_text(encoding="utf-8"))
        else:
            continue
        for f in found:
            todo.append(_normal(rel.parent / f))
    return seen


def _normal(p: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in p.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)
