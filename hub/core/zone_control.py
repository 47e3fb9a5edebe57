"""The hub's local control channel: operator actions over a unix socket in the data dir.

``data_dir/control.sock`` (mode 0600: only the hub's user, and root, may act) serves a
small JSON API over HTTP for ``hub alerts`` (:mod:`hub.cli.zones`)::

    GET  /picture            the picture of the last tick (zones, lines, alerts, silences)
    POST /actions/<action>   {"alert": "level-red/pier", "by": "...", "note": "..."}

``<action>`` is one of :data:`hub.zones.actions.ACTIONS`; the reply is the action's JSON,
or ``{"error": "<one line>"}`` with status 400 (bad input), 404 (unknown alert, zone or
silence) or 409 (not possible in the alert's state). No TCP port is opened: the socket
is reachable only on this machine, through the file system's permissions.
"""

from __future__ import annotations

__all__ = ["CONTROL_SOCKET", "control_server"]

import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.zones.actions import ActionError, ZoneActions

log = logging.getLogger("hub.zones")

CONTROL_SOCKET = "control.sock"
_MAX_PATH = 107  # sun_path holds 108 bytes with the terminating NUL
_MAX_BODY = 16 * 1024


def _app(actions: ZoneActions) -> web.Application:
    async def picture(request: web.Request) -> web.Response:
        return web.json_response(actions.picture())

    async def act(request: web.Request) -> web.Response:
        try:
            params: Any = json.loads(await request.read() or b"{}")
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(params, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        try:
            result = actions.perform(request.match_info["action"], params)
        except ActionError as err:
            return web.json_response({"error": str(err)}, status=err.status)
        return web.json_response(result)

    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_get("/picture", picture)
    app.router.add_post("/actions/{action}", act)
    return app


def _bind(path: Path) -> socket.socket:
    """A listening unix socket at ``path`` (a stale socket file is replaced), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(16)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def control_server(actions: ZoneActions, data_dir: Path) -> AsyncIterator[Path | None]:
    """Serve ``actions`` on ``data_dir/control.sock`` while the block runs.

    Yields the socket path, or None when the socket cannot be made (logged once: the
    picture still runs, only ``hub alerts`` actions are unavailable).
    """
    path = data_dir / CONTROL_SOCKET
    if len(os.fsencode(path)) > _MAX_PATH:
        log.warning(
            "the control socket path %s is longer than %d bytes; `hub alerts` "
            "actions are unavailable. Choose a shorter [hub] data_dir",
            path,
            _MAX_PATH,
        )
        yield None
        return
    try:
        sock = _bind(path)
    except OSError as err:
        log.warning(
            "cannot create the control socket %s (%s); `hub alerts` actions are unavailable",
            path,
            err.strerror or err,
        )
        yield None
        return
    runner = web.AppRunner(_app(actions), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock)
    try:
        await site.start()
        yield path
    finally:
        await runner.cleanup()
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
