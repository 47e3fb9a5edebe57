"""Keep configured secrets and receivers' answers out of the errors outputs raise.

An output's error text ends up in the log, in ``data_dir/status.json`` and in
the unauthenticated ``GET /healthz``. So every error an output raises is built
from things the hub controls:

* a URL is shown by :func:`redact_url`: scheme, host, port and path; the values
  of the query (``?token=***``) and any user info (``***@host``) are masked;
* a receiver's answer is shown as its status code, the standard reason phrase
  for it and the length of the body (:func:`describe_answer`), never the body
  or the receiver's own reason phrase (a receiver that echoes the request would
  echo the credentials);
* any other text (a transport's error) goes through :meth:`Secrets.scrub`,
  which masks every configured secret it contains.
"""

from __future__ import annotations

__all__ = ["MASK", "Secrets", "describe_answer", "redact_url"]

import base64
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pydantic import SecretStr

from hub.transports import HttpAuth

MASK = "***"
MIN_SECRET_LEN = 3
"""Shorter configured values are not masked inside free text (they are not secrets,
and masking ``1`` or ``on`` would garble every message)."""


def redact_url(url: str) -> str:
    """``url`` with query values and user info masked: safe to log and to show."""
    try:
        u = urlsplit(url)
        host = u.hostname or ""
        port = u.port
    except ValueError:
        return "(invalid URL)"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{MASK}@" if (u.username or u.password) else ""
    netloc += host + ("" if port is None else f":{port}")
    text = f"{u.scheme}://{netloc}{u.path}"
    names = [name for name, _ in parse_qsl(u.query, keep_blank_values=True)]
    if names:
        text += "?" + "&".join(f"{quote(n, safe='')}={MASK}" for n in names)
    return text


def describe_answer(status: int, body: bytes = b"") -> str:
    """``HTTP 500 Internal Server Error, 312-byte answer not shown``: no receiver text."""
    try:
        phrase = f" {HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    size = f", {len(body)}-byte answer not shown" if body else ""
    return f"HTTP {status}{phrase}{size}"


def _url_secrets(url: str) -> list[str]:
    try:
        u = urlsplit(url)
        user, password = u.username, u.password
    except ValueError:
        return []
    out = [v for _, v in parse_qsl(u.query, keep_blank_values=True)]
    out += [pair.partition("=")[2] for pair in u.query.split("&")]  # percent-escaped
    out += [x for x in (user, password) if x]
    out += [unquote(x) for x in (user, password) if x]
    return out


class Secrets:
    """The secret values of one output's configuration, to mask in free text."""

    def __init__(self, values: Iterable[str]) -> None:
        unique = {v for v in values if len(v) >= MIN_SECRET_LEN}
        self._values = sorted(unique, key=len, reverse=True)  # longest first

    @classmethod
    def of(
        cls,
        *,
        urls: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        auth: HttpAuth | None = None,
    ) -> Secrets:
        """Collect query values and user info of ``urls``, header values and auth secrets."""
        values: list[str] = []
        for url in urls:
            values += _url_secrets(url)
        values += list((headers or {}).values())
        if auth is not None:
            for field in (auth.token, auth.password, auth.hmac_secret):
                if isinstance(field, SecretStr):
                    values.append(field.get_secret_value())
            if auth.username:
                values.append(auth.username)
                if auth.password is not None:
                    pair = f"{auth.username}:{auth.password.get_secret_value()}"
                    values.append(base64.b64encode(pair.encode()).decode())
        return cls(values)

    def scrub(self, text: str) -> str:
        """``text`` with every configured secret replaced by ``***``."""
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text
