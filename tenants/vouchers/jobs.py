"""Voucher email jobs: the voucher after a booking commits, its sweeper, the reminder.

A booking's voucher email is not written inside the booking's transaction: that
transaction holds the slot's and the stock's row locks, and the ledger keeps them
only for its two updates and the insert (issue 4). ``booking_created`` enqueues
:func:`mail_voucher` for after the commit instead. The job claims the booking
(``voucher_mailed_at``), so a duplicate job sends nothing; :func:`sweep_voucher_mail`
catches a job lost with its worker or an unreachable Redis.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from core.db import utcnow
from core.extensions import db
from core.jobs import register_periodic
from core.models import Tenant
from core.tenancy import current_tenant_id
from core.tenancy import tenant_context
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.models import Person
from tenants.campaigns.models import Slot
from tenants.vouchers.details import load_details
from tenants.vouchers.mail import send_voucher_mail

#: a booking whose voucher job has not run this long after it was made is swept
SWEEP_AFTER = dt.timedelta(minutes=2)
#: older unsent vouchers are left alone (the appointment may be long past)
SWEEP_WINDOW = dt.timedelta(days=2)
#: reminders go out from this local hour on the day before, not in the night
REMINDER_FROM_HOUR = 7


def _claim(booking_id: uuid.UUID, column, now: dt.datetime) -> uuid.UUID | None:
    """Set ``column`` (a *_at timestamp) if it is still empty; the booking's person id
    for the one caller that did, None for the others (a second job, a concurrent
    sweeper): they send nothing."""
    return db.session.execute(
        sa.update(Booking)
        .where(
            Booking.tenant_id == current_tenant_id(),
            Booking.id == booking_id,
            column.is_(None),
        )
        .values({column.key: now})
        .returning(Booking.person_id)
        .execution_options(synchronize_session=False)
    ).scalar()


def mail_voucher(booking_id: str) -> bool:
    """Job (tenant scope): queue the voucher email of a new booking, once. True if an
    email was queued (False: sent already, cancelled meanwhile, or no address)."""
    bid = uuid.UUID(booking_id)
    person_id = _claim(bid, Booking.voucher_mailed_at, utcnow())
    if person_id is None:
        return False
    # Most walk-ins and many bookings have no address: find out with one key lookup
    # before reading everything the email shows (this runs after every booking).
    has_address = db.session.scalar(
        sa.select(Person.email_encrypted.is_not(None)).where(Person.id == person_id)
    )
    if not has_address:
        return False
    details = load_details(bid, current_tenant_id())
    if details is None or details.booking.status in (
        BookingStatus.CANCELLED,
        BookingStatus.NO_SHOW,
    ):
        return False
    return send_voucher_mail(details, "vouchers/confirmed") is not None


def _tenants() -> list[uuid.UUID]:
    return db.session.scalars(sa.select(Tenant.id).order_by(Tenant.id)).all()


def sweep_voucher_mail(now: str | None = None) -> int:
    """Periodic job (SYSTEM scope): send the vouchers whose job was lost. Returns how
    many emails were queued. ``now`` (ISO) is for tests."""
    at = dt.datetime.fromisoformat(now) if now else utcnow()
    sent = 0
    for tenant_id in _tenants():
        with tenant_context(tenant_id):
            ids = db.session.scalars(
                sa.select(Booking.id)
                .where(
                    Booking.voucher_mailed_at.is_(None),
                    Booking.created_at <= at - SWEEP_AFTER,
                    Booking.created_at > at - SWEEP_WINDOW,
                )
                .order_by(Booking.created_at)
                .limit(500)
            ).all()
            for booking_id in ids:
                sent += mail_voucher(str(booking_id))
            db.session.commit()
    return sent


def send_reminders(now: str | None = None) -> int:
    """Periodic job (SYSTEM scope, hourly): remind each booking of tomorrow (the
    venue's calendar day) once, from 07:00 local time. ``reminder_sent_at`` is claimed
    with the email in one transaction, so two runs never send twice. Returns how many
    reminders were queued. ``now`` (ISO) is for tests."""
    at = dt.datetime.fromisoformat(now) if now else utcnow()
    sent = 0
    for tenant_id in _tenants():
        with tenant_context(tenant_id):
            rows = db.session.execute(
                sa.select(Booking.id, Slot.starts_at, Venue.timezone)
                .join(Slot, tenant_join(Slot, Booking.slot_id))
                .join(
                    Venue,
                    tenant_join(Venue, Booking.venue_id),
                )
                .where(
                    Booking.status == BookingStatus.BOOKED,
                    Booking.reminder_sent_at.is_(None),
                    Slot.starts_at > at,
                    Slot.starts_at < at + dt.timedelta(hours=48),
                )
                .order_by(Slot.starts_at)
            ).all()
            for booking_id, starts_at, timezone in rows:
                zone = ZoneInfo(timezone)
                local_now = at.astimezone(zone)
                if local_now.hour < REMINDER_FROM_HOUR:
                    continue
                if starts_at.astimezone(zone).date() != local_now.date() + dt.timedelta(days=1):
                    continue
                if _claim(booking_id, Booking.reminder_sent_at, at) is None:
                    continue
                details = load_details(booking_id, tenant_id)
                sent += send_voucher_mail(details, "vouchers/reminder") is not None
            db.session.commit()
    return sent


SWEEP_JOB = register_periodic(
    "voucher-mail-sweep", "tenants.vouchers.jobs.sweep_voucher_mail", interval=300
)
REMINDER_JOB = register_periodic(
    "booking-reminders", "tenants.vouchers.jobs.send_reminders", interval=3600
)
