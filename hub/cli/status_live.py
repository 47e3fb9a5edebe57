"""``hub status FILE`` when ``status.json`` is not being written: ask the hub's ``/healthz``.

A hub whose data dir is full or read-only cannot rewrite ``data_dir/status.json``,
which then shows an old picture (or, past the heartbeat limit, "not running")
exactly when the operator needs the live one. When the config file names an
HTTP server (``[[transports.http]]``) listening on loopback or on every address,
``hub status`` asks that server's ``/healthz`` (the same snapshot, live) on
``127.0.0.1`` / ``::1`` once the file's heartbeat is late. Never any other
address; no proxy; two seconds at most.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.core.config import read_toml
from hub.errors import ConfigError

__all__ = ["is_late", "live_status"]

_LOOPBACK = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "0.0.0.0": "127.0.0.1"}
_LOOPBACK6 = {"::1": "[::1]", "::": "[::1]"}


def is_late(status: dict[str, Any] | None) -> bool:
    """Is the heartbeat in ``status`` older than two intervals and a second (or absent)?"""
    if status is None:
        return True
    try:
        seen = datetime.fromisoformat(str(status["time"]))
        interval = float(status.get("heartbeat_interval_s") or 2.0)
    except (KeyError, TypeError, ValueError):
        return True
    return (datetime.now(UTC) - seen).total_seconds() > 2 * interval + 1.0


def _health_urls(config_file: Path) -> list[str]:
    try:
        raw = read_toml(config_file)
    except ConfigError:
        return []
    servers = raw.get("transports", {}).get("http", [])
    urls = []
    for server in servers if isinstance(servers, list) else []:
        if not isinstance(server, dict):
            continue
        host, port = str(server.get("host", "127.0.0.1")), server.get("port", 8080)
        address = _LOOPBACK.get(host) or _LOOPBACK6.get(host)
        if address is not None and isinstance(port, int) and 0 < port < 65536:
            urls.append(f"http://{address}:{port}/healthz")
    return urls


def live_status(config_file: Path) -> tuple[dict[str, Any], str] | None:
    """The live status snapshot and the URL it came from, or None (no server, no answer)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for url in _health_urls(config_file):
        try:
            with opener.open(url, timeout=2.0) as resp:
                body = resp.read()
        except urllib.error.HTTPError as err:  # 503: the hub answers, unhealthy
            body = err.read()
        except (OSError, ValueError):
            continue
        try:
            status = json.loads(body)
        except ValueError:
            continue
        if isinstance(status, dict) and "pid" in status and "sinks" in status:
            return status, url
    return None
