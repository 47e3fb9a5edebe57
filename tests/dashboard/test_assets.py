"""Every file the page loads is in the package and in the wheel; vendored files are pinned."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hub.dashboard.assets import LEAFLET, STATIC_DIR, UPLOT, page, referenced_assets

ROOT = Path(__file__).resolve().parents[2]
VENDOR = STATIC_DIR / "vendor"


def test_every_referenced_asset_exists() -> None:
    refs = referenced_assets()
    # the libraries, Leaflet's CSS images and marker icons, our modules followed by import
    for must in (
        f"static/vendor/{LEAFLET}/leaflet.js",
        f"static/vendor/{LEAFLET}/leaflet.css",
        f"static/vendor/{LEAFLET}/images/layers.png",
        f"static/vendor/{LEAFLET}/images/marker-icon-2x.png",
        f"static/vendor/{LEAFLET}/images/marker-shadow.png",
        f"static/vendor/{UPLOT}/uPlot.iife.min.js",
        "static/js/main.js",
        "static/js/chart.js",
        "static/dashboard.css",
    ):
        assert must in refs, must
    missing = [r for r in refs if not (STATIC_DIR.parent / r).is_file()]
    assert not missing


def test_vendored_files_match_their_checksums_and_carry_licences() -> None:
    sums = (VENDOR / "SHA256SUMS").read_text().splitlines()
    listed = {}
    for line in sums:
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    present = {
        str(p.relative_to(VENDOR))
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name not in ("SHA256SUMS", "README.md")
    }
    assert present == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert (
        "BSD" in (VENDOR / LEAFLET / "LICENSE").read_text()
        or "Redistribution" in (VENDOR / LEAFLET / "LICENSE").read_text()
    )
    assert (
        "MIT" in (VENDOR / UPLOT / "LICENSE").read_text()
        or "Permission is hereby" in (VENDOR / UPLOT / "LICENSE").read_text()
    )
    script = (ROOT / "scripts" / "vendor_frontend.sh").read_text()
    assert f"LEAFLET_VERSION={LEAFLET.split('-')[1]}" in script
    assert f"UPLOT_VERSION={UPLOT.split('-')[1]}" in script


def test_the_pages_load_nothing_from_elsewhere() -> None:
    for name in ("app", "login"):
        html = page(name)
        assert "http://" not in html and "https://" not in html and "//cdn" not in html
    for js in (STATIC_DIR / "js").glob("*.js"):
        text = js.read_text()
        assert "http://" not in text and "https://" not in text, js.name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("crowdhub-*.whl")
    return whl


def test_every_referenced_asset_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for ref in referenced_assets() | {"static/app.html", "static/login.html"}:
        assert f"hub/dashboard/{ref}" in names, ref
    for lib in (LEAFLET, UPLOT):
        assert f"hub/dashboard/static/vendor/{lib}/LICENSE" in names
