"""Booking, cancelling, rescheduling, no-shows, walk-ins and availability.

Each service is one short unit of work: conditional ``UPDATE ... RETURNING`` on the
counters in the fixed lock order (booking row, walk-in day, slots by id, stocks by
id), then the INSERT. If any update finds no row the service raises
:class:`BookingError` and the caller's rollback undoes what was taken, so a failed
booking takes nothing. Services flush; the caller commits (see
:mod:`tenants.booking.transaction`). Emails and vouchers are never sent from here:
``core.signals.booking_created`` is sent after the flush, and its receivers enqueue
work that runs after the commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from core.db import utcnow
from core.extensions import db
from core.ids import uuid7
from core.models import Tenant
from core.models import TenantStatus
from core.signals import booking_changed
from core.signals import booking_created
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.billing.queries import booking_allowed
from tenants.booking.models import Booking
from tenants.booking.models import BookingSource
from tenants.booking.models import BookingStatus
from tenants.booking.models import Person
from tenants.booking.services import hotpath
from tenants.booking.services.common import NO_SYNC
from tenants.booking.services.common import BookingError
from tenants.booking.services.common import local_day
from tenants.booking.services.common import promise_dose
from tenants.booking.services.common import release_seat
from tenants.booking.services.common import release_walk_in
from tenants.booking.services.common import take_seat
from tenants.booking.services.common import take_walk_in
from tenants.booking.services.common import tenant_id
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import CampaignVenue
from tenants.campaigns.models import Slot
from tenants.campaigns.models import WalkInDay
from tenants.stock.locks import begin_ledger
from tenants.stock.locks import mark_ledger_begun
from tenants.stock.models import Stock

_ACTIVE = tuple(s.value for s in (BookingStatus.BOOKED, BookingStatus.ARRIVED))


# ---------------------------------------------------------------- checks (reads only)


def check_campaign_open(
    campaign: Campaign,
    dose_number: int,
    now: dt.datetime,
    *,
    window: bool = True,
    tenant_status: TenantStatus | None = None,
) -> None:
    """Raise ``not_open`` unless the campaign takes bookings for this dose now."""
    if campaign.status != CampaignStatus.PUBLISHED:
        raise BookingError(_("This campaign is not taking bookings."), code="not_open")
    if window and campaign.opens_at and now < campaign.opens_at:
        raise BookingError(_("Booking for this campaign has not opened yet."), code="not_open")
    if window and campaign.closes_at and now >= campaign.closes_at:
        raise BookingError(_("Booking for this campaign has closed."), code="not_open")
    if dose_number not in (campaign.doses_offered or []):
        raise BookingError(
            _("This campaign does not offer dose %(n)s.", n=dose_number), code="dose_not_offered"
        )
    if tenant_status is None:
        tenant_status = db.session.scalar(
            sa.select(Tenant.status).where(Tenant.id == campaign.tenant_id)
        )
    if tenant_status != TenantStatus.ACTIVE:
        raise BookingError(_("This organiser is not taking bookings now."), code="not_open")


def check_age(campaign: Campaign, person: Person | dt.date, on: dt.date) -> None:
    """Raise ``age_limit`` if the person (or a birth date) is outside the campaign's age
    limits on ``on``."""
    born = person if isinstance(person, dt.date) else person.date_of_birth
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if campaign.min_age_years is not None and age < campaign.min_age_years:
        raise BookingError(
            _("This campaign is for people aged %(n)s and over.", n=campaign.min_age_years),
            code="age_limit",
        )
    if campaign.max_age_years is not None and age > campaign.max_age_years:
        raise BookingError(
            _("This campaign is for people aged up to %(n)s.", n=campaign.max_age_years),
            code="age_limit",
        )


def check_not_booked(campaign: Campaign, person_id: uuid.UUID, dose_number: int) -> None:
    """Raise ``duplicate_booking`` if the person already holds this dose in the campaign
    (the partial unique index is the real guard; this gives the helpful message)."""
    existing = db.session.execute(
        sa.select(Booking.id, Booking.status, Slot.starts_at)
        .outerjoin(Slot, tenant_join(Slot, Booking.slot_id))
        .where(
            Booking.campaign_id == campaign.id,
            Booking.person_id == person_id,
            Booking.dose_number == dose_number,
            Booking.status.in_(
                [BookingStatus.BOOKED, BookingStatus.ARRIVED, BookingStatus.VACCINATED]
            ),
        )
    ).first()
    if existing is not None:
        raise duplicate_error(dose_number, existing.status, existing.starts_at)


def _booking_checks(campaign: Campaign, person_id: uuid.UUID, dose_number: int):
    """Tenant status, birth date and an active booking for this dose, in one read that
    also sets the lock timeout on PostgreSQL (see :mod:`.hotpath`). None: no such person."""
    connection = db.session.connection()
    statement = hotpath.CHECKS_PG if connection.dialect.name == "postgresql" else hotpath.CHECKS
    row = connection.execute(
        statement,
        {
            "p_tenant_id": tenant_id(),
            "p_campaign_id": campaign.id,
            "p_person_id": person_id,
            "p_dose_number": dose_number,
        },
    ).first()
    mark_ledger_begun()
    if row is None:
        return None
    status = row.existing_status
    return _Checks(
        TenantStatus(row.tenant_status),
        row.date_of_birth,
        BookingStatus(status) if status is not None else None,
        row.existing_starts_at,
    )


@dataclass(frozen=True)
class _Checks:
    tenant_status: TenantStatus
    date_of_birth: dt.date
    existing_status: BookingStatus | None
    existing_starts_at: dt.datetime | None


def duplicate_error(
    dose_number: int, status: BookingStatus | None = None, starts_at: dt.datetime | None = None
) -> BookingError:
    if status == BookingStatus.VACCINATED:
        what = _(
            "This person (identified by their NIK) has already received dose %(n)s in "
            "this campaign.",
            n=dose_number,
        )
    elif status == BookingStatus.ARRIVED:
        what = _(
            "This person (identified by their NIK) is checked in for dose %(n)s in this campaign.",
            n=dose_number,
        )
    else:
        what = _(
            "This person (identified by their NIK) already has a booking for dose %(n)s "
            "in this campaign.",
            n=dose_number,
        )
    if starts_at:
        what += " " + _("Appointment: %(at)s UTC.", at=f"{starts_at:%Y-%m-%d %H:%M}")
    return BookingError(
        what
        + " "
        + _("To change the time, reschedule that booking instead.")
        + " "
        + _(
            "If this is not you, for example after a mistyped NIK, contact the organiser: "
            "their staff can review the record."
        ),
        code="duplicate_booking",
        dose_number=dose_number,
    )


def _diagnose_slot(campaign: Campaign, slot_id: uuid.UUID, now: dt.datetime) -> BookingError:
    slot = db.session.get(Slot, (tenant_id(), slot_id), populate_existing=True)
    if slot is None or slot.campaign_id != campaign.id:
        return BookingError(_("This slot does not exist."), code="unknown_slot", status=404)
    if slot.starts_at <= now:
        return BookingError(_("This slot has already started."), code="not_open")
    return BookingError(
        _("This slot is full. Choose another time, or join the waitlist."), code="slot_full"
    )


def _no_doses() -> BookingError:
    return BookingError(
        _("No doses left at this venue for this vaccine.")
        + " "
        + _("Choose another venue, or join the waitlist."),
        code="no_doses",
    )


def _duplicate_or(exc: sa.exc.IntegrityError, dose_number: int) -> Exception:
    """A race past the duplicate check hits the partial unique index: say so; any other
    integrity error is a bug and propagates as it is."""
    text = str(exc.orig)
    if "uq_booking_active_dose" in text or "booking.dose_number" in text:
        return duplicate_error(dose_number)
    return exc


def _insert_booking(**values) -> Booking:
    """INSERT the booking, last, after the counters. A race past the duplicate check
    hits the partial unique index; the caller's rollback then returns seat and dose."""
    booking = Booking(id=uuid7(), **values)
    db.session.add(booking)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise _duplicate_or(exc, values["dose_number"]) from exc
    return booking


