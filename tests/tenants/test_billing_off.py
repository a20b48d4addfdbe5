"""The embedded default: no Stripe key, billing off, every tenant on an unlimited trial."""

from __future__ import annotations

import uuid

import pytest

from core.config import ConfigError
from core.config import from_env
from core.config import validate
from core.models import Role
from tenants.billing import queries
from tenants.billing import services


def test_billing_page_says_billing_is_off(client, create_tenant, create_user, login):
    tenant = create_tenant()
    login(client, create_user(tenant=tenant, role=Role.OWNER))
    page = client.get(f"/o/{tenant.slug}/billing/")
    assert page.status_code == 200
    assert b"Billing is switched off on this installation." in page.data
    assert b"Trial (unlimited, billing off)" in page.data
    assert b"Upgrade to" not in page.data
    refused = client.post(
        f"/o/{tenant.slug}/billing/checkout",
        data={"plan": "clinic", "request_key": str(uuid.uuid4())},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 400 and refused.json["code"] == "billing_off"


def test_bookings_are_never_limited_and_no_query_is_made(app, create_tenant, monkeypatch):
    tenant = create_tenant()

    def must_not_count(*args, **kwargs):
        raise AssertionError("billing off must not count bookings")

    monkeypatch.setattr(queries, "count_bookings_this_month", must_not_count)
    monkeypatch.setattr(queries, "get_account", must_not_count)
    assert queries.booking_allowed(tenant) == (True, None)
    assert queries.venue_allowed(tenant) == (True, None)
    assert queries.seat_allowed(tenant) == (True, None)
    assert services.notify_plan_limits() == 0


def test_webhook_does_not_exist_while_billing_is_off(client):
    assert client.post("/billing/stripe/webhook", data="{}").status_code == 404


def test_settings_default_to_billing_off_and_need_the_webhook_secret_with_a_key(tmp_path):
    settings = from_env(tmp_path, {})
    assert settings["STRIPE_SECRET_KEY"] is None
    assert settings["BILLING_GRACE_DAYS"] == 7
    validate(settings)
    with_key = from_env(tmp_path, {"STRIPE_SECRET_KEY": "sk_live_x"})
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        validate(with_key)
    validate(from_env(tmp_path, {"STRIPE_SECRET_KEY": "sk_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}))
