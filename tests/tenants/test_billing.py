"""Billing with Stripe on: the real ``stripe`` library against a loopback fake.

Webhooks are signed here with the secret and verified for real by the app. Every
test runs on SQLite and PostgreSQL (RLS on); the parallel burst runs on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.extensions import db
from core.models import AuditEntry
from core.models import OutboxMessage
from core.models import Role
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from tenants.billing import queries
from tenants.billing import services
from tenants.billing.models import BillingAccount
from tenants.billing.models import BillingInvoice
from tenants.billing.models import StripeEvent
from tenants.billing.plans import PLANS
from tenants.billing.plans import PlanCode
from tests.stripe_fake import event
from tests.stripe_fake import sign
from tests.stripe_fake import start_fake
from tests.stripe_fake import subscription

SECRET_KEY = "sk_test_sentra_fake"
WEBHOOK_SECRET = "whsec_test_sentra"
PRICE_CLINIC = "price_clinic_monthly"
PRICE_ENTERPRISE = "price_enterprise_monthly"
WEBHOOK = "/billing/stripe/webhook"


@pytest.fixture
def stripe_fake():
    fake, server = start_fake()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_config(app_config, stripe_fake):
    return {
        **app_config,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_fake.url,
        "STRIPE_PRICE_CLINIC": PRICE_CLINIC,
        "STRIPE_PRICE_ENTERPRISE": PRICE_ENTERPRISE,
        "BILLING_GRACE_DAYS": 7,
    }


@pytest.fixture
def org(create_tenant, create_user, client, login):
    """A tenant with two owners, an admin and a check-in clerk; the client is owner one."""
    tenant = create_tenant()
    owner = create_user(tenant=tenant, role=Role.OWNER, email=f"owner-{tenant.slug}@example.test")
    owner2 = create_user(tenant=tenant, role=Role.OWNER)
    admin = create_user(tenant=tenant, role=Role.ADMIN)
    clerk = create_user(tenant=tenant, role=Role.CHECKIN)
    login(client, owner)
    return dataclasses.make_dataclass("Org", ["tenant", "owner", "owner2", "admin", "clerk"])(
        tenant, owner, owner2, admin, clerk
    )


def post_event(client, evt: dict, *, secret=WEBHOOK_SECRET, timestamp=None, body=None):
    payload = body if body is not None else json.dumps(evt)
    return client.post(
        WEBHOOK,
        data=payload,
        headers={"Stripe-Signature": sign(payload, secret, timestamp)},
        content_type="application/json",
    )


def checkout(client, org, plan="clinic", key=None):
    return client.post(
        f"/o/{org.tenant.slug}/billing/checkout",
        data={"plan": plan, "request_key": str(key or uuid.uuid4())},
    )


def account_of(tenant) -> BillingAccount | None:
    db.session.expire_all()
    return queries.get_account(tenant)


def subscribe(client, stripe_fake, org, status="active", price=PRICE_CLINIC, sub_id="sub_1"):
    """Checkout, then Stripe's checkout.session.completed; returns the customer id."""
    assert checkout(client, org).status_code == 303
    customer = account_of(org.tenant).stripe_customer_id
    stripe_fake.subscriptions[sub_id] = subscription(sub_id, customer, price, status)
    completed = event(
        f"evt_cs_{sub_id}",
        "checkout.session.completed",
        {
            "id": "cs_x",
            "object": "checkout.session",
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": str(org.tenant.id),
            "subscription": sub_id,
        },
    )
    assert post_event(client, completed).json["outcome"] == "processed"
    return customer


def invoice(inv_id, customer, sub_id, status, amount=150_000_000):
    return {
        "id": inv_id,
        "object": "invoice",
        "customer": customer,
        "status": status,
        "number": f"SENTRA-{inv_id[-4:]}",
        "currency": "idr",
        "amount_due": amount,
        "amount_paid": amount if status == "paid" else 0,
        "hosted_invoice_url": f"https://invoice.stripe.test/{inv_id}",
        "created": int(time.time()),
        "period_start": int(time.time()),
        "period_end": int(time.time()) + 30 * 86400,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub_id},
        },
    }


def events_count() -> int:
    with cross_tenant(Scope.SYSTEM):
        return db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent))


def outbox_to(tenant, template) -> list[str]:
    with tenant_context(tenant):
        return sorted(
            db.session.scalars(
                sa.select(OutboxMessage.recipient).where(
                    OutboxMessage.tenant_id == tenant.id, OutboxMessage.template == template
                )
            )
        )