# ---------------------------------------------------------------- services


def book_slot(
    campaign: Campaign,
    slot_id: uuid.UUID,
    person_id: uuid.UUID,
    *,
    dose_number: int = 1,
    source: BookingSource = BookingSource.ONLINE,
    now: dt.datetime | None = None,
) -> Booking:
    """Take a seat in the slot and promise a dose at its venue, then record the booking.

    Raises ``slot_full`` or ``no_doses`` (nothing taken), ``duplicate_booking``,
    ``not_open``, ``age_limit``. Sends ``booking_created`` after the flush.
    """
    now = now or utcnow()
    # One read for every check (tenant active, the person's age, an active booking for
    # this dose) that also sets the lock timeout on PostgreSQL; then seat, dose and row
    # (one statement on PostgreSQL, see .hotpath). Refusals are diagnosed only then.
    checks = _booking_checks(campaign, person_id, dose_number)
    if checks is None:
        raise BookingError(_("Unknown person."), code="invalid")
    check_campaign_open(campaign, dose_number, now, tenant_status=checks.tenant_status)
    check_age(campaign, checks.date_of_birth, now.date())
    if checks.existing_status is not None:
        raise duplicate_error(dose_number, checks.existing_status, checks.existing_starts_at)
    if source in (BookingSource.ONLINE, BookingSource.WAITLIST):
        # The plan's monthly bookings and the tenant's payment standing; never asked for
        # walk-ins, second doses or reschedules: nobody is turned away at the door.
        allowance = booking_allowed(campaign.tenant_id, now)
        if not allowance.allowed:
            raise BookingError(allowance.public_message, code=allowance.reason, status=409)
    values = hotpath.booking_values(
        tenant_id=tenant_id(),
        id=uuid7(),
        person_id=person_id,
        campaign_id=campaign.id,
        slot_id=slot_id,
        product_id=campaign.product_id,
        dose_number=dose_number,
        status=BookingStatus.BOOKED,
        source=source,
    )
    connection = db.session.connection()
    try:
        if connection.dialect.name == "postgresql":
            row = connection.execute(
                hotpath.BOOK_PG,
                hotpath.book_params(
                    values, slot_id=slot_id, now=now, product_id=campaign.product_id
                ),
            ).one()
            if row.seat_venue_id is None:
                raise _diagnose_slot(campaign, slot_id, now)
            if row.booking_id is None:
                raise _no_doses()
            values["venue_id"] = row.seat_venue_id
        else:
            seat = take_seat(slot_id, Slot.campaign_id == campaign.id, Slot.starts_at > now)
            if seat is None:
                raise _diagnose_slot(campaign, slot_id, now)
            if promise_dose(seat.venue_id, campaign.product_id) is None:
                raise _no_doses()
            values["venue_id"] = seat.venue_id
            connection.execute(hotpath.INSERT_BOOKING, values)
    except sa.exc.IntegrityError as exc:
        raise _duplicate_or(exc, dose_number) from exc
    booking = hotpath.attach(Booking, values)
    booking_created.send(booking)
    return booking


