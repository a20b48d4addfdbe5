"""API behaviour that only PostgreSQL can show: row-level security on keys and the
lookup function, and concurrent requests sharing one Idempotency-Key."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from core.api.blueprint import ApiBlueprint
from core.api.models import ApiKey
from core.api.models import ApiScope
from core.api.services import hash_secret
from core.extensions import db
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from tests.api_support import bearer
from tests.api_support import issue_key


@pytest.fixture(params=["postgresql"])
def backend(request) -> str:
    """Only PostgreSQL here: these tests are about its row security and locking."""
    return request.param


def test_app_role_sees_no_key_outside_its_tenant_but_the_lookup_finds_it(app, create_tenant):
    a, b = create_tenant(), create_tenant()
    token = issue_key(a)
    issue_key(b)
    prefix, secret = token.removeprefix("sk_").split("_", 1)
    with db.engine.connect() as conn:  # the app role, no tenant set
        assert conn.execute(sa.text("SELECT current_user")).scalar() == "sentra_test_app"
        assert conn.execute(sa.text("SELECT count(*) FROM api_key")).scalar() == 0
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, false)"), {"t": str(b.id)})
        assert conn.execute(sa.text("SELECT count(*) FROM api_key")).scalar() == 1
        conn.execute(sa.text("SELECT set_config('app.tenant_id', '', false)"))
        row = conn.execute(
            sa.text("SELECT * FROM api_key_authenticate(:p, :h)"),
            {"p": prefix, "h": hash_secret(secret)},
        ).one()
        assert row._mapping == {"tenant_id": a.id, "key_id": row.key_id}
        wrong = conn.execute(
            sa.text("SELECT count(*) FROM api_key_authenticate(:p, :h)"),
            {"p": prefix, "h": hash_secret("guess")},
        ).scalar()
        assert wrong == 0
        # the function is the only way in: it cannot be replaced by the app role
        with pytest.raises(sa.exc.ProgrammingError):
            conn.execute(
                sa.text(
                    "CREATE OR REPLACE FUNCTION api_key_authenticate(p_prefix text, "
                    "p_secret_hash text) RETURNS TABLE (tenant_id uuid, key_id uuid) "
                    "LANGUAGE sql AS $$ SELECT NULL::uuid, NULL::uuid $$"
                )
            )
        conn.rollback()


def test_a_key_cannot_be_planted_in_another_tenant(app, create_tenant):
    a, b = create_tenant(), create_tenant()
    with tenant_context(a):
        db.session.add(
            ApiKey(tenant_id=a.id, name="x", prefix="abcdef012345", secret_hash="0" * 64,
                   scopes=["read"])
        )  # fmt: skip
        db.session.flush()
        db.session.execute(
            sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(b.id)}
        )
        with pytest.raises(sa.exc.ProgrammingError):  # RLS WITH CHECK
            db.session.execute(
                sa.text(
                    "INSERT INTO api_key (tenant_id, id, name, prefix, secret_hash, scopes, "
                    "created_at) VALUES (:t, gen_random_uuid(), 'y', 'fedcba987654', :h, "
                    "'[]', now())"
                ),
                {"t": str(a.id), "h": "1" * 64},
            )
        db.session.rollback()


#: a POST that does its work, then waits at a gate before the request commits
slow_api = ApiBlueprint("api_slow", __name__, url_prefix="/api/slow", title="Slow", version="0")
GATE, ENTERED = threading.Event(), threading.Event()


@slow_api.operation("/venues", method="POST", summary="Slow create", scope=ApiScope.BOOKINGS)
def slow_create():
    venue = Venue(name="slow", address="x", province="Bali", city="Denpasar")
    db.session.add(venue)
    db.session.flush()
    ENTERED.set()
    assert GATE.wait(10)
    return {"id": str(venue.id)}


@pytest.fixture
def gated_api(app, client):
    GATE.clear()
    ENTERED.clear()
    app.register_blueprint(slow_api)
    yield client, GATE, ENTERED
    GATE.set()  # never leave a request thread hanging


def _post_in_thread(client, token, key, results, name):
    def run():
        results[name] = client.post(
            "/api/slow/venues", json={}, headers=bearer(token, **{"Idempotency-Key": key})
        )

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_concurrent_duplicate_waits_and_replays(gated_api, create_tenant):
    client, gate, entered = gated_api
    tenant = create_tenant()
    token = issue_key(tenant, scopes=["bookings"])
    results: dict = {}
    first = _post_in_thread(client, token, "dup-1", results, "first")
    assert entered.wait(10)
    second = _post_in_thread(client, token, "dup-1", results, "second")
    time.sleep(0.5)
    assert "second" not in results  # waiting on the first request's uncommitted record
    gate.set()
    first.join(10)
    second.join(10)
    assert results["first"].status_code == 201
    assert results["second"].status_code == 201
    assert results["second"].headers["Idempotent-Replayed"] == "true"
    assert results["second"].json == results["first"].json
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Venue)) == 1


def test_a_duplicate_that_waits_too_long_gets_409(gated_api, create_tenant, app):
    app.config["IDEMPOTENCY_LOCK_TIMEOUT"] = 0.3
    client, gate, entered = gated_api
    tenant = create_tenant()
    token = issue_key(tenant, scopes=["bookings"])
    results: dict = {}
    first = _post_in_thread(client, token, "dup-2", results, "first")
    assert entered.wait(10)
    refused = client.post(
        "/api/slow/venues", json={}, headers=bearer(token, **{"Idempotency-Key": "dup-2"})
    )
    assert refused.status_code == 409
    assert refused.json["code"] == "idempotency_key_in_use"
    gate.set()
    first.join(10)
    assert results["first"].status_code == 201
    replay = client.post(
        "/api/slow/venues", json={}, headers=bearer(token, **{"Idempotency-Key": "dup-2"})
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Venue)) == 1