def audit_count(tenant, action) -> int:
    with tenant_context(tenant):
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.tenant_id == tenant.id, AuditEntry.action == action)
        )


# --- Checkout and portal -------------------------------------------------------------


def test_stripe_library_points_at_the_fake_with_the_pinned_api_version(app, stripe_fake):
    import stripe

    from tenants.billing.gateway import get_gateway

    gateway = get_gateway()
    stripe_fake.subscriptions["sub_probe"] = subscription("sub_probe", "cus_x", PRICE_CLINIC)
    assert gateway.retrieve_subscription("sub_probe")["id"] == "sub_probe"
    (call,) = stripe_fake.calls("GET", "/v1/subscriptions/sub_probe")
    assert call.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert call.headers["stripe-version"] == stripe.api_version
    assert stripe.api_key is None  # the gateway never sets the global key


def test_owner_upgrades_through_checkout_in_subscription_mode(client, org, stripe_fake):
    key = uuid.uuid4()
    response = checkout(client, org, "clinic", key)
    assert response.status_code == 303
    assert response.location.startswith("https://checkout.stripe.test/c/pay/cs_")

    (customer_call,) = stripe_fake.calls("POST", "/v1/customers")
    assert customer_call.headers["idempotency-key"] == f"sentra-customer-{org.tenant.id}"
    assert customer_call.params["metadata[tenant_id]"] == str(org.tenant.id)
    (session_call,) = stripe_fake.calls("POST", "/v1/checkout/sessions")
    params = session_call.params
    assert params["mode"] == "subscription"
    assert params["client_reference_id"] == str(org.tenant.id)
    assert params["line_items[0][price]"] == PRICE_CLINIC
    assert params["line_items[0][quantity]"] == "1"
    assert params["subscription_data[metadata][tenant_id]"] == str(org.tenant.id)
    assert (
        params["success_url"] == f"http://localhost/o/{org.tenant.slug}/billing/?checkout=success"
    )
    assert session_call.headers["idempotency-key"].endswith(str(key))

    account = account_of(org.tenant)
    assert account.stripe_customer_id == params["customer"]
    # The redirect is not proof of payment: the plan waits for Stripe's webhook.
    assert account.plan == PlanCode.TRIAL and account.subscription_status is None


def test_double_submitted_form_is_one_checkout_and_one_customer(client, org, stripe_fake):
    key = uuid.uuid4()
    first = checkout(client, org, "enterprise", key)
    second = checkout(client, org, "enterprise", key)
    assert first.location == second.location
    assert len(stripe_fake.checkout_sessions) == 1
    assert len(stripe_fake.customers) == 1
    # A new form (new key) is a new session, for the same customer.
    third = checkout(client, org, "enterprise")
    assert third.location != first.location
    assert len(stripe_fake.customers) == 1


