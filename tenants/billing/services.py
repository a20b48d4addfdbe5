"""Billing rules: standing and limits, Checkout and the portal, Stripe webhook events.

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
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from core.audit import log_action
from core.db import utcnow
from core.errors import Conflict
from core.errors import DomainError
from core.extensions import db
from core.ids import uuid7
from core.mail import send_mail
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from tenants.billing.gateway import billing_enabled
from tenants.billing.gateway import get_gateway
from tenants.billing.models import DELINQUENT_STATUSES
from tenants.billing.models import LIVE_STATUSES
from tenants.billing.models import BillingAccount
from tenants.billing.models import BillingInvoice
from tenants.billing.models import StripeEvent
from tenants.billing.plans import PLANS
from tenants.billing.plans import UNLIMITED_TRIAL
from tenants.billing.plans import Plan
from tenants.billing.plans import PlanCode
from tenants.billing.plans import plan_for_price

log = logging.getLogger(__name__)

#: "This month" for plan limits is the calendar month in Western Indonesia Time.
BILLING_TZ = ZoneInfo("Asia/Jakarta")

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


class BillingError(DomainError):
    code = "billing_error"


class BookingNotAllowed(DomainError):
    """A new booking is refused by billing: plan limit reached, or suspended for non-payment."""

    status = 409
    code = "booking_not_allowed"


#: What the public sees when billing refuses a booking: clear, and no billing details.
PUBLIC_MESSAGES = {
    "plan_limit": _l(
        "This organiser cannot take more online bookings this month. "
        "Please contact the organiser directly."
    ),
    "billing_suspended": _l(
        "This organiser is not taking new bookings at the moment. "
        "Vouchers already issued remain valid."
    ),
}
#: What owners see (with a link to the billing page).
OWNER_MESSAGES = {
    "plan_limit": _l(
        "Your plan's bookings for this month are used up: new online bookings are refused. "
        "Upgrade your plan to take more."
    ),
    "billing_suspended": _l(
        "New bookings are suspended because payment failed. Vouchers already issued and "
        "check-in keep working. Update your payment method to resume bookings."
    ),
}


class BookingAllowance(NamedTuple):
    """``(allowed, reason)``; reason is ``"plan_limit"``, ``"billing_suspended"`` or None."""

    allowed: bool
    reason: str | None

    @property
    def public_message(self) -> str | None:
        return str(PUBLIC_MESSAGES[self.reason]) if self.reason else None

    @property
    def owner_message(self) -> str | None:
        return str(OWNER_MESSAGES[self.reason]) if self.reason else None


class Usage(NamedTuple):
    bookings_this_month: int
    venues: int
    staff_seats: int


# --- standing, usage and limits ------------------------------------------------------


def _tenant_id(tenant) -> uuid.UUID:
    return tenant if isinstance(tenant, uuid.UUID) else tenant.id


def get_account(tenant) -> BillingAccount | None:
    """The tenant's billing account, or None before its first Checkout."""
    tid = _tenant_id(tenant)
    with tenant_context(tid):
        return db.session.scalar(sa.select(BillingAccount).where(BillingAccount.tenant_id == tid))


def effective_plan(account: BillingAccount | None) -> Plan:
    """The plan whose limits apply: the unlimited trial while billing is off."""
    if not billing_enabled():
        return UNLIMITED_TRIAL
    return PLANS[account.plan] if account is not None else PLANS[PlanCode.TRIAL]


def grace_period() -> dt.timedelta:
    return dt.timedelta(days=current_app.config.get("BILLING_GRACE_DAYS", 7))


def grace_ends_at(account: BillingAccount | None) -> dt.datetime | None:
    """When new bookings stop if the tenant does not pay (None: nothing is owed)."""
    if account is None or not account.delinquent or account.past_due_since is None:
        return None
    return account.past_due_since + grace_period()


def is_suspended(account: BillingAccount | None, now: dt.datetime | None = None) -> bool:
    """Suspended for non-payment: delinquent past the grace period.

    Derived from ``past_due_since`` so it holds even if the grace job has not run yet;
    the job records ``suspended_at`` and tells the owners.
    """
    if account is None or not account.delinquent:
        return False
    if account.suspended_at is not None:
        return True
    ends = grace_ends_at(account)
    return ends is not None and ends <= (now or utcnow())


