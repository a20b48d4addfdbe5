"""API keys: shown once, stored as a hash, scoped, revocable, last use recorded."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import sqlalchemy as sa

from core.api.models import ApiKey
from core.api.services import find_active_key
from core.api.services import record_key_use
from core.db import utcnow
from core.extensions import db
from core.models import AuditEntry
from core.models import Role
from core.tenancy import tenant_context
from tests.api_support import bearer
from tests.api_support import issue_key

TOKEN_RE = re.compile(rb'value="(sk_[0-9a-f]+_[A-Za-z0-9_-]+)"')


def _create_in_console(client, tenant, name="HR sync", scopes=("read", "roster")):
    return client.post(f"/o/{tenant.slug}/api-keys/", data={"name": name, "scopes": list(scopes)})


def test_console_shows_the_secret_once_and_stores_only_its_hash(
    app, client, create_tenant, create_user, login
):
    tenant = create_tenant()
    owner = create_user(tenant=tenant, role=Role.OWNER)
    login(client, owner)

    created = _create_in_console(client, tenant)
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    token = TOKEN_RE.search(created.data).group(1).decode()
    prefix, secret = token.removeprefix("sk_").split("_", 1)

    listing = client.get(f"/o/{tenant.slug}/api-keys/")
    assert listing.status_code == 200
    assert secret.encode() not in listing.data
    assert f"sk_{prefix}_".encode() in listing.data  # the prefix tells keys apart

    with tenant_context(tenant):
        key = db.session.scalar(sa.select(ApiKey))
        assert key.prefix == prefix
        assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert key.scopes == ["read", "roster"]
        assert key.created_by_id == owner.id
        stored = " ".join(str(getattr(key, c.key)) for c in ApiKey.__table__.columns)
        assert secret not in stored
        actions = db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.tenant_id == tenant.id)
        ).all()
    assert "core.api_key.created" in actions
    # the token works
    assert client.get("/api/v1/venues", headers=bearer(token)).status_code == 200


def test_console_refuses_bad_input_and_members_below_admin(
    app, client, create_tenant, create_user, login
):
    tenant = create_tenant()
    admin = create_user(tenant=tenant, role=Role.ADMIN)
    coordinator = create_user(tenant=tenant, role=Role.COORDINATOR)
    login(client, admin)
    assert _create_in_console(client, tenant, name=" ").status_code == 422
    assert _create_in_console(client, tenant, scopes=("root",)).status_code == 422
    assert _create_in_console(client, tenant, scopes=()).status_code == 422
    login(client, coordinator)
    assert client.get(f"/o/{tenant.slug}/api-keys/").status_code == 403
    assert _create_in_console(client, tenant).status_code == 403
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_revoked_key_is_refused_at_once(app, client, create_tenant, create_user, login):
    tenant = create_tenant()
    owner = create_user(tenant=tenant)
    token = issue_key(tenant)
    assert client.get("/api/v1/venues", headers=bearer(token)).status_code == 200

    login(client, owner)
    with tenant_context(tenant):
        key_id = db.session.scalar(sa.select(ApiKey.id))
    revoked = client.post(f"/o/{tenant.slug}/api-keys/{key_id}/revoke")
    assert revoked.status_code == 302

    refused = client.get("/api/v1/venues", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "invalid_api_key"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    with tenant_context(tenant):
        assert db.session.get(ApiKey, (tenant.id, key_id)).revoked_at is not None
        assert db.session.scalar(
            sa.select(AuditEntry).where(AuditEntry.action == "core.api_key.revoked")
        )
    # revoking twice says so, and another tenant's key id is a 404
    assert client.post(f"/o/{tenant.slug}/api-keys/{key_id}/revoke").status_code == 302
    other = create_tenant()
    other_token = issue_key(other)
    with tenant_context(other):
        other_id = db.session.scalar(sa.select(ApiKey.id))
    assert client.post(f"/o/{tenant.slug}/api-keys/{other_id}/revoke").status_code == 404
    assert client.get("/api/v1/venues", headers=bearer(other_token)).status_code == 200


def test_missing_malformed_and_wrong_tokens_get_401_problems(app, client, create_tenant):
    tenant = create_tenant()
    token = issue_key(tenant)
    prefix = token.split("_")[1]
    cases = {
        None: "unauthenticated",
        "Basic dXNlcjpwYXNz": "unauthenticated",
        "Bearer ": "unauthenticated",
        "Bearer nonsense": "invalid_api_key",
        f"Bearer sk_{prefix}_{'x' * 43}": "invalid_api_key",  # right prefix, wrong secret
        f"Bearer {token}x": "invalid_api_key",
    }
    for header, code in cases.items():
        headers = {"Authorization": header} if header else {}
        response = client.get("/api/v1/venues", headers=headers)
        assert response.status_code == 401, header
        assert response.mimetype == "application/problem+json"
        assert response.json["code"] == code, header


def test_last_used_is_written_at_most_once_a_minute(app, client, create_tenant):
    tenant = create_tenant()
    token = issue_key(tenant)
    client.get("/api/v1/venues", headers=bearer(token))
    with tenant_context(tenant):
        key = db.session.scalar(sa.select(ApiKey))
        first = key.last_used_at
        assert first is not None and utcnow() - first < dt.timedelta(seconds=30)
        assert record_key_use(key, now=first + dt.timedelta(seconds=30)) is False
        assert record_key_use(key, now=first + dt.timedelta(seconds=61)) is True
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(ApiKey, (tenant.id, key.id)).last_used_at > first


def test_lookup_finds_the_tenant_before_any_scope_and_only_with_the_secret(app, create_tenant):
    a, b = create_tenant(), create_tenant()
    token_a, token_b = issue_key(a), issue_key(b)
    db.session.commit()  # no tenant context is active here
    found_a = find_active_key(token_a)
    assert found_a is not None and found_a[0] == a.id
    assert find_active_key(token_b)[0] == b.id
    prefix = token_a.split("_")[1]
    assert find_active_key(f"sk_{prefix}_{'A' * 43}") is None
    assert find_active_key("sk_" + prefix) is None


def test_operators_can_create_a_key_from_the_command_line(app, runner, client, create_tenant):
    tenant = create_tenant()
    result = runner.invoke(
        args=["api", "create-key", "--tenant", tenant.slug, "--name", "st", "--scope", "read"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert client.get("/api/v1/venues", headers=bearer(token)).status_code == 200
    missing = runner.invoke(args=["api", "create-key", "--tenant", "nope", "--name", "x"])
    assert missing.exit_code != 0 and "No tenant" in missing.output