def test_checkout_refuses_unknown_plans_and_live_subscribers(client, org, stripe_fake):
    assert checkout(client, org, "trial").status_code == 400
    assert checkout(client, org, "gold").status_code == 400
    assert stripe_fake.calls("POST", "/v1/checkout/sessions") == []
    subscribe(client, stripe_fake, org)
    again = client.post(
        f"/o/{org.tenant.slug}/billing/checkout",
        data={"plan": "enterprise", "request_key": str(uuid.uuid4())},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 409 and again.json["code"] == "use_portal"


def test_portal_opens_for_the_tenants_customer(client, org, stripe_fake):
    no_customer = client.post(
        f"/o/{org.tenant.slug}/billing/portal", headers={"Accept": "application/json"}
    )
    assert no_customer.status_code == 400 and no_customer.json["code"] == "no_customer"
    customer = subscribe(client, stripe_fake, org)
    response = client.post(f"/o/{org.tenant.slug}/billing/portal")
    assert response.status_code == 303
    assert response.location.startswith("https://billing.stripe.test/p/session/")
    (call,) = stripe_fake.calls("POST", "/v1/billing_portal/sessions")
    assert call.params == {
        "customer": customer,
        "return_url": f"http://localhost/o/{org.tenant.slug}/billing/",
    }


def test_stripe_failure_is_a_clear_retryable_error_and_saves_nothing(client, org, stripe_fake):
    stripe_fake.fail_with = 402
    response = checkout(client, org)
    assert response.status_code == 503
    assert b"payment provider could not be reached" in response.data
    assert account_of(org.tenant) is None


def test_billing_pages_are_for_owners_only(client, org, login, create_user, create_tenant):
    url = f"/o/{org.tenant.slug}/billing/"
    assert client.get(url).status_code == 200
    for member in (org.admin, org.clerk):
        login(client, member)
        assert client.get(url).status_code == 403
        assert checkout(client, org).status_code == 403
        assert client.post(url + "portal").status_code == 403
    stranger = create_user(tenant=create_tenant(), role=Role.OWNER)
    login(client, stranger)
    assert client.get(url).status_code == 404


# --- webhook signature ---------------------------------------------------------------


def _completed(org, customer="cus_unknown"):
    return event(
        "evt_sig",
        "checkout.session.completed",
        {
            "id": "cs_sig",
            "object": "checkout.session",
            "mode": "payment",
            "customer": customer,
            "client_reference_id": str(org.tenant.id),
        },
    )


def test_valid_signature_is_accepted_and_recorded(client, org):
    response = post_event(client, _completed(org))
    assert response.status_code == 200
    assert response.json["outcome"] == "processed"
    assert events_count() == 1


def test_bad_signatures_are_refused_with_400_and_change_nothing(client, org):
    evt = _completed(org)
    payload = json.dumps(evt)
    good = sign(payload, WEBHOOK_SECRET)
    # signed, then changed (another tenant claimed): the signature no longer matches
    tampered = payload.replace(str(org.tenant.id), str(uuid.uuid4()))
    cases = {
        "tampered body": (tampered, {"Stripe-Signature": good}),
        "wrong secret": (payload, {"Stripe-Signature": sign(payload, "whsec_someone_else")}),
        # beyond the 300 s tolerance: a captured request replayed later
        "expired": (
            payload,
            {"Stripe-Signature": sign(payload, WEBHOOK_SECRET, int(time.time()) - 301)},
        ),
        "missing header": (payload, {}),
        "garbage header": (payload, {"Stripe-Signature": "t=abc,v1=zzz"}),
        "not json": ("{nope", {"Stripe-Signature": sign("{nope", WEBHOOK_SECRET)}),
    }
    for name, (body, headers) in cases.items():
        response = client.post(WEBHOOK, data=body, headers=headers, content_type="application/json")
        assert response.status_code == 400, name
    assert events_count() == 0
    assert account_of(org.tenant) is None


def test_timestamp_within_tolerance_is_accepted(client, org):
    assert post_event(client, _completed(org), timestamp=int(time.time()) - 250).status_code == 200


def test_webhook_needs_no_csrf_token_while_forms_do(app, client, org):
    client.auto_csrf = False
    assert post_event(client, _completed(org)).status_code == 200
    assert checkout(client, org).status_code == 400  # the console form without its token


def test_unhandled_event_types_are_acknowledged_and_not_stored(client):
    response = post_event(client, event("evt_other", "customer.created", {"id": "cus_1"}))
    assert response.status_code == 200 and response.json["outcome"] == "ignored"
    assert events_count() == 0


# --- processing: once, out of order --------------------------------------------------


def test_checkout_completed_puts_the_tenant_on_the_plan(client, org, stripe_fake):
    subscribe(client, stripe_fake, org, price=PRICE_ENTERPRISE)
    account = account_of(org.tenant)
    assert account.plan == PlanCode.ENTERPRISE
    assert account.subscription_status == "active"
    assert account.stripe_subscription_id == "sub_1"
    assert account.current_period_end > utcnow() + dt.timedelta(days=29)
    assert audit_count(org.tenant, "billing.subscription.changed") == 1
    page = client.get(f"/o/{org.tenant.slug}/billing/")
    assert b"Enterprise" in page.data and b"Open the billing portal" in page.data


def test_replayed_event_is_processed_once(client, org, stripe_fake):
    customer = subscribe(client, stripe_fake, org)
    stripe_fake.subscriptions["sub_1"]["status"] = "past_due"
    failed = event(
        "evt_fail", "invoice.payment_failed", invoice("in_0001", customer, "sub_1", "open")
    )
    retrieves = len(stripe_fake.calls("GET", "/v1/subscriptions/"))
    assert post_event(client, failed).json["outcome"] == "processed"
    assert post_event(client, failed).json["outcome"] == "duplicate"
    assert post_event(client, failed).json["outcome"] == "duplicate"
    # the replays never reached Stripe, mailed nobody twice, logged nothing twice
    assert len(stripe_fake.calls("GET", "/v1/subscriptions/")) == retrieves + 1
    assert outbox_to(org.tenant, "billing/past_due") == sorted([org.owner.email, org.owner2.email])
    assert audit_count(org.tenant, "billing.account.past_due") == 1


def test_events_out_of_order_converge_on_stripes_state(client, org, stripe_fake):
    customer = subscribe(client, stripe_fake, org, status="incomplete")
    assert account_of(org.tenant).plan == PlanCode.TRIAL  # not paid yet
    # What happened at Stripe: created (incomplete) → paid → active; payment failed
    # once before that. Stripe's current truth is "active"; events arrive shuffled.
    stripe_fake.subscriptions["sub_1"]["status"] = "active"
    sub_now = stripe_fake.subscriptions["sub_1"]
    stale_created = dict(sub_now, status="incomplete")
    deliveries = [
        event("evt_paid", "invoice.paid", invoice("in_0002", customer, "sub_1", "paid")),
        event("evt_upd", "customer.subscription.updated", sub_now),
        event(
            "evt_failed",
            "invoice.payment_failed",
            invoice("in_0002", customer, "sub_1", "open"),
        ),
        event("evt_created", "customer.subscription.created", stale_created),
    ]
    for evt in deliveries:
        assert post_event(client, evt).json["outcome"] == "processed"
    account = account_of(org.tenant)
    assert account.plan == PlanCode.CLINIC
    assert account.subscription_status == "active"
    assert account.past_due_since is None
    with tenant_context(org.tenant):
        (inv,) = db.session.scalars(sa.select(BillingInvoice)).all()
    assert inv.status == "paid"  # the late "payment failed" did not reopen it
    assert inv.amount_paid == 150_000_000
    page = client.get(f"/o/{org.tenant.slug}/billing/")
    assert b"IDR 1.500.000" in page.data and inv.number.encode() in page.data
    assert outbox_to(org.tenant, "billing/past_due") == []  # Stripe never said past_due


def test_cancellation_returns_the_tenant_to_the_trial(client, org, stripe_fake):
    subscribe(client, stripe_fake, org)
    stripe_fake.subscriptions["sub_1"]["status"] = "canceled"
    deleted = event("evt_del", "customer.subscription.deleted", stripe_fake.subscriptions["sub_1"])
    assert post_event(client, deleted).json["outcome"] == "processed"
    account = account_of(org.tenant)
    assert (account.plan, account.subscription_status) == (PlanCode.TRIAL, "canceled")
    page = client.get(f"/o/{org.tenant.slug}/billing/")
    assert b"Upgrade to" in page.data


def test_late_event_about_an_old_subscription_does_not_undo_the_new_one(client, org, stripe_fake):
    customer = subscribe(client, stripe_fake, org, sub_id="sub_old")
    stripe_fake.subscriptions["sub_old"]["status"] = "canceled"
    stripe_fake.subscriptions["sub_new"] = subscription(
        "sub_new", customer, PRICE_ENTERPRISE, created=int(time.time()) + 10
    )
    new = event("evt_new", "customer.subscription.created", stripe_fake.subscriptions["sub_new"])
    assert post_event(client, new).json["outcome"] == "processed"
    old = event("evt_old", "customer.subscription.deleted", stripe_fake.subscriptions["sub_old"])
    assert post_event(client, old).json["outcome"] == "processed"
    account = account_of(org.tenant)
    assert (account.stripe_subscription_id, account.plan) == ("sub_new", PlanCode.ENTERPRISE)


def test_event_for_a_customer_of_no_tenant_is_recorded_and_changes_nothing(client, org):
    stray = event(
        "evt_stray",
        "customer.subscription.updated",
        subscription("sub_x", "cus_not_ours", PRICE_CLINIC),
    )
    assert post_event(client, stray).json["outcome"] == "unknown_tenant"
    assert post_event(client, stray).json["outcome"] == "duplicate"
    assert account_of(org.tenant) is None


def test_stripe_unreachable_during_webhook_leaves_the_event_for_stripes_retry(
    client, org, stripe_fake
):
    customer = subscribe(client, stripe_fake, org)
    updated = event(
        "evt_retry",
        "customer.subscription.updated",
        subscription("sub_1", customer, PRICE_ENTERPRISE),
    )
    stripe_fake.subscriptions["sub_1"]["items"]["data"][0]["price"]["id"] = PRICE_ENTERPRISE
    stripe_fake.fail_with = 402
    assert post_event(client, updated).status_code == 503
    stripe_fake.fail_with = None
    assert post_event(client, updated).json["outcome"] == "processed"
    assert account_of(org.tenant).plan == PlanCode.ENTERPRISE


def test_subscription_stripe_no_longer_has_falls_back_to_the_carried_copy(client, org, stripe_fake):
    customer = subscribe(client, stripe_fake, org)
    gone = subscription("sub_1", customer, PRICE_ENTERPRISE, "active")
    del stripe_fake.subscriptions["sub_1"]  # retrieve now answers 404
    updated = event("evt_gone", "customer.subscription.updated", gone)
    assert post_event(client, updated).json["outcome"] == "processed"
    assert account_of(org.tenant).plan == PlanCode.ENTERPRISE
    paid = event("evt_gone_inv", "invoice.paid", invoice("in_0007", customer, "sub_1", "paid"))
    assert post_event(client, paid).json["outcome"] == "processed"  # invoice kept, no retry loop
    with tenant_context(org.tenant):
        assert db.session.scalar(sa.select(BillingInvoice.status)) == "paid"


def test_old_event_ids_are_pruned(app, client, org):
    from tenants.billing.webhooks import prune_stripe_events

    assert post_event(client, _completed(org)).status_code == 200
    with cross_tenant(Scope.SYSTEM):
        db.session.add(
            StripeEvent(
                id="evt_ancient",
                type="invoice.paid",
                received_at=utcnow() - dt.timedelta(days=91),
            )
        )
        db.session.commit()
        assert prune_stripe_events() == 1
        db.session.commit()
        assert db.session.scalars(sa.select(StripeEvent.id)).all() == ["evt_sig"]


# --- standing: past due, grace, suspension -------------------------------------------


def test_past_due_banner_email_grace_then_suspension_then_recovery(
    app, client, org, stripe_fake, login
):
    customer = subscribe(client, stripe_fake, org)
    stripe_fake.subscriptions["sub_1"]["status"] = "past_due"
    failed = event(
        "evt_pf", "invoice.payment_failed", invoice("in_0003", customer, "sub_1", "open")
    )
    assert post_event(client, failed).json["outcome"] == "processed"
    billing_page = client.get(f"/o/{org.tenant.slug}/billing/")
    assert b"Your last payment failed." in billing_page.data
    assert b"Payment for this organisation" not in billing_page.data  # no second banner

    # Banner on the console: owners get the link, staff are told who can fix it.
    console = client.get(f"/o/{org.tenant.slug}/")
    assert b"Payment for this organisation" in console.data
    assert f"/o/{org.tenant.slug}/billing/".encode() in console.data
    login(client, org.clerk)
    staff_view = client.get(f"/o/{org.tenant.slug}/")
    assert b"An owner of the organisation can fix this" in staff_view.data
    assert outbox_to(org.tenant, "billing/past_due") == sorted([org.owner.email, org.owner2.email])

    # Within the grace period bookings go on.
    assert queries.booking_allowed(org.tenant) == (True, None)
    later = utcnow() + dt.timedelta(days=7, minutes=1)
    assert queries.booking_allowed(org.tenant, now=later) == (False, "billing_suspended")
    with cross_tenant(Scope.SYSTEM):
        assert services.enforce_payment_grace(now=utcnow() + dt.timedelta(days=6)) == 0
        assert services.enforce_payment_grace(now=later) == 1
        db.session.commit()
        assert services.enforce_payment_grace(now=later) == 0  # once per delinquency
    assert outbox_to(org.tenant, "billing/suspended") == sorted([org.owner.email, org.owner2.email])
    assert account_of(org.tenant).suspended_at is not None
    assert queries.booking_allowed(org.tenant) == (False, "billing_suspended")
    assert b"New bookings are suspended" in client.get(f"/o/{org.tenant.slug}/").data

    # Paid: bookings resume at once.
    stripe_fake.subscriptions["sub_1"]["status"] = "active"
    paid = event("evt_pp", "invoice.paid", invoice("in_0003", customer, "sub_1", "paid"))
    assert post_event(client, paid).json["outcome"] == "processed"
    account = account_of(org.tenant)
    assert account.past_due_since is None and account.suspended_at is None
    assert queries.booking_allowed(org.tenant) == (True, None)
    assert b"Payment for this organisation" not in client.get(f"/o/{org.tenant.slug}/").data


def test_grace_job_is_registered_and_runs_through_the_job_runner(
    app, client, org, stripe_fake, runner
):
    from core.jobs import PERIODIC
    from core.jobs import execute

    names = {j.name: j.path for j in PERIODIC}
    assert names["billing-plan-limits"] == "tenants.billing.services.notify_plan_limits"
    assert names["billing-prune-events"] == "tenants.billing.webhooks.prune_stripe_events"
    (job,) = [j for j in PERIODIC if j.name == "billing-grace"]
    assert (job.path, job.scope) == ("tenants.billing.services.enforce_payment_grace", Scope.SYSTEM)
    customer = subscribe(client, stripe_fake, org)
    stripe_fake.subscriptions["sub_1"]["status"] = "past_due"
    post_event(
        client,
        event("evt_j", "invoice.payment_failed", invoice("in_0006", customer, "sub_1", "open")),
    )
    tid = org.tenant.id  # the job runner ends the session: keep ids, not objects
    assert execute(job.path, None, job.scope.value, {}) == 0  # still within grace
    with tenant_context(tid):
        account = db.session.scalar(sa.select(BillingAccount))
        account.past_due_since = utcnow() - dt.timedelta(days=8)
        db.session.commit()
    assert execute(job.path, None, job.scope.value, {}) == 1
    assert account_of(tid).suspended_at is not None
    result = runner.invoke(args=["billing", "enforce-grace"])
    assert result.exit_code == 0 and "0 tenant(s) suspended" in result.output


def test_grace_job_skips_a_tenant_that_paid_meanwhile(app, client, org, stripe_fake):
    customer = subscribe(client, stripe_fake, org)
    stripe_fake.subscriptions["sub_1"]["status"] = "past_due"
    post_event(
        client,
        event("evt_a", "invoice.payment_failed", invoice("in_0004", customer, "sub_1", "open")),
    )
    stripe_fake.subscriptions["sub_1"]["status"] = "active"
    post_event(
        client, event("evt_b", "invoice.paid", invoice("in_0004", customer, "sub_1", "paid"))
    )
    with cross_tenant(Scope.SYSTEM):
        assert services.enforce_payment_grace(now=utcnow() + dt.timedelta(days=30)) == 0


# --- plan limits, counted from the ledger --------------------------------------------


def make_bookings(tenant, count: int, *, created_at=None, status=None) -> None:
    """Ledger rows made directly (the ledger's own services are not under test here)."""
    from onboarding.venues.models import Venue
    from tenants.booking.models import Booking
    from tenants.booking.models import BookingSource
    from tenants.booking.models import BookingStatus
    from tenants.booking.models import Person
    from tenants.campaigns.models import Audience
    from tenants.campaigns.models import Campaign
    from tenants.stock.models import Product

    with tenant_context(tenant):
        product = Product(owner_tenant_id=tenant.id, name="Flu", manufacturer="Acme")
        venue = Venue(name="Klinik", address="Jl. 1", province="DKI Jakarta", city="Jakarta")
        db.session.add_all([product, venue])
        db.session.flush()
        campaign = Campaign(
            name="Flu drive",
            slug=f"flu-{uuid.uuid4().hex[:6]}",
            audience=Audience.PUBLIC,
            product_id=product.id,
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 12, 31),
        )
        db.session.add(campaign)
        db.session.flush()
        for n in range(count):
            person = Person(full_name=f"Person {n}", date_of_birth=dt.date(1990, 1, 1))
            db.session.add(person)
            db.session.flush()
            db.session.add(
                Booking(
                    person_id=person.id,
                    campaign_id=campaign.id,
                    venue_id=venue.id,
                    product_id=product.id,
                    dose_number=1,
                    source=BookingSource.WALK_IN,
                    status=status or BookingStatus.ARRIVED,
                    created_at=created_at or utcnow(),
                )
            )
        db.session.commit()


