"""Signed, expiring tokens for links sent by email, and the absolute URLs they go in.

Each purpose has its own salt, so a token made for one purpose (verify an email)
is refused for another (reset a password) even though both are signed with the
same SECRET_KEY. Tokens carry ids, never secrets: the payload is only signed, and
anyone holding the link can read it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer

#: lifetimes in seconds
VERIFY_EMAIL_MAX_AGE = 3 * 24 * 3600
RESET_PASSWORD_MAX_AGE = 3600


class TokenExpired(Exception):
    """The token was genuine but is too old."""


class TokenInvalid(Exception):
    """The token was not made by us for this purpose (or was tampered with)."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"sentra.auth.{purpose}")


def make_token(purpose: str, payload: dict[str, Any]) -> str:
    """Sign ``payload`` (JSON-serialisable) for ``purpose``, stamped with the current time."""
    return _serializer(purpose).dumps(payload)


def load_token(purpose: str, token: str, max_age: int) -> dict[str, Any]:
    """Return the payload of a token made for ``purpose`` no more than ``max_age`` seconds ago."""
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenExpired from exc
    except BadSignature as exc:
        raise TokenInvalid from exc
    if not isinstance(payload, dict):
        raise TokenInvalid
    return payload


def fingerprint(value: str) -> str:
    """A short keyed digest of ``value``: a token bound to it dies when the value changes.

    Used with the password hash, so a reset link stops working once the password has
    been reset (or changed in any other way). Keyed, so the readable payload reveals
    nothing about the hash.
    """
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"fingerprint:" + value.encode(), hashlib.sha256).hexdigest()[:32]


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on ``BASE_URL`` for links in emails (works outside a request)."""
    path = current_app.url_map.bind("sentra.invalid").build(endpoint, values)
    return current_app.config["BASE_URL"].rstrip("/") + path