def _transition(booking_id: uuid.UUID, from_statuses, to_status: BookingStatus, **values):
    """Change a booking's status if it is in ``from_statuses``; lock its row first (the
    first lock of every service). Returns the row or None."""
    return db.session.execute(
        sa.update(Booking)
        .where(
            Booking.tenant_id == tenant_id(),
            Booking.id == booking_id,
            Booking.status.in_([BookingStatus(s) for s in from_statuses]),
        )
        .values(status=to_status, **values)
        .returning(
            Booking.id,
            Booking.slot_id,
            Booking.venue_id,
            Booking.product_id,
            Booking.walk_in_day_id,
            Booking.campaign_id,
            Booking.person_id,
            Booking.dose_number,
        )
        .execution_options(**NO_SYNC)
    ).first()


def fresh_booking(booking_id: uuid.UUID) -> Booking:
    """The booking as the database has it now (the counters' statements bypass the ORM)."""
    return db.session.get(Booking, (tenant_id(), booking_id), populate_existing=True)


def _not_active() -> BookingError:
    return BookingError(_("This booking is no longer active."), code="not_active")


def cancel_booking(
    booking_id: uuid.UUID, *, now: dt.datetime | None = None, only_if_booked: bool = False
) -> Booking:
    """Cancel a booked (or checked-in, not yet vaccinated) booking: its seat, promised
    dose and walk-in place return to the counters. Offer the seat to the waitlist with
    :func:`tenants.booking.services.waitlist.offer_freed_seat` afterwards if wanted.

    ``only_if_booked`` is for the person's own manage link: once they are checked in,
    only the staff at the venue change the booking, so a cancel that races the check-in
    is refused (``checked_in``) by the same conditional UPDATE, not by an earlier read."""
    begin_ledger()
    statuses = (BookingStatus.BOOKED.value,) if only_if_booked else _ACTIVE
    row = _transition(booking_id, statuses, BookingStatus.CANCELLED, cancelled_at=now or utcnow())
    if row is None:
        booking = fresh_booking(booking_id)
        if only_if_booked and booking is not None and booking.status == BookingStatus.ARRIVED:
            raise BookingError(
                _("You are checked in already: the staff at the venue can help you now."),
                code="checked_in",
            )
        raise _not_active()
    _release(row)
    booking = fresh_booking(booking_id)
    booking_changed.send(booking, change="cancelled")
    return booking


