"""Bearer authentication with API keys, and scopes.

``Authorization: Bearer sk_<prefix>_<secret>``. The key names its tenant (through
``core.api.services.find_active_key``), the request is scoped to that tenant, and the
key itself is then read under the ordinary tenant policy. Resolved once per request
and kept in ``g``: the rate limiter asks first (its key is the API key), the
blueprint's before_request second.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import g
from flask import request
from flask_babel import gettext as _

from core.api.errors import Forbidden
from core.api.errors import Unauthenticated
from core.api.models import ApiKey
from core.api.models import ApiScope
from core.api.services import find_active_key
from core.api.services import record_key_use
from core.extensions import db
from core.models import Tenant
from core.tenancy import scope_request_to

_UNSET = object()


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def resolve_api_key() -> ApiKey | None:
    """The active key of this request (scoping the request to its tenant), or None."""
    cached = g.get("api_key", _UNSET)
    if cached is not _UNSET:
        return cached
    g.api_key = None
    token = bearer_token()
    found = find_active_key(token) if token else None
    if found is not None:
        tenant_id, key_id = found
        tenant = db.session.get(Tenant, tenant_id)
        scope_request_to(tenant)
        key = db.session.get(ApiKey, (tenant_id, key_id))
        if key is not None and key.is_active:
            g.api_key, g.tenant = key, tenant
    return g.api_key


def authenticate() -> ApiKey:
    """The request's key, or a 401 problem; records the key's use (once a minute)."""
    key = resolve_api_key()
    if key is None:
        if bearer_token() is None:
            raise Unauthenticated(_("Send an API key: Authorization: Bearer sk_…"))
        raise Unauthenticated(
            _("The API key is not valid or has been revoked."), code="invalid_api_key"
        )
    record_key_use(key)
    return key


def rate_limit_key() -> str:
    """Flask-Limiter key: the API key's id, or the client address for requests without one.

    Authenticates here (before the blueprint's before_request, which the limiter
    precedes) so that one key's budget is its own whichever address it comes from,
    and guessed tokens share the budget of their address.
    """
    key = resolve_api_key()
    if key is not None:
        return f"api-key:{key.id}"
    return f"api-ip:{request.remote_addr}"


def require_scope(scope: ApiScope | str) -> Callable:
    """Refuse (403 problem) a key that lacks ``scope``."""
    scope = ApiScope(scope)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            check_scope(scope)
            return view(*args, **kwargs)

        wrapped.required_scope = scope
        return wrapped

    return decorator


def check_scope(scope: ApiScope) -> None:
    """Raise a 403 problem unless the request's key has ``scope``."""
    key = g.get("api_key")
    if key is None or not key.has_scope(scope):
        raise Forbidden(
            _("This API key lacks the %(scope)s scope.", scope=scope.value),
            code="scope_missing",
            required_scope=scope.value,
        )