def test_plan_limit_counts_this_months_ledger_rows(app, client, org, monkeypatch, login):
    from tenants.booking.models import BookingStatus

    monkeypatch.setitem(
        PLANS, PlanCode.TRIAL, dataclasses.replace(PLANS[PlanCode.TRIAL], max_bookings_per_month=3)
    )
    last_month = queries.month_bounds()[0] - dt.timedelta(hours=1)
    make_bookings(org.tenant, 5, created_at=last_month)  # last month's do not count
    make_bookings(org.tenant, 2, status=BookingStatus.CANCELLED)  # cancelled do not count
    make_bookings(org.tenant, 2)
    assert queries.count_bookings_this_month(org.tenant) == 2
    assert queries.count_bookings_this_month(org.tenant, cap=1) == 1
    assert queries.booking_allowed(org.tenant) == (True, None)

    make_bookings(org.tenant, 1)
    allowance = queries.booking_allowed(org.tenant)
    assert allowance == (False, "plan_limit")
    with app.test_request_context("/?lang=en"):
        assert "contact the organiser" in allowance.public_message
        with pytest.raises(queries.BookingNotAllowed) as refused:
            queries.ensure_booking_allowed(org.tenant)
    assert refused.value.code == "plan_limit" and refused.value.status == 409

    # The owner is prompted to upgrade, on the billing page and on the console.
    page = client.get(f"/o/{org.tenant.slug}/billing/")
    assert b"Upgrade your plan" in page.data and b"limit reached" in page.data
    assert b"used up" in client.get(f"/o/{org.tenant.slug}/").data
    login(client, org.clerk)
    assert b"used up" not in client.get(f"/o/{org.tenant.slug}/").data

    # …and emailed, once a month, by the hourly job (never from the booking transaction).
    with cross_tenant(Scope.SYSTEM):
        assert services.notify_plan_limits() == 1
        db.session.commit()
        assert services.notify_plan_limits() == 0
    assert outbox_to(org.tenant, "billing/plan_limit") == sorted(
        [org.owner.email, org.owner2.email]
    )


