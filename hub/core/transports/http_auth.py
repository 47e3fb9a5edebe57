"""Authentication of pushed HTTP requests (bearer, token, basic, HMAC of the body), sans-io.

Private to :mod:`.http_server`. Secrets are compared in constant time; a failed
check raises :class:`Reject` with the status to answer and a one-line reason
naming the source and what to do (never the credentials given).
"""

from __future__ import annotations

__all__ = ["Reject", "auth_problem", "check_header_auth", "check_hmac"]

import base64
import hashlib
import hmac
from collections.abc import Mapping

from hub.transports import HttpAuth


class Reject(Exception):
    """A pushed request refused: answer ``status`` with the one-line ``reason``."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


def auth_problem(auth: HttpAuth) -> str | None:
    """What is missing from a route's auth settings, or None."""
    if auth.scheme in ("bearer", "token") and not auth.token:
        return f"auth scheme '{auth.scheme}' needs a token"
    if auth.scheme == "basic" and (not auth.username or auth.password is None):
        return "auth scheme 'basic' needs username and password"
    if auth.scheme == "hmac" and not auth.hmac_secret:
        return "auth scheme 'hmac' needs hmac_secret"
    return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _expected_authorization(auth: HttpAuth) -> str:
    if auth.scheme in ("bearer", "token"):
        assert auth.token is not None
        return f"{_SCHEMES[auth.scheme]} {auth.token.get_secret_value()}"
    assert auth.username is not None and auth.password is not None
    raw = f"{auth.username}:{auth.password.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


_SCHEMES = {"bearer": "Bearer", "token": "Token", "basic": "Basic"}
"""The ``Authorization`` scheme word of each header-checked scheme (``Token <token>``:
Django REST framework and others)."""


def check_header_auth(auth: HttpAuth, sid: str, headers: Mapping[str, str]) -> None:
    """Bearer/token/basic checked completely, HMAC only for presence (it needs the body).

    Raises :class:`Reject` (401 missing, 403 wrong) naming source ``sid``."""
    if auth.scheme == "none":
        return
    if auth.scheme == "hmac":
        if not headers.get(auth.hmac_header):
            sig = f'Signature header="{auth.hmac_header}", algorithm="hmac-{auth.hmac_algorithm}"'
            raise Reject(
                401,
                f"source {sid!r} needs an HMAC-{auth.hmac_algorithm} hex signature of the "
                f"body in header {auth.hmac_header}",
                {"WWW-Authenticate": sig},
            )
        return
    scheme = _SCHEMES[auth.scheme]
    challenge = {"WWW-Authenticate": f'{scheme} realm="crowdhub ingest {sid}"'}
    prefix, _, value = headers.get("Authorization", "").partition(" ")
    if prefix.lower() != scheme.lower():
        raise Reject(
            401, f"source {sid!r} needs {scheme} credentials in the Authorization header", challenge
        )
    if not _same(f"{scheme} {value.strip()}", _expected_authorization(auth)):
        raise Reject(
            403,
            f"source {sid!r}: wrong credentials; check the token/password configured on the device",
        )


def check_hmac(auth: HttpAuth, sid: str, headers: Mapping[str, str], body: bytes) -> None:
    """The HMAC header must match the body's HMAC; raises :class:`Reject` (403)."""
    assert auth.hmac_secret is not None
    given = headers.get(auth.hmac_header, "").strip().lower()
    given = given.removeprefix(f"{auth.hmac_algorithm}=")
    key = auth.hmac_secret.get_secret_value().encode("utf-8")
    expected = hmac.new(key, body, getattr(hashlib, auth.hmac_algorithm)).hexdigest()
    if not _same(given, expected):
        raise Reject(
            403,
            f"source {sid!r}: {auth.hmac_header} does not match the "
            f"HMAC-{auth.hmac_algorithm} of the body; check the shared secret",
        )
