"""Stripe webhook events: each processed once, all converging on Stripe's state.

Stripe is the source of truth for a subscription. Webhooks only tell us *that*
something changed: each event is recorded by id in the same transaction as its
effect (so it is processed once, and a failure leaves it unrecorded for Stripe to
retry), and the effect is derived from the subscription as Stripe has it *now*
(``retrieve``), read while the tenant's billing row is locked. So events that arrive
twice, late or out of order all converge on Stripe's current state.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import sqlalchemy as sa

from core.audit import log_action
from core.db import utcnow
from core.extensions import db
from core.models import Tenant
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from tenants.billing.gateway import SubscriptionNotFound
from tenants.billing.gateway import get_gateway
from tenants.billing.models import DELINQUENT_STATUSES
from tenants.billing.models import LIVE_STATUSES
from tenants.billing.models import BillingAccount
from tenants.billing.models import BillingInvoice
from tenants.billing.models import StripeEvent
from tenants.billing.plans import PlanCode
from tenants.billing.plans import plan_for_price
from tenants.billing.queries import get_account
from tenants.billing.services import ensure_account
from tenants.billing.services import insert_ignore
from tenants.billing.services import notify_owners

log = logging.getLogger(__name__)

HANDLED_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)


#: invoice statuses that never go back to open
FINAL_INVOICE_STATUSES = frozenset({"paid", "void", "uncollectible"})


def _record_event(event: dict, tenant_id: uuid.UUID | None) -> bool:
    """Record the event id; False if it was already recorded (processed, or in flight).

    A concurrent copy blocks on the primary key until the first commits, then finds it.
    """
    table = StripeEvent.__table__
    row = db.session.execute(
        insert_ignore(table)
        .values(id=event["id"], type=event["type"], tenant_id=tenant_id, received_at=utcnow())
        .returning(table.c.id)
    ).first()
    return row is not None


def _account_by_customer(customer_id: str | None) -> uuid.UUID | None:
    if not customer_id:
        return None
    # Webhooks come with no tenant: only this SELECT crosses tenants (SYSTEM policy).
    with cross_tenant(Scope.SYSTEM):
        ids = db.session.scalars(
            sa.select(BillingAccount.tenant_id).where(
                BillingAccount.stripe_customer_id == customer_id
            )
        ).all()
    if len(ids) > 1:
        log.error("stripe customer on several tenants", extra={"customer": customer_id})
        return None
    return ids[0] if ids else None


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _tenant_exists(tenant_id: uuid.UUID | None) -> bool:
    return tenant_id is not None and db.session.get(Tenant, tenant_id) is not None


def _resolve_tenant(event_type: str, obj: dict) -> uuid.UUID | None:
    """Which tenant an event is about: by customer id, else the id Sentra put in the object."""
    customer = obj.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    tenant_id = _account_by_customer(customer_id)
    if tenant_id is not None:
        return tenant_id
    if event_type == "checkout.session.completed":
        claimed = _as_uuid(obj.get("client_reference_id"))
    elif event_type.startswith("customer.subscription."):
        claimed = _as_uuid((obj.get("metadata") or {}).get("tenant_id"))
    else:
        claimed = None
    if not _tenant_exists(claimed):
        return None
    # Trust the claim only if that tenant has no other Stripe customer.
    account = get_account(claimed)
    if account is not None and account.stripe_customer_id not in (None, customer_id):
        log.warning("stripe event names a tenant with another customer", extra={"c": customer_id})
        return None
    return claimed


def _subscription_id(event_type: str, obj: dict) -> str | None:
    if event_type.startswith("customer.subscription."):
        return obj.get("id")
    if event_type == "checkout.session.completed":
        return obj.get("subscription") if obj.get("mode") == "subscription" else None
    # invoices: top-level before API version 2025-03-31, under parent since
    sub = obj.get("subscription") or (
        ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    )
    return sub.get("id") if isinstance(sub, dict) else sub


def _timestamp(value) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(value), dt.UTC) if value else None


def process_stripe_event(event: dict, now: dt.datetime | None = None) -> str:
    """Apply one verified Stripe event, once. Returns what happened (for the log and tests).

    ``"processed"``, ``"duplicate"`` (seen before), ``"ignored"`` (a type we do not
    handle) or ``"unknown_tenant"`` (recorded, nothing to change). Flushes; the caller
    commits, so the event id and its effect are committed together or not at all.
    """
    event_type = event["type"]
    if event_type not in HANDLED_EVENTS:
        return "ignored"
    obj = event["data"]["object"]
    tenant_id = _resolve_tenant(event_type, obj)
    if tenant_id is None:
        with cross_tenant(Scope.SYSTEM):
            fresh = _record_event(event, None)
            db.session.flush()
        log.warning("stripe event for no known tenant", extra={"event": event["id"]})
        return "unknown_tenant" if fresh else "duplicate"
    now = now or utcnow()
    with tenant_context(tenant_id):
        if not _record_event(event, tenant_id):
            return "duplicate"
        # Lock the tenant's billing row first: concurrent events for one tenant then read
        # Stripe one after the other, so the last to commit wrote the latest state.
        account = ensure_account(tenant_id)
        if event_type == "checkout.session.completed" and not account.stripe_customer_id:
            account.stripe_customer_id = obj.get("customer")
        subscription_id = _subscription_id(event_type, obj)
        if subscription_id:
            subscription = _current_subscription(event_type, obj, subscription_id)
            if subscription is not None:
                _apply_subscription(account, subscription, now)
        if event_type.startswith("invoice."):
            _store_invoice(tenant_id, obj)
        db.session.flush()
    return "processed"


def _current_subscription(event_type: str, obj: dict, subscription_id: str) -> dict | None:
    """The subscription as Stripe has it now; the carried copy if Stripe no longer has it."""
    try:
        return get_gateway().retrieve_subscription(subscription_id)
    except SubscriptionNotFound:
        log.warning("stripe subscription not found", extra={"subscription": subscription_id})
        return obj if event_type.startswith("customer.subscription.") else None


def _apply_subscription(account: BillingAccount, sub: dict, now: dt.datetime) -> None:
    """Make the account follow the subscription as Stripe has it now."""
    status = sub.get("status")
    if account.stripe_subscription_id not in (None, sub["id"]):
        # An event about another subscription: adopt it only if it is live and newer
        # than ours; a late event about an old, cancelled one must not win.
        ours_live = account.subscription_status in LIVE_STATUSES
        if status not in LIVE_STATUSES or (ours_live and not _newer(sub, account)):
            return
    items = (sub.get("items") or {}).get("data") or [{}]
    price = items[0].get("price") or {}
    plan = plan_for_price(price.get("id") if isinstance(price, dict) else price)
    before = (account.plan, account.subscription_status)
    account.stripe_subscription_id = sub["id"]
    account.subscription_status = status
    account.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    # Since API version 2025-03-31 the period lives on the subscription items.
    account.current_period_end = _timestamp(
        sub.get("current_period_end") or items[0].get("current_period_end")
    )
    if status in LIVE_STATUSES:
        if plan is not None:
            account.plan = plan.code
        else:
            log.error("subscription price maps to no plan", extra={"price": price})
    else:
        account.plan = PlanCode.TRIAL
    if status in DELINQUENT_STATUSES:
        if account.past_due_since is None:
            account.past_due_since = now
            notify_owners(account.tenant_id, "billing/past_due", account)
            log_action(account, "billing.account.past_due", None, {"subscription": sub["id"]})
    elif account.past_due_since is not None or account.suspended_at is not None:
        account.past_due_since = None
        account.suspended_at = None
        log_action(account, "billing.account.reinstated", None, {"status": status})
    after = (account.plan, account.subscription_status)
    if after != before:
        log_action(
            account,
            "billing.subscription.changed",
            None,
            {"plan": str(account.plan), "status": status, "subscription": sub["id"]},
        )


def _newer(sub: dict, account: BillingAccount) -> bool:
    """Is ``sub`` newer than the account's subscription? Asks Stripe for ours."""
    ours = get_gateway().retrieve_subscription(account.stripe_subscription_id)
    return int(sub.get("created") or 0) >= int(ours.get("created") or 0)