def test_venue_and_seat_limits_of_the_plan(app, client, org):
    from onboarding.venues.models import Venue

    # The trial allows 3 staff seats and 1 venue; org has 4 members (seeded before billing).
    assert queries.seat_allowed(org.tenant) == (False, "seat_limit")
    assert queries.venue_allowed(org.tenant) == (True, None)
    with tenant_context(org.tenant):
        db.session.add(Venue(name="Klinik", address="Jl. 1", province="DKI", city="Jakarta"))
        db.session.commit()
    assert queries.venue_allowed(org.tenant) == (False, "venue_limit")
    page = client.get(f"/o/{org.tenant.slug}/billing/")
    assert page.data.count(b"limit reached") == 2  # venues and seats, not bookings

    # Onboarding asks billing before adding either, and nothing is saved when refused.
    from tests.onboarding.venue_support import VENUE_FORM

    refused = client.post(f"/o/{org.tenant.slug}/venues/new", data=VENUE_FORM)
    assert refused.status_code == 402 and b"venues are used up" in refused.data
    invited = client.post(
        f"/o/{org.tenant.slug}/team/invitations",
        data={"email": "new@example.test", "role": "checkin"},
    )
    assert invited.status_code == 402 and b"staff seats are used up" in invited.data
    with tenant_context(org.tenant):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Venue)) == 1


