"""Billing rules that change state: Checkout, the customer portal, the grace period.

Services flush, never commit: the request or job commits once at the edge.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from core.audit import log_action
from core.db import utcnow
from core.errors import Conflict
from core.errors import DomainError
from core.extensions import db
from core.ids import uuid7
from core.mail import send_mail
from core.models import AuditEntry
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import TenantStatus
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from tenants.billing.gateway import billing_enabled
from tenants.billing.gateway import get_gateway
from tenants.billing.models import DELINQUENT_STATUSES
from tenants.billing.models import LIVE_STATUSES
from tenants.billing.models import BillingAccount
from tenants.billing.plans import PLANS
from tenants.billing.plans import PlanCode
from tenants.billing.queries import BILLING_TZ
from tenants.billing.queries import booking_allowed
from tenants.billing.queries import get_account
from tenants.billing.queries import grace_ends_at
from tenants.billing.queries import grace_period
from tenants.billing.queries import month_bounds

log = logging.getLogger(__name__)

#: the audit line that records owners were told their plan's monthly bookings ran out
PLAN_LIMIT_NOTIFIED = "billing.plan_limit.notified"


class BillingError(DomainError):
    code = "billing_error"


def _require_billing() -> None:
    if not billing_enabled():
        raise BillingError(
            _("Billing is switched off on this installation: every organisation is on the trial."),
            code="billing_off",
        )


def insert_ignore(table: sa.Table):
    """INSERT … ON CONFLICT DO NOTHING for the session's database."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def ensure_account(tenant_id: uuid.UUID) -> BillingAccount:
    """The tenant's account row, created if missing (concurrency-safe: insert-or-nothing)."""
    table = BillingAccount.__table__
    now = utcnow()
    db.session.execute(
        insert_ignore(table).values(
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
        account = ensure_account(tenant.id)
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


def notify_owners(
    tenant_id: uuid.UUID, template: str, account: BillingAccount | None = None
) -> None:
    """Email every current owner of the tenant (through the outbox, after the commit)."""
    tenant = db.session.get(Tenant, tenant_id)
    ends = grace_ends_at(account)
    for owner in _owners(tenant_id):
        send_mail(
            owner.email,
            template,
            {
                "tenant_name": tenant.name,
                "billing_path": f"/o/{tenant.slug}/billing/",
                "grace_ends": ends.astimezone(BILLING_TZ).strftime("%Y-%m-%d") if ends else "",
            },
            locale=owner.locale,
            tenant_id=tenant_id,
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
            account = ensure_account(tenant_id)  # locked, re-read: a payment may have landed
            if not account.delinquent or account.suspended_at is not None:
                continue
            if account.past_due_since is None or account.past_due_since > cutoff:
                continue
            account.suspended_at = now
            log_action(account, "billing.account.suspended", None, {"reason": "non_payment"})
            notify_owners(tenant_id, "billing/suspended", account)
            db.session.flush()
            suspended += 1
    return suspended


def notify_plan_limits(now: dt.datetime | None = None) -> int:
    """Periodic job: tell owners, once a month, that their plan's bookings are used up.

    Runs outside the booking transaction (which must stay short), so a refused booking
    never waits on this. Returns how many tenants' owners were told now.
    """
    if not billing_enabled():
        return 0
    now = now or utcnow()
    month_start, _end = month_bounds(now)
    tenant_ids = db.session.scalars(
        sa.select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE)
    ).all()
    told = 0
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            if booking_allowed(tenant_id, now).reason != "plan_limit":
                continue
            already = db.session.scalar(
                sa.select(AuditEntry.id)
                .where(
                    AuditEntry.tenant_id == tenant_id,
                    AuditEntry.action == PLAN_LIMIT_NOTIFIED,
                    AuditEntry.at >= month_start,
                )
                .limit(1)
            )
            if already is not None:
                continue
            month = now.astimezone(BILLING_TZ).strftime("%Y-%m")
            log_action(None, PLAN_LIMIT_NOTIFIED, None, {"month": month}, tenant_id=tenant_id)
            notify_owners(tenant_id, "billing/plan_limit")
            db.session.flush()
            told += 1
    return told
