"""Errors of outputs never carry configured secrets or what a receiver answered.

A whole hub runs in-process (simulated source, webhook output, the hub's HTTP
server for ``/healthz``) against a real aiohttp receiver that echoes the whole
request (URL with its query, every header, the body) in its answer body *and*
in its reason phrase, answering 500, 429 and 400 in turn. The configured
secrets (a query token, a bearer token, an API-key header, all from ``${ENV}``)
must appear in none of: the captured log, ``data_dir/status.json``, ``/healthz``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.outputs.redact import Secrets, describe_answer, redact_url
from hub.testing.mosquitto import free_port
from hub.transports import HttpAuth

QUERY_TOKEN = "qtok-5f1e9b7c2d"
BEARER = "bearer-8a7c6e5d4f"
API_KEY = "apikey-3b2a1c0d9e"
SECRETS = (QUERY_TOKEN, BEARER, API_KEY)
MARKER = "said-by-the-receiver"

CONFIG = """
[hub]
data_dir = "{data}"
status_interval_s = 0.05
shutdown_timeout_s = 3

[site]
id = "leak"
[[site.zones]]
id = "square"
area_m2 = 100.0

[[transports.http]]
host = "127.0.0.1"
port = {http_port}

[[sources.simulated]]
id = "sim"
zone = "square"
measurement = "occupancy"
interval_s = 0.02
capacity = 100

[[sinks.http]]
id = "hook"
url = "http://127.0.0.1:{hook_port}/hook?site=leak&token=${{HOOK_TOKEN}}"
auth = {{ scheme = "bearer", token = "${{HOOK_BEARER}}" }}
headers = {{ X-Api-Key = "${{HOOK_KEY}}" }}
retry_initial_s = 0.02
retry_max_s = 0.05
view = "internal"
"""


class EchoReceiver:
    """Answers 500 (three times), 429, 400, ... with the whole request echoed back."""

    def __init__(self) -> None:
        self.statuses = itertools.cycle([500, 500, 500, 429, 400])
        self.seen: Counter[int] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        echo = {
            "marker": MARKER,
            "url": str(request.url),
            "headers": dict(request.headers),
            "body": (await request.read()).decode(),
        }
        status = next(self.statuses)
        self.seen[status] += 1
        reason = f"{MARKER} {request.query_string} {request.headers.get('Authorization')}"
        headers = {"Retry-After": "0"} if status == 429 else {}
        return web.Response(status=status, reason=reason, text=json.dumps(echo), headers=headers)


async def test_no_secret_or_receiver_text_in_log_status_or_healthz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HOOK_TOKEN", QUERY_TOKEN)
    monkeypatch.setenv("HOOK_BEARER", BEARER)
    monkeypatch.setenv("HOOK_KEY", API_KEY)
    receiver = EchoReceiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_port = runner.addresses[0][1]
    http_port = free_port()
    data = tmp_path / "data"
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG.format(data=data, http_port=http_port, hook_port=hook_port))
    registry = load_plugins(entrypoints=False)
    the_hub = Hub(load_config(path, registry), registry)
    stop = asyncio.Event()
    task = asyncio.create_task(the_hub.run(stop))
    try:
        async with asyncio.timeout(20):
            while min(receiver.seen[s] for s in (500, 429, 400)) < 2:
                await asyncio.sleep(0.02)
            status_file = data / "status.json"
            while '"last_error": "' not in (
                status_file.read_text() if status_file.exists() else ""
            ):
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # one more status.json round
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{http_port}/healthz") as resp,
            ):
                healthz = await resp.text()
            status_json = status_file.read_text()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await runner.cleanup()

    log_text = "\n".join(
        r.getMessage() + (f" {r.exc_info[1]!r}" if r.exc_info else "") for r in caplog.records
    )
    for where, text in (("log", log_text), ("status.json", status_json), ("/healthz", healthz)):
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {where}"
        assert MARKER not in text, f"the receiver's answer leaked into {where}"
    # the errors still say what happened, and where
    sink = json.loads(healthz)["sinks"]["hook"]
    assert sink["errors"] >= 2 and sink["dropped"].get("rejected", 0) >= 1
    assert "HTTP 400 Bad Request" in log_text
    assert "HTTP 500 Internal Server Error" in log_text
    assert f"127.0.0.1:{hook_port}/hook?site=***&token=***" in log_text


def test_redact_url_masks_query_values_and_user_info() -> None:
    assert (
        redact_url("https://user:pw@example.org:8443/a/b?token=s3cr3t&x=1#frag")
        == "https://***@example.org:8443/a/b?token=***&x=***"
    )
    assert redact_url("http://127.0.0.1/hook") == "http://127.0.0.1/hook"
    assert redact_url("http://[::1]:80/h?k=v") == "http://[::1]:80/h?k=***"
    assert redact_url("http://[::1") == "(invalid URL)"


def test_describe_answer_has_no_receiver_text() -> None:
    assert describe_answer(503, b"token=abc") == (
        "HTTP 503 Service Unavailable, 9-byte answer not shown"
    )
    assert describe_answer(599) == "HTTP 599"


def test_secrets_scrub_every_configured_form() -> None:
    auth = HttpAuth(scheme="basic", username="hubuser", password="pa%ss:word")  # type: ignore[arg-type]
    s = Secrets.of(
        urls=["http://u1:p%40ss@127.0.0.1/x?token=a%2Bb&k=1"],
        headers={"X-Api-Key": "key-123"},
        auth=auth,
    )
    text = "token=a%2Bb a+b p@ss p%40ss key-123 hubuser pa%ss:word aHVidXNlcjpwYSVzczp3b3Jk k=1"
    assert s.scrub(text) == "token=*** *** *** *** *** *** *** *** k=1"