def test_month_bounds_follow_western_indonesia_time():
    # 2026-03-31 18:00 UTC is already 1 April 01:00 in Jakarta.
    start, end = queries.month_bounds(dt.datetime(2026, 3, 31, 18, 0, tzinfo=dt.UTC))
    assert start == dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 4, 30, 17, 0, tzinfo=dt.UTC)


def test_format_amount():
    assert queries.format_amount(150_000_000, "idr") == "IDR 1.500.000"
    assert queries.format_amount(5000, "jpy") == "JPY 5.000"


# --- concurrency (PostgreSQL) --------------------------------------------------------


def deliver_in_parallel(app, payloads: list[str]) -> list[tuple[int, str]]:
    """POST each signed payload from its own thread, all released at once."""
    barrier = threading.Barrier(len(payloads))
    outcomes, errors = [], []

    def deliver(payload):
        try:
            c = app.test_client()
            barrier.wait()
            r = c.post(
                WEBHOOK,
                data=payload,
                headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET)},
                content_type="application/json",
            )
            outcomes.append((r.status_code, (r.json or {}).get("outcome")))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    return outcomes


@pytest.mark.parametrize("backend", ["postgresql"])
def test_burst_of_the_same_event_in_parallel_is_processed_once(
    app, client, org, stripe_fake, backend
):
    customer = subscribe(client, stripe_fake, org)
    stripe_fake.subscriptions["sub_1"]["status"] = "past_due"
    failed = event(
        "evt_burst", "invoice.payment_failed", invoice("in_0005", customer, "sub_1", "open")
    )
    retrieves = len(stripe_fake.calls("GET", "/v1/subscriptions/"))
    outcomes = deliver_in_parallel(app, [json.dumps(failed)] * 8)
    assert sorted(outcomes) == [(200, "duplicate")] * 7 + [(200, "processed")]
    assert len(stripe_fake.calls("GET", "/v1/subscriptions/")) == retrieves + 1
    assert outbox_to(org.tenant, "billing/past_due") == sorted([org.owner.email, org.owner2.email])
    assert audit_count(org.tenant, "billing.account.past_due") == 1