def month_bounds(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The current billing month [start, end) as UTC instants."""
    local = (now or utcnow()).astimezone(BILLING_TZ)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def count_bookings_this_month(tenant, now: dt.datetime | None = None) -> int:
    """Bookings made this month, counted from the ledger's rows (cancelled ones excluded).

    There is no separate counter that could drift: the ledger is the count.
    """
    # Imported here: the ledger calls into billing, billing only reads the ledger.
    from tenants.booking.models import Booking
    from tenants.booking.models import BookingStatus

    tid = _tenant_id(tenant)
    start, end = month_bounds(now)
    with tenant_context(tid):
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Booking)
            .where(
                Booking.tenant_id == tid,
                Booking.created_at >= start,
                Booking.created_at < end,
                Booking.status != BookingStatus.CANCELLED,
            )
        )


def get_usage(tenant, now: dt.datetime | None = None) -> Usage:
    """What the tenant uses now, against which the plan's limits are checked."""
    from onboarding.venues.models import Venue
    from onboarding.venues.models import VenueStatus

    tid = _tenant_id(tenant)
    with tenant_context(tid):
        venues = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Venue)
            .where(Venue.tenant_id == tid, Venue.status != VenueStatus.REJECTED)
        )
        moment = now or utcnow()
        seats = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Membership)
            .where(
                Membership.tenant_id == tid,
                sa.or_(Membership.ends_at.is_(None), Membership.ends_at > moment),
            )
        )
    return Usage(count_bookings_this_month(tid, now), venues, seats)


def booking_allowed(tenant, now: dt.datetime | None = None) -> BookingAllowance:
    """May the tenant take a new booking? ``(allowed, reason)``.

    Call it for new online (and waitlist) bookings, before the booking transaction.
    Never for check-in, administration, second doses booked at administration, or
    walk-ins: people already promised a dose are never turned away at the door.
    Billing off: always allowed, without a query.
    """
    if not billing_enabled():
        return BookingAllowance(True, None)
    account = get_account(tenant)
    if is_suspended(account, now):
        return BookingAllowance(False, "billing_suspended")
    limit = effective_plan(account).max_bookings_per_month
    if limit is not None and count_bookings_this_month(tenant, now) >= limit:
        return BookingAllowance(False, "plan_limit")
    return BookingAllowance(True, None)


def ensure_booking_allowed(tenant, now: dt.datetime | None = None) -> None:
    """Raise :class:`BookingNotAllowed` (code ``plan_limit`` / ``billing_suspended``) if refused."""
    allowance = booking_allowed(tenant, now)
    if not allowance.allowed:
        raise BookingNotAllowed(allowance.public_message, code=allowance.reason)


def limit_reached(limit: int | None, used: int) -> bool:
    return limit is not None and used >= limit


# --- Checkout and the customer portal ------------------------------------------------


def _require_billing() -> None:
    if not billing_enabled():
        raise BillingError(
            _("Billing is switched off on this installation: every organisation is on the trial."),
            code="billing_off",
        )


