"""Read side of billing: standing, usage against the plan's limits, invoices.

``booking_allowed(tenant)`` is what the booking ledger asks before a new booking.
Usage is counted from the ledger's own rows, never from a counter that could drift.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.models import Membership
from core.tenancy import tenant_context
from tenants.billing.gateway import billing_enabled
from tenants.billing.models import BillingAccount
from tenants.billing.models import BillingInvoice
from tenants.billing.plans import PLANS
from tenants.billing.plans import UNLIMITED_TRIAL
from tenants.billing.plans import Plan
from tenants.billing.plans import PlanCode

#: "This month" for plan limits is the calendar month in Western Indonesia Time.
BILLING_TZ = ZoneInfo("Asia/Jakarta")


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
    "venue_limit": _l("Your plan's venues are used up. Upgrade your plan to add more."),
    "seat_limit": _l("Your plan's staff seats are used up. Upgrade your plan to add more."),
}


class Allowance(NamedTuple):
    """``(allowed, reason)``; reason is ``"plan_limit"``, ``"billing_suspended"``,
    ``"venue_limit"``, ``"seat_limit"`` or None."""

    allowed: bool
    reason: str | None

    @property
    def public_message(self) -> str | None:
        message = PUBLIC_MESSAGES.get(self.reason) if self.reason else None
        return str(message) if message else None

    @property
    def owner_message(self) -> str | None:
        return str(OWNER_MESSAGES[self.reason]) if self.reason else None


#: the name the booking ledger knows it by
BookingAllowance = Allowance


class Usage(NamedTuple):
    bookings_this_month: int
    venues: int
    staff_seats: int


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


def count_bookings_this_month(
    tenant, now: dt.datetime | None = None, *, cap: int | None = None
) -> int:
    """Bookings made this month, counted from the ledger's rows (cancelled ones excluded).

    There is no separate counter that could drift: the ledger is the count. ``cap``
    stops counting there (``booking_allowed`` only needs to know "at the limit yet?"),
    so the cost of the check is bounded by the plan's limit, not the tenant's size.
    """
    # Imported here: the ledger calls into billing, billing only reads the ledger.
    from tenants.booking.models import Booking
    from tenants.booking.models import BookingStatus

    tid = _tenant_id(tenant)
    start, end = month_bounds(now)
    rows = sa.select(sa.literal(1)).where(
        Booking.tenant_id == tid,
        Booking.created_at >= start,
        Booking.created_at < end,
        Booking.status != BookingStatus.CANCELLED,
    )
    if cap is not None:
        rows = rows.limit(cap)
    with tenant_context(tid):
        return db.session.scalar(sa.select(sa.func.count()).select_from(rows.subquery()))


def count_venues(tenant) -> int:
    """Venues that count against the plan: every one not rejected by the ministry."""
    from onboarding.venues.models import Venue
    from onboarding.venues.models import VenueStatus

    tid = _tenant_id(tenant)
    with tenant_context(tid):
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Venue)
            .where(Venue.tenant_id == tid, Venue.status != VenueStatus.REJECTED)
        )


def count_staff_seats(tenant, now: dt.datetime | None = None) -> int:
    """Current memberships (any role): staff hired for one drive stop counting when they end."""
    tid = _tenant_id(tenant)
    moment = now or utcnow()
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Membership)
        .where(
            Membership.tenant_id == tid,
            sa.or_(Membership.ends_at.is_(None), Membership.ends_at > moment),
        )
    )


def get_usage(tenant, now: dt.datetime | None = None) -> Usage:
    """What the tenant uses now, against which the plan's limits are checked."""
    return Usage(
        count_bookings_this_month(tenant, now), count_venues(tenant), count_staff_seats(tenant, now)
    )


def venue_allowed(tenant) -> Allowance:
    """May the tenant add a venue? ``(False, "venue_limit")`` when its plan's are used up."""
    if not billing_enabled():
        return Allowance(True, None)
    limit = effective_plan(get_account(tenant)).max_venues
    if limit_reached(limit, count_venues(tenant)):
        return Allowance(False, "venue_limit")
    return Allowance(True, None)


def seat_allowed(tenant, now: dt.datetime | None = None) -> Allowance:
    """May the tenant add a staff member? ``(False, "seat_limit")`` when seats are used up."""
    if not billing_enabled():
        return Allowance(True, None)
    limit = effective_plan(get_account(tenant)).max_staff_seats
    if limit_reached(limit, count_staff_seats(tenant, now)):
        return Allowance(False, "seat_limit")
    return Allowance(True, None)


def booking_allowed(tenant, now: dt.datetime | None = None) -> Allowance:
    """May the tenant take a new booking? ``(allowed, reason)``.

    Call it for new online (and waitlist) bookings, before the booking transaction.
    Never for check-in, administration, second doses booked at administration, or
    walk-ins: people already promised a dose are never turned away at the door.
    Billing off: always allowed, without a query.
    """
    if not billing_enabled():
        return Allowance(True, None)
    account = get_account(tenant)
    if is_suspended(account, now):
        return Allowance(False, "billing_suspended")
    limit = effective_plan(account).max_bookings_per_month
    if limit is not None and count_bookings_this_month(tenant, now, cap=limit) >= limit:
        return Allowance(False, "plan_limit")
    return Allowance(True, None)


def ensure_booking_allowed(tenant, now: dt.datetime | None = None) -> None:
    """Raise :class:`BookingNotAllowed` (code ``plan_limit`` / ``billing_suspended``) if refused."""
    allowance = booking_allowed(tenant, now)
    if not allowance.allowed:
        raise BookingNotAllowed(allowance.public_message, code=allowance.reason)


def limit_reached(limit: int | None, used: int) -> bool:
    return limit is not None and used >= limit


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


def format_amount(amount: int, currency: str) -> str:
    """An amount in the currency's smallest unit, for display (``IDR 1.500.000``)."""
    zero_decimal = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf"}
    zero_decimal |= {"ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
    major = amount if currency.lower() in zero_decimal else amount / 100
    whole = f"{major:,.0f}".replace(",", ".")
    return f"{currency.upper()} {whole}"