@pytest.mark.parametrize("backend", ["postgresql"])
def test_parallel_first_events_of_a_tenant_make_one_account_and_converge(
    app, org, stripe_fake, backend
):
    tid = str(org.tenant.id)
    stripe_fake.subscriptions["sub_p"] = subscription(
        "sub_p", "cus_new", PRICE_ENTERPRISE, tenant_id=tid
    )
    sub = stripe_fake.subscriptions["sub_p"]
    completed = {
        "id": "cs_p",
        "object": "checkout.session",
        "mode": "subscription",
        "customer": "cus_new",
        "client_reference_id": tid,
        "subscription": "sub_p",
    }
    payloads = [
        json.dumps(event(f"evt_cs_{n}", "checkout.session.completed", completed)) for n in range(3)
    ]
    payloads += [
        json.dumps(
            event(f"evt_up_{n}", "customer.subscription.updated", dict(sub, status="incomplete"))
        )
        for n in range(5)
    ]
    outcomes = deliver_in_parallel(app, payloads)
    assert outcomes == [(200, "processed")] * 8
    with cross_tenant(Scope.SYSTEM):
        accounts = db.session.scalars(sa.select(BillingAccount)).all()
    assert len(accounts) == 1
    account = accounts[0]
    assert (account.stripe_customer_id, account.plan, account.subscription_status) == (
        "cus_new",
        PlanCode.ENTERPRISE,
        "active",
    )
    assert events_count() == 8