def _release(row) -> None:
    # lock order: walk-in day, slot, stock
    if row.walk_in_day_id:
        release_walk_in(row.walk_in_day_id)
    if row.slot_id:
        release_seat(row.slot_id)
    db.session.execute(
        sa.update(Stock)
        .where(
            Stock.tenant_id == tenant_id(),
            Stock.venue_id == row.venue_id,
            Stock.product_id == row.product_id,
        )
        .values(promised=Stock.promised - 1)
        .execution_options(**NO_SYNC)
    )


def mark_no_show(booking_id: uuid.UUID, *, now: dt.datetime | None = None) -> Booking:
    """A booked person did not come: release the seat and the promised dose. Only once
    the slot has started (``too_early`` before)."""
    now = now or utcnow()
    booking = fresh_booking(booking_id)
    if booking is None or booking.status != BookingStatus.BOOKED or booking.slot_id is None:
        raise _not_active()
    slot = db.session.get(Slot, (tenant_id(), booking.slot_id))
    if slot.starts_at > now:
        raise BookingError(_("The appointment has not started yet."), code="too_early")
    begin_ledger()
    row = _transition(booking_id, (BookingStatus.BOOKED,), BookingStatus.NO_SHOW)
    if row is None:
        raise _not_active()
    _release(row)
    return fresh_booking(booking_id)


def reschedule_booking(
    booking_id: uuid.UUID, new_slot_id: uuid.UUID, *, now: dt.datetime | None = None
) -> Booking:
    """Move a booking to another slot of its campaign, atomically: the person keeps the
    old seat unless the new one is taken in the same transaction (``slot_full`` /
    ``no_doses`` leave the booking as it was). If the new slot is at another venue the
    promised dose moves too (promised there only if a dose is free)."""
    now = now or utcnow()
    begin_ledger()
    row = _transition(booking_id, (BookingStatus.BOOKED,), BookingStatus.BOOKED)
    if row is None or row.slot_id is None:
        raise _not_active()
    if row.slot_id == new_slot_id:
        raise BookingError(_("The booking is already in this slot."), code="invalid")
    campaign = db.session.get(Campaign, (tenant_id(), row.campaign_id))
    check_campaign_open(campaign, row.dose_number, now)
    new_seat = None
    for slot_id in sorted((row.slot_id, new_slot_id)):
        if slot_id == new_slot_id:
            new_seat = take_seat(slot_id, Slot.campaign_id == campaign.id, Slot.starts_at > now)
            if new_seat is None:
                raise _diagnose_slot(campaign, new_slot_id, now)
        else:
            release_seat(slot_id)
    if new_seat.venue_id != row.venue_id:
        stocks = db.session.execute(
            sa.select(Stock.id, Stock.venue_id)
            .where(
                Stock.product_id == row.product_id,
                Stock.venue_id.in_([row.venue_id, new_seat.venue_id]),
            )
            .order_by(Stock.id)
        ).all()
        if new_seat.venue_id not in {s.venue_id for s in stocks}:
            raise _no_doses()
        for stock in stocks:
            if stock.venue_id == new_seat.venue_id:
                if promise_dose(stock.venue_id, row.product_id) is None:
                    raise _no_doses()
            else:
                db.session.execute(
                    sa.update(Stock)
                    .where(Stock.tenant_id == tenant_id(), Stock.id == stock.id)
                    .values(promised=Stock.promised - 1)
                    .execution_options(**NO_SYNC)
                )
    db.session.execute(
        sa.update(Booking)
        .where(Booking.tenant_id == tenant_id(), Booking.id == booking_id)
        .values(slot_id=new_slot_id, venue_id=new_seat.venue_id)
        .execution_options(**NO_SYNC)
    )
    booking = fresh_booking(booking_id)
    booking_changed.send(booking, change="rescheduled", previous_slot_id=row.slot_id)
    return booking