def prune_stripe_events(keep_days: int = 90) -> int:
    """Periodic job: forget event ids older than Stripe could still resend (3 days)."""
    cutoff = utcnow() - dt.timedelta(days=keep_days)
    with cross_tenant(Scope.SYSTEM):
        result = db.session.execute(sa.delete(StripeEvent).where(StripeEvent.received_at < cutoff))
    return result.rowcount


def _store_invoice(tenant_id: uuid.UUID, obj: dict) -> None:
    invoice = db.session.scalar(
        sa.select(BillingInvoice).where(
            BillingInvoice.tenant_id == tenant_id, BillingInvoice.stripe_invoice_id == obj["id"]
        )
    )
    status = obj.get("status") or "open"
    if invoice is None:
        invoice = BillingInvoice(stripe_invoice_id=obj["id"], status=status)
        db.session.add(invoice)
    elif invoice.status in FINAL_INVOICE_STATUSES and status not in FINAL_INVOICE_STATUSES:
        return  # a late "payment failed" must not reopen a paid invoice
    invoice.status = status
    invoice.number = obj.get("number")
    invoice.amount_due = int(obj.get("amount_due") or 0)
    invoice.amount_paid = int(obj.get("amount_paid") or 0)
    invoice.currency = (obj.get("currency") or "idr").lower()
    url = obj.get("hosted_invoice_url")
    # shown as a link on the billing page: Stripe's https pages only
    invoice.hosted_invoice_url = (
        url if isinstance(url, str) and url.startswith("https://") else None
    )
    invoice.period_start = _timestamp(obj.get("period_start"))
    invoice.period_end = _timestamp(obj.get("period_end"))
    invoice.created = _timestamp(obj.get("created")) or utcnow()
