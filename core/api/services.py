"""API key services: create, revoke, authenticate, record use.

Authentication must find a key — and so its tenant — before any tenant scope exists,
while ``api_key`` sits behind the fail-closed tenant policy like every tenant-owned
table. Sentra answers that with one narrow ``SECURITY DEFINER`` function,
``api_key_authenticate(prefix, secret_hash)`` (migration 0100): it returns the tenant
and key id of the one active key whose prefix *and* hash both match, and nothing
else. Compared with the alternatives:

* a cross-tenant ``Scope`` with a SELECT policy would let any code in that scope read
  every tenant's key rows (hashes, names, scopes) — far more than a lookup needs;
* a non-tenant-owned index table (prefix → tenant) must be kept in step with
  ``api_key`` by hand and still leaks which tenant owns a prefix to a plain SELECT.

The function cannot list keys, cannot be probed for a prefix without its secret, and
returns no hash. Once it names the tenant, the request is scoped to it and the key is
read through the ordinary tenant policy. SQLite (the embedded default) has no row
security, so there the same query runs directly on the table.

``api_key.prefix`` is unique across tenants, which Citus cannot enforce on a table
distributed by tenant: before that step the lookup moves into a small reference table
``prefix → tenant_id`` behind the same function (platform/scaling.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from core.api.models import ApiKey
from core.api.models import ApiScope
from core.audit import log_action
from core.db import utcnow
from core.errors import DomainError
from core.errors import NotFound
from core.extensions import db
from core.models import User

TOKEN_PREFIX = "sk_"
#: how stale ``last_used_at`` may get: one write per key per minute at most
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class ApiKeyError(DomainError):
    """An API key could not be created or changed."""

    code = "api_key_invalid"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key and its full token, which exists only in this object."""

    key: ApiKey
    token: str


def hash_secret(secret: str) -> str:
    """SHA-256 of a key secret, hex (see core.api.models for why not argon2)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """Split ``sk_<prefix>_<secret>`` into (prefix, secret), or None if malformed."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not prefix or len(prefix) > 16 or not prefix.isalnum() or len(secret) < 20:
        return None
    return prefix, secret


def create_api_key(name: str, scopes: list[str], created_by: User | None) -> IssuedKey:
    """Create a key for the current tenant; the returned token is shown once, never stored."""
    name = (name or "").strip()
    if not name:
        raise ApiKeyError(_("Give the key a name."), code="api_key_name_required")
    wanted = {str(s) for s in scopes}
    unknown = wanted - {s.value for s in ApiScope}
    if unknown or not wanted:
        raise ApiKeyError(_("Choose at least one valid scope."), code="api_key_scopes_invalid")
    prefix = secrets.token_hex(6)  # 48 bits: collisions are not a practical concern
    secret = secrets.token_urlsafe(32)  # 256 bits
    key = ApiKey(
        name=name[:100],
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=[s.value for s in ApiScope if s.value in wanted],
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(key)
    db.session.flush()
    log_action(key, "core.api_key.created", created_by, {"name": key.name, "scopes": key.scopes})
    return IssuedKey(key=key, token=f"{TOKEN_PREFIX}{prefix}_{secret}")


def revoke_api_key(key: ApiKey, revoked_by: User | None) -> ApiKey:
    """Revoke a key of the current tenant; requests with it fail from now on."""
    if key.revoked_at is not None:
        raise ApiKeyError(_("This key is already revoked."), code="api_key_already_revoked")
    key.revoked_at = utcnow()
    db.session.flush()
    log_action(key, "core.api_key.revoked", revoked_by, {"name": key.name})
    return key


def list_api_keys() -> list[ApiKey]:
    """The current tenant's keys, newest first, revoked ones included."""
    return list(db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id.desc())))


def get_api_key(key_id: uuid.UUID) -> ApiKey:
    """A key of the current tenant, or NotFound."""
    from core.tenancy import current_tenant_id

    key = db.session.get(ApiKey, (current_tenant_id(), key_id))
    if key is None:
        raise NotFound(_("No such API key."))
    return key


def find_active_key(token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(tenant id, key id) of the active key ``token`` names, or None.

    Runs before any tenant scope: on PostgreSQL through ``api_key_authenticate``,
    the only cross-tenant path to ``api_key`` (see the module docstring).
    """
    parsed = parse_token(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    params = {"prefix": prefix, "hash": hash_secret(secret)}
    if db.session.get_bind().dialect.name == "postgresql":
        row = db.session.execute(
            sa.text("SELECT tenant_id, key_id FROM api_key_authenticate(:prefix, :hash)"),
            params,
        ).first()
    else:
        table = ApiKey.__table__
        # A Core select of the table, not the mapped class: the tenancy guard is for ORM
        # queries, and this is the one deliberate cross-tenant read (SQLite has no RLS).
        row = db.session.execute(
            sa.select(table.c.tenant_id, table.c.id).where(
                table.c.prefix == params["prefix"],
                table.c.secret_hash == params["hash"],
                table.c.revoked_at.is_(None),
            )
        ).first()
    return (row[0], row[1]) if row else None


def record_key_use(key: ApiKey, now: dt.datetime | None = None) -> bool:
    """Set ``last_used_at`` if it is more than a minute old; True if it wrote.

    A conditional UPDATE that skips a row another request has locked: concurrent
    requests of one key never queue behind each other for a timestamp.
    """
    now = now or utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return False
    cutoff = now - LAST_USED_RESOLUTION
    due = (
        sa.select(ApiKey.id)
        .where(
            ApiKey.tenant_id == key.tenant_id,
            ApiKey.id == key.id,
            sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < cutoff),
        )
        .with_for_update(skip_locked=True)
    )
    result = db.session.execute(
        sa.update(ApiKey)
        .where(ApiKey.tenant_id == key.tenant_id, ApiKey.id.in_(due))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)
