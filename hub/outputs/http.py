"""The ``http`` sink: POST batches of events to a webhook.

Request: ``POST <url>`` with ``Content-Type: application/json``, the configured
headers, the configured auth (bearer, basic, or an HMAC hex signature of the
body), an ``Idempotency-Key`` that is the same for every retry of one batch,
and the body::

    {"events": [<event>, ...]}

where each ``<event>`` is the :class:`hub.Event` JSON (``hub schema`` prints its
JSON Schema); ``event_id`` lets the receiver drop duplicates after a retry.

Answers: any 2xx acknowledges the batch. One ``write`` is one attempt; the
hub's sink runner retries, with the hub's one backoff policy (``retry_initial_s``,
``retry_max_s``). Timeouts, connection errors, 408, 429 and 5xx raise
:class:`~hub.errors.SinkUnavailable`; a ``Retry-After`` (seconds or an HTTP
date, on 429 or 503) is passed on as ``retry_after``, which the runner waits at
least. Any other status (other 4xx, 3xx) raises :class:`~hub.errors.SinkRejected`:
the batch is dropped and counted.

Deduplication: delivery is at-least-once (a retry after a lost answer, a
restart with a durable queue). Every event keeps its stable ``event_id``; the
``Idempotency-Key`` header is the same for the same batch. A receiver that
stores by ``event_id`` (or remembers keys) stores each event once.

Errors never carry secrets or the receiver's answer (they reach the log,
``status.json`` and ``/healthz``): the URL is shown with its query values and
user info masked (``?token=***``), an answer as its status code, standard reason
phrase and length only, and configured header values and auth secrets are
masked in any other text (:mod:`hub.outputs.redact`).

Requests go through the shared ``http_client`` transport (``transport`` names
its instance), like a third-party sink would.

.. code-block:: toml

    [[sinks.http]]
    id = "ops-webhook"
    url = "https://ops.example.org/crowd/events"
    auth = { scheme = "bearer", token = "${OPS_WEBHOOK_TOKEN}" }
    timeout_s = 10
    retry_max_s = 60
    view = "internal"               # it leaves the machine: name a view (docs/privacy.md)
"""

from __future__ import annotations

__all__ = ["WebhookConfig", "WebhookSink", "parse_retry_after"]

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self, cast

from pydantic import Field, field_validator, model_validator

import hub
from hub import event_json
from hub.errors import DeviceUnavailable, SinkRejected, SinkUnavailable, TransportError
from hub.events import Event
from hub.outputs.redact import Secrets, describe_answer, redact_url
from hub.plugin import Sink, SinkConfig
from hub.transports import HttpAuth, HttpClient

REMOVED_SETTINGS = {
    "max_attempts": "the hub retries a failed batch itself; remove it",
    "backoff_initial_s": "write retry_initial_s instead",
    "backoff_max_s": "write retry_max_s instead",
    "max_retry_after_s": "the hub waits what Retry-After asks; remove it",
}
"""Settings of the webhook's former own retry loop, with what to write instead."""


class WebhookConfig(SinkConfig):
    """``[[sinks.http]]``: where and how to POST event batches."""

    url: str = Field(description="webhook URL (http:// or https://); required")
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra request headers (values may use ${ENV})"
    )
    auth: HttpAuth | None = Field(
        default=None, description="bearer / basic / hmac; secrets from ${ENV} references"
    )
    timeout_s: float = Field(default=10.0, gt=0, description="one attempt's total timeout (s)")
    transport: str | None = Field(
        default=None, description="http_client transport instance (default: 'default')"
    )

    @model_validator(mode="before")
    @classmethod
    def _removed_settings(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, what in REMOVED_SETTINGS.items():
                if key in data:
                    raise ValueError(f"{key} is no longer used: {what}")
        return data

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must start with http:// or https:// and name a host")
        return v

    @model_validator(mode="after")
    def _auth_complete(self) -> Self:
        a = self.auth
        if a is None:
            return self
        if a.scheme == "bearer" and not a.token:
            raise ValueError("auth: scheme 'bearer' needs token")
        if a.scheme == "basic" and (a.username is None or a.password is None):
            raise ValueError("auth: scheme 'basic' needs username and password")
        if a.scheme == "hmac" and not a.hmac_secret:
            raise ValueError("auth: scheme 'hmac' needs hmac_secret")
        return self


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def encode_batch(batch: Sequence[Event]) -> bytes:
    """The request body: ``{"events": [...]}``."""
    return b'{"events":[' + b",".join(map(event_json, batch)) + b"]}"


class WebhookSink(Sink[WebhookConfig]):
    """POST each batch as JSON to a URL; retry 5xx/timeouts, honour 429, drop on 4xx."""

    kind = "http"
    leaves_machine = True
    config_model = WebhookConfig
    description = "POST batches of events as JSON to a webhook"

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        return [("http_client", cast(WebhookConfig, config).transport)]

    def __init__(self, config: WebhookConfig, ctx: hub.SinkContext) -> None:
        super().__init__(config, ctx)
        self._secrets = Secrets.of(urls=[config.url], headers=config.headers, auth=config.auth)
        self._where = f"http[{ctx.instance}] ({redact_url(config.url)})"

    def _client(self) -> HttpClient:
        return self.ctx.http_client(self.config.transport)

    async def write(self, batch: Sequence[Event]) -> None:
        if not batch:
            return
        c = self.config
        name = self._where
        key = hashlib.blake2b(
            "\x1f".join(e.event_id for e in batch).encode(), digest_size=16
        ).hexdigest()
        headers = {
            **c.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        try:
            resp = await self._client().request(
                "POST",
                c.url,
                body=encode_batch(batch),
                headers=headers,
                timeout_s=c.timeout_s,
                auth=c.auth,
                allow_redirects=False,
            )
        except (DeviceUnavailable, TransportError) as err:
            raise SinkUnavailable(f"{name}: {self._secrets.scrub(str(err))}") from None
        status = resp.status
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500 or status == 408:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            what = f"answered {describe_answer(status, resp.body)}"
            if retry_after is not None:
                what += f", Retry-After {retry_after:g} s"
            raise SinkUnavailable(f"{name}: {what}", retry_after=retry_after)
        raise SinkRejected(
            f"{name}: the receiver refused the batch of {len(batch)} events: "
            f"{describe_answer(status, resp.body)}; check the URL, credentials and the "
            "receiver's expected format (answers are never shown: they may echo credentials)"
        )


@hub.hookimpl
def register_sinks(register: Callable[[type[Sink[Any]]], None]) -> None:
    """Register the ``http`` webhook sink."""
    register(WebhookSink)