def _ensure_account(tenant_id: uuid.UUID) -> BillingAccount:
    """The tenant's account row, created if missing (concurrency-safe: insert-or-nothing)."""
    table = BillingAccount.__table__
    now = utcnow()
    db.session.execute(
        _insert_ignore(table).values(
            tenant_id=tenant_id,
            id=uuid7(),
            plan=PlanCode.TRIAL,
            cancel_at_period_end=False,
            created_at=now,
            updated_at=now,
        )
    )
    return db.session.scalar(
        sa.select(BillingAccount)
        .where(BillingAccount.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def start_checkout(
    tenant: Tenant,
    plan_code: str,
    *,
    actor: User,
    request_key: uuid.UUID,
    success_url: str,
    cancel_url: str,
) -> str:
    """Create a subscription Checkout session for ``plan_code``; returns its URL.

    ``request_key`` comes from the form, so a double-submitted form reuses Stripe's
    idempotency key and gets the same session instead of a second one.
    """
    _require_billing()
    plan = PLANS.get(PlanCode(plan_code))
    price_id = plan.stripe_price_id() if plan else None
    if not price_id:
        raise BillingError(_("This plan cannot be bought online."), code="plan_unavailable")
    with tenant_context(tenant):
        account = _ensure_account(tenant.id)
        if account.subscription_status in LIVE_STATUSES:
            raise Conflict(
                _("You already have a subscription: change or cancel it in the billing portal."),
                code="use_portal",
            )
        gateway = get_gateway()
        if not account.stripe_customer_id:
            account.stripe_customer_id = gateway.create_customer(
                tenant_id=str(tenant.id),
                name=tenant.name,
                email=actor.email,
                key=f"sentra-customer-{tenant.id}",
            )
        url = gateway.create_checkout_session(
            customer_id=account.stripe_customer_id,
            price_id=price_id,
            tenant_id=str(tenant.id),
            success_url=success_url,
            cancel_url=cancel_url,
            key=f"sentra-checkout-{tenant.id}-{plan.code}-{request_key}",
        )
        log_action(account, "billing.checkout.started", actor, {"plan": plan.code.value})
        db.session.flush()
    return url


def open_portal(tenant: Tenant, *, actor: User, return_url: str) -> str:
    """A Stripe customer-portal session for the tenant (payment methods, cancel)."""
    _require_billing()
    account = get_account(tenant)
    if account is None or not account.stripe_customer_id:
        raise BillingError(
            _("There is nothing to manage yet: choose a plan first."), code="no_customer"
        )
    url = get_gateway().create_portal_session(
        customer_id=account.stripe_customer_id, return_url=return_url
    )
    with tenant_context(tenant):
        log_action(account, "billing.portal.opened", actor)
        db.session.flush()
    return url


# --- webhook events ------------------------------------------------------------------


def _insert_ignore(table: sa.Table):
    """INSERT … ON CONFLICT DO NOTHING for the session's database."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def _record_event(event: dict, tenant_id: uuid.UUID | None) -> bool:
    """Record the event id; False if it was already recorded (processed, or in flight).

    A concurrent copy blocks on the primary key until the first commits, then finds it.
    """
    table = StripeEvent.__table__
    row = db.session.execute(
        _insert_ignore(table)
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
        account = _ensure_account(tenant_id)
        if event_type == "checkout.session.completed" and not account.stripe_customer_id:
            account.stripe_customer_id = obj.get("customer")
        subscription_id = _subscription_id(event_type, obj)
        if subscription_id:
            subscription = get_gateway().retrieve_subscription(subscription_id)
            _apply_subscription(account, subscription, now)
        if event_type.startswith("invoice."):
            _store_invoice(tenant_id, obj)
        db.session.flush()
    return "processed"


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
            _notify_owners(account, "billing/past_due")
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
    invoice.hosted_invoice_url = obj.get("hosted_invoice_url")
    invoice.period_start = _timestamp(obj.get("period_start"))
    invoice.period_end = _timestamp(obj.get("period_end"))
    invoice.created = _timestamp(obj.get("created")) or utcnow()


def list_invoices(tenant, limit: int = 24) -> list[BillingInvoice]:
    """The tenant's latest invoices, newest first."""
    tid = _tenant_id(tenant)
    with tenant_context(tid):
        return list(
            db.session.scalars(
                sa.select(BillingInvoice)
                .where(BillingInvoice.tenant_id == tid)
                .order_by(BillingInvoice.created.desc())
                .limit(limit)
            )
        )


# --- owners' email and the grace period ----------------------------------------------


def _owners(tenant_id: uuid.UUID) -> list[User]:
    now = utcnow()
    return list(
        db.session.scalars(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.role == Role.OWNER,
                sa.or_(Membership.ends_at.is_(None), Membership.ends_at > now),
                User.disabled_at.is_(None),
            )
            .order_by(User.email)
        )
    )


def _notify_owners(account: BillingAccount, template: str) -> None:
    tenant = db.session.get(Tenant, account.tenant_id)
    ends = grace_ends_at(account)
    for owner in _owners(account.tenant_id):
        send_mail(
            owner.email,
            template,
            {
                "tenant_name": tenant.name,
                "billing_path": f"/o/{tenant.slug}/billing/",
                "grace_ends": ends.astimezone(BILLING_TZ).strftime("%Y-%m-%d") if ends else "",
            },
            locale=owner.locale,
            tenant_id=account.tenant_id,
        )


def enforce_payment_grace(now: dt.datetime | None = None) -> int:
    """Periodic job: suspend new bookings of tenants delinquent past the grace period.

    Records ``suspended_at``, writes the audit line and emails the owners, once per
    delinquency. Returns how many tenants were suspended now. (``booking_allowed``
    already refuses from the moment the grace period ends; this makes it visible.)
    """
    now = now or utcnow()
    cutoff = now - grace_period()
    with cross_tenant(Scope.SYSTEM):
        tenant_ids = db.session.scalars(
            sa.select(BillingAccount.tenant_id).where(
                BillingAccount.subscription_status.in_(DELINQUENT_STATUSES),
                BillingAccount.past_due_since <= cutoff,
                BillingAccount.suspended_at.is_(None),
            )
        ).all()
    suspended = 0
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            account = _ensure_account(tenant_id)  # locked, re-read: a payment may have landed
            if not account.delinquent or account.suspended_at is not None:
                continue
            if account.past_due_since is None or account.past_due_since > cutoff:
                continue
            account.suspended_at = now
            log_action(account, "billing.account.suspended", None, {"reason": "non_payment"})
            _notify_owners(account, "billing/suspended")
            db.session.flush()
            suspended += 1
    return suspended


def format_amount(amount: int, currency: str) -> str:
    """An amount in the currency's smallest unit, for display (``IDR 1.500.000``)."""
    zero_decimal = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf"}
    zero_decimal |= {"ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
    major = amount if currency.lower() in zero_decimal else amount / 100
    whole = f"{major:,.0f}".replace(",", ".")
    return f"{currency.upper()} {whole}"
