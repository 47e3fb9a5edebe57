"""Headless Debian chromium for the browser tests, installed here when missing.

``make test`` installs chromium and chromium-driver first (``make browser``); when the
tests run some other way, :func:`ensure_browser` installs them (apt-get, as root, about
30 s) and selenium (pip) itself. The browser never leaves loopback: background
networking, component updates, sync and QUIC are off and each session has a fresh profile.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def ensure_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths; installs the Debian packages and selenium if missing."""
    if _chromium() is None or shutil.which("chromedriver") is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            [*sudo, "apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    if importlib.util.find_spec("selenium") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "selenium>=4.20"], check=True)
    chromium, driver = _chromium(), shutil.which("chromedriver")
    assert chromium and driver, "chromium or chromedriver still missing after the install"
    return chromium, driver


def new_driver(width: int = 1440, height: int = 900) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = ensure_browser()
    profile = tempfile.mkdtemp(prefix="crowdhub-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--lang=nl-NL",
    ):
        opts.add_argument(arg)
    service = Service(executable_path=driver)
    d = webdriver.Chrome(options=opts, service=service)
    d.crowdhub_profile = profile
    return d


def quit_driver(d: Any) -> None:
    d.quit()
    shutil.rmtree(d.crowdhub_profile, ignore_errors=True)


def screenshot(d: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    d.save_screenshot(str(path))
    return path