def _ensure_walk_in_day(campaign: Campaign, venue_id: uuid.UUID, day: dt.date) -> uuid.UUID:
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.dialects import sqlite

    dialect = db.session.connection().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(WalkInDay)
    db.session.execute(
        insert.values(
            tenant_id=tenant_id(),
            id=uuid7(),
            campaign_id=campaign.id,
            venue_id=venue_id,
            day=day,
            allowance=campaign.walk_ins_per_day,
            used=0,
        ).on_conflict_do_nothing(index_elements=["tenant_id", "campaign_id", "venue_id", "day"])
    )
    return db.session.scalar(
        sa.select(WalkInDay.id).where(
            WalkInDay.campaign_id == campaign.id,
            WalkInDay.venue_id == venue_id,
            WalkInDay.day == day,
        )
    )


def register_walk_in(
    campaign: Campaign,
    venue_id: uuid.UUID,
    person_id: uuid.UUID,
    *,
    dose_number: int = 1,
    now: dt.datetime | None = None,
) -> Booking:
    """Someone walked in without a booking: take one of the day's walk-in places and a
    dose; the booking starts as ``arrived`` (no slot). ``walk_ins_full`` / ``no_doses``."""
    now = now or utcnow()
    check_campaign_open(campaign, dose_number, now, window=False)
    venue = db.session.get(Venue, (tenant_id(), venue_id))
    is_campaign_venue = db.session.scalar(
        sa.select(CampaignVenue.id).where(
            CampaignVenue.campaign_id == campaign.id, CampaignVenue.venue_id == venue_id
        )
    )
    if venue is None or is_campaign_venue is None:
        raise BookingError(_("This campaign does not run at this venue."), code="invalid")
    day = local_day(now, venue.timezone)
    if not campaign.starts_on <= day <= campaign.ends_on:
        raise BookingError(_("The campaign does not run today."), code="not_open")
    person = db.session.get(Person, (tenant_id(), person_id))
    if person is None:
        raise BookingError(_("Unknown person."), code="invalid")
    check_age(campaign, person, day)
    check_not_booked(campaign, person_id, dose_number)
    begin_ledger()
    walk_in_day_id = _ensure_walk_in_day(campaign, venue_id, day)
    if take_walk_in(walk_in_day_id) is None:
        raise BookingError(
            _("Today's walk-in places are all taken; book a slot or join the waitlist."),
            code="walk_ins_full",
        )
    if promise_dose(venue_id, campaign.product_id) is None:
        raise _no_doses()
    booking = _insert_booking(
        person_id=person_id,
        campaign_id=campaign.id,
        slot_id=None,
        venue_id=venue_id,
        product_id=campaign.product_id,
        dose_number=dose_number,
        status=BookingStatus.ARRIVED,
        source=BookingSource.WALK_IN,
        walk_in_day_id=walk_in_day_id,
    )
    booking_created.send(booking)
    return booking