@pytest.mark.parametrize("backend", ["postgresql"])
def test_rls_keeps_billing_rows_to_their_tenant(
    app, client, org, stripe_fake, create_tenant, backend
):
    subscribe(client, stripe_fake, org)
    other = create_tenant()
    with tenant_context(other):
        # the ORM criteria would filter anyway; raw SQL shows the database refuses too
        rows = db.session.execute(sa.text("SELECT count(*) FROM billing_account")).scalar()
        events = db.session.execute(sa.text("SELECT count(*) FROM stripe_event")).scalar()
    assert (rows, events) == (0, 0)
    with cross_tenant(Scope.SYSTEM):
        assert db.session.execute(sa.text("SELECT count(*) FROM billing_account")).scalar() == 1
        # SYSTEM may read (to map a customer to its tenant) but not write
        updated = db.session.execute(sa.text("UPDATE billing_account SET plan = 'enterprise'"))
        assert updated.rowcount == 0
    db.session.rollback()


def test_webhook_answers_post_only(client):
    assert client.get(WEBHOOK).status_code == 405


def test_the_ledger_refuses_online_bookings_past_the_limit_but_never_walk_ins(app, monkeypatch):
    """booking_allowed is asked by book_slot for online bookings only: a walk-in (and so
    anyone already at the door) is never refused for the plan or for payment."""
    from tenants.booking.services import BookingError
    from tenants.booking.services import book_slot
    from tenants.booking.services import register_walk_in
    from tests.tenants.ledger_support import BEFORE
    from tests.tenants.ledger_support import ON_DAY_ONE
    from tests.tenants.ledger_support import counters
    from tests.tenants.ledger_support import make_person
    from tests.tenants.ledger_support import scoped_world

    monkeypatch.setitem(
        PLANS, PlanCode.TRIAL, dataclasses.replace(PLANS[PlanCode.TRIAL], max_bookings_per_month=0)
    )
    tenant, world = scoped_world()
    with tenant_context(tenant):
        venue = world.venues[0]
        slot = world.slots(venue)[0]
        with pytest.raises(BookingError) as refused:
            book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
        assert refused.value.code == "plan_limit"
        db.session.rollback()
        assert counters(venue, world.product) == (20, 0)  # nothing taken
        walk_in = register_walk_in(world.campaign, venue.id, make_person().id, now=ON_DAY_ONE)
        assert walk_in.id is not None
        assert counters(venue, world.product) == (20, 1)
