"""The app factory, settings validation, error handling and the console's door."""

from __future__ import annotations

import pytest

from core.config import ConfigError
from core.config import from_env
from core.config import validate


def test_home_page_answers(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Sentra" in response.data
    assert response.headers["X-Request-ID"]


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ok"}


def test_unknown_page_is_html_for_browsers_and_problem_json_for_api(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert b"Traceback" not in page.data
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.mimetype == "application/problem+json"
    assert api.json["status"] == 404
    assert api.json["request_id"] == api.headers["X-Request-ID"]


def test_request_id_from_proxy_is_kept_only_if_sane(client):
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abcd-1234-efgh"}).headers["X-Request-ID"]
        == "abcd-1234-efgh"
    )
    bad = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert bad != "<script>" and len(bad) == 16


def test_production_refuses_to_start_without_its_settings(tmp_path):
    settings = from_env(tmp_path, {"SENTRA_ENV": "production"})
    with pytest.raises(ConfigError) as excinfo:
        validate(settings)
    message = str(excinfo.value)
    for name in ("SECRET_KEY", "DATABASE_URL", "DATA_KEYS", "REDIS_URL"):
        assert name in message


def test_development_defaults_need_nothing(tmp_path):
    settings = from_env(tmp_path, {})
    validate(settings)
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'sentra.db'}"
    assert settings["MAIL_URL"] == f"file://{tmp_path / 'outbox'}"
    assert settings["REDIS_URL"] is None
    # The generated secret key survives a restart.
    assert from_env(tmp_path, {})["SECRET_KEY"] == settings["SECRET_KEY"]


def test_bad_urls_are_named(tmp_path):
    settings = from_env(
        tmp_path,
        {
            "DATABASE_URL": "mysql://x",
            "STORAGE_URL": "ftp://x",
            "MAIL_URL": "http://x",
            "REDIS_URL": "http://x",
            "DATA_KEYS": "k1:short",
        },
    )
    with pytest.raises(ConfigError) as excinfo:
        validate(settings)
    for name in ("DATABASE_URL", "STORAGE_URL", "MAIL_URL", "REDIS_URL", "DATA_KEYS"):
        assert name in str(excinfo.value)


def test_postgres_url_uses_psycopg3(tmp_path):
    settings = from_env(tmp_path, {"DATABASE_URL": "postgres://u@h/db"})
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_console_needs_sign_in_and_membership(client, create_tenant, create_user, login):
    tenant = create_tenant("acme")
    other = create_tenant("other")
    member = create_user(tenant=tenant)
    assert client.get("/o/acme/").status_code == 302  # to sign-in
    login(client, member)
    assert client.get("/o/acme/").status_code == 200
    # Another tenant's console and a tenant that does not exist look the same.
    assert client.get(f"/o/{other.slug}/").status_code == 404
    assert client.get("/o/no-such-tenant/").status_code == 404


def test_security_headers(client):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def _add_failing_routes(app):
    from core.errors import Conflict
    from core.extensions import csrf
    from core.extensions import db
    from core.models import Tenant
    from core.models import TenantKind

    def half_done(kind):
        db.session.add(Tenant(slug="half-done", name="Half", kind=TenantKind.CLINIC))
        db.session.flush()
        if kind == "domain":
            raise Conflict("That name is taken.", code="name_taken")
        raise RuntimeError("boom: secret internals")

    app.add_url_rule("/test/half-done/<kind>", view_func=half_done, methods=["POST"])
    api_view = csrf.exempt(lambda kind: half_done(kind))
    app.add_url_rule("/api/test/half-done/<kind>", "api_half_done", api_view, methods=["POST"])


@pytest.mark.parametrize("kind", ["domain", "crash"])
def test_an_error_saves_nothing(app, client, kind):
    import sqlalchemy as sa

    from core.extensions import db
    from core.models import Tenant

    _add_failing_routes(app)
    response = client.post(f"/test/half-done/{kind}")
    assert response.status_code == (409 if kind == "domain" else 500)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tenant)) == 0


def test_domain_error_answers_with_its_code(app, client):
    _add_failing_routes(app)
    page = client.post("/test/half-done/domain")
    assert page.mimetype == "text/html" and b"That name is taken." in page.data
    api = client.post("/api/test/half-done/domain")
    assert api.mimetype == "application/problem+json"
    assert api.json["code"] == "name_taken" and api.json["status"] == 409
    assert api.json["title"] == "That name is taken."


def test_crash_shows_no_internals(app, client, caplog):
    _add_failing_routes(app)
    page = client.post("/test/half-done/crash")
    assert page.status_code == 500
    assert b"secret internals" not in page.data and b"Traceback" not in page.data
    assert page.headers["X-Request-ID"].encode() in page.data  # a reference to quote
    api = client.post("/api/test/half-done/crash")
    assert api.json["code"] == "server_error" and "secret" not in api.get_data(as_text=True)
    assert "boom: secret internals" in caplog.text  # but the operators see it


def test_translation_works_outside_a_request(app, indonesian_by_default):
    """Jobs and CLI commands have no request: they speak the default language,
    Indonesian, unless told otherwise (emails use the person's own)."""
    from flask_babel import force_locale
    from flask_babel import gettext

    assert gettext("Page not found") == "Halaman tidak ditemukan"
    with force_locale("en"):
        assert gettext("Page not found") == "Page not found"


@pytest.mark.parametrize(("proxies", "seen"), [(0, "10.0.0.2"), (1, "203.0.113.7")])
def test_client_address_comes_from_trusted_proxies_only(tmp_path, proxies, seen):
    """Behind a load balancer every visitor arrives from its address: with
    TRUSTED_PROXY_COUNT=1 rate limits and the audit log see the visitor's; with 0 (the
    default) a forwarded header is not believed, so a client cannot choose its address."""
    from flask import request

    from core.app import create_app
    from tests.conftest import base_config

    app = create_app({**base_config(tmp_path), "TRUSTED_PROXY_COUNT": proxies})
    app.add_url_rule("/_address", "address", lambda: request.remote_addr)
    answer = app.test_client().get(
        "/_address",
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert answer.get_data(as_text=True) == seen
