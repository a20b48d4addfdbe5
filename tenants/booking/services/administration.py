"""Doses given: record an administration (and book the next dose at once), void one."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit import log_action
from core.db import utcnow
from core.extensions import db
from core.models import User
from core.signals import booking_created
from onboarding.venues.models import Venue
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import BookingSource
from tenants.booking.models import BookingStatus
from tenants.booking.services.common import NO_SYNC
from tenants.booking.services.common import BookingError
from tenants.booking.services.common import day_bounds
from tenants.booking.services.common import local_day
from tenants.booking.services.common import move_stock
from tenants.booking.services.common import release_seat
from tenants.booking.services.common import take_seat
from tenants.booking.services.common import tenant_id
from tenants.booking.services.ledger import _insert_booking
from tenants.booking.services.ledger import _transition
from tenants.booking.services.ledger import fresh_booking
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import Slot
from tenants.stock.locks import begin_ledger
from tenants.stock.models import Lot
from tenants.stock.models import MovementKind
from tenants.stock.models import Product
from tenants.stock.models import Stock
from tenants.stock.models import StockMovement
from tenants.stock.services import interval_rule_for

#: how many of the nearest slots to try when another booking takes one first
_CANDIDATES = 5


@dataclass
class AdministrationResult:
    """The dose recorded, and what happened about the next one.

    ``next_booking`` is the auto-booked next dose, or None with ``next_dose_note``
    saying why (``series_complete``, ``no_interval_rule``, ``not_offered``,
    ``already_booked``, ``no_slot``, ``no_doses``); ``next_due`` is the first day the
    interval allows (None when there is no next dose).
    """

    administration: Administration
    next_booking: Booking | None
    next_dose_note: str | None
    next_due: dt.date | None
    message: str


def record_administration(
    booking_id: uuid.UUID,
    lot_id: uuid.UUID,
    *,
    vaccinator: User | None = None,
    now: dt.datetime | None = None,
) -> AdministrationResult:
    """Record that a booked (or arrived / walk-in) person got their dose from ``lot_id``.

    The dose leaves the venue's stock (on_hand - 1) and the booking's promise is
    released (promised - 1); the lot must be at the booking's venue, of its product and
    not expired. Then the next dose of the series is booked at once: same venue and
    campaign, the nearest slot with a seat on or after the first day the interval rule
    allows, its dose promised in the same statement. If no slot has a seat, or no dose
    is free, the result says so (``next_dose_note``) instead of booking silently
    nothing; the administration itself is recorded either way.
    """
    now = now or utcnow()
    booking = fresh_booking(booking_id)
    if booking is None or booking.status not in (BookingStatus.BOOKED, BookingStatus.ARRIVED):
        raise BookingError(_("This booking is not waiting for a dose."), code="not_active")
    lot = db.session.get(Lot, (tenant_id(), lot_id))
    venue = db.session.get(Venue, (tenant_id(), booking.venue_id))
    today = local_day(now, venue.timezone)
    if lot is None or lot.venue_id != booking.venue_id or lot.product_id != booking.product_id:
        raise BookingError(
            _("This lot is not of this booking's vaccine at this venue."), code="lot_unusable"
        )
    if lot.expiry_date <= today:
        raise BookingError(
            _(
                "Lot %(batch)s expired on %(date)s; do not use it.",
                batch=lot.batch_number,
                date=lot.expiry_date.isoformat(),
            ),
            code="lot_unusable",
        )
    product = db.session.get(Product, booking.product_id)
    campaign = db.session.get(Campaign, (tenant_id(), booking.campaign_id))

    plan = _plan_next_dose(booking, product, campaign, today)
    begin_ledger()
    if _transition(booking_id, ("booked", "arrived"), BookingStatus.VACCINATED) is None:
        raise BookingError(_("This booking is not waiting for a dose."), code="not_active")

    next_seat = None
    if plan.slot_ids:
        for slot_id in plan.slot_ids:  # nearest first; each a conditional UPDATE
            next_seat = take_seat(slot_id)
            if next_seat is not None:
                break
        if next_seat is None:
            plan.note = "no_slot"
    # One statement: the dose leaves stock, this booking's promise is released and,
    # when a seat was taken, the next dose's promise made (net promised unchanged).
    note = plan.note
    if (
        next_seat is not None
        and move_stock(booking.venue_id, booking.product_id, on_hand=-1, promised=0) is None
    ):
        release_seat(next_seat.id)
        next_seat, note = None, "no_doses"
    if next_seat is None and (
        move_stock(booking.venue_id, booking.product_id, on_hand=-1, promised=-1) is None
    ):  # pragma: no cover - the booking's own promise backs this dose
        raise BookingError(_("The stock counters disagree; run the recount."), code="drift")
    if (
        db.session.execute(
            sa.update(Lot)
            .where(
                Lot.tenant_id == tenant_id(),
                Lot.id == lot.id,
                Lot.on_hand >= 1,
                Lot.expiry_date > today,
            )
            .values(on_hand=Lot.on_hand - 1)
            .returning(Lot.id)
            .execution_options(**NO_SYNC)
        ).first()
        is None
    ):
        raise BookingError(
            _("Lot %(batch)s has no doses left here; choose another lot.", batch=lot.batch_number),
            code="lot_unusable",
        )
    administration = Administration(
        booking_id=booking.id,
        lot_id=lot.id,
        dose_number=booking.dose_number,
        vaccinator_id=vaccinator.id if vaccinator else None,
        administered_at=now,
    )
    db.session.add(administration)
    db.session.add(
        StockMovement(
            lot_id=lot.id,
            kind=MovementKind.ADMINISTERED,
            delta=-1,
            actor_id=vaccinator.id if vaccinator else None,
            at=now,
        )
    )
    next_booking = None
    if next_seat is not None:
        next_booking = _insert_booking(
            person_id=booking.person_id,
            campaign_id=booking.campaign_id,
            slot_id=next_seat.id,
            venue_id=booking.venue_id,
            product_id=booking.product_id,
            dose_number=booking.dose_number + 1,
            status=BookingStatus.BOOKED,
            source=BookingSource.SECOND_DOSE,
            follows_booking_id=booking.id,
        )
        note = None
    db.session.flush()
    if next_booking is not None:
        booking_created.send(next_booking)
    fresh_booking(booking_id)
    return AdministrationResult(
        administration, next_booking, note, plan.due, _message(note, plan, next_seat)
    )


@dataclass
class _Plan:
    due: dt.date | None
    slot_ids: list[uuid.UUID]
    note: str | None


def _plan_next_dose(
    booking: Booking, product: Product, campaign: Campaign, today: dt.date
) -> _Plan:
    """Which slots to try for the next dose (reads only, before any lock)."""
    next_dose = booking.dose_number + 1
    if booking.dose_number >= product.doses_in_series:
        return _Plan(None, [], "series_complete")
    rule = interval_rule_for(product.id, booking.dose_number, today)
    if rule is None:
        return _Plan(None, [], "no_interval_rule")
    due = today + dt.timedelta(days=rule.min_days)
    if campaign.status != CampaignStatus.PUBLISHED or next_dose not in (
        campaign.doses_offered or []
    ):
        return _Plan(due, [], "not_offered")
    taken = db.session.scalar(
        sa.select(Booking.id).where(
            Booking.campaign_id == booking.campaign_id,
            Booking.person_id == booking.person_id,
            Booking.dose_number == next_dose,
            Booking.status.in_(
                [BookingStatus.BOOKED, BookingStatus.ARRIVED, BookingStatus.VACCINATED]
            ),
        )
    )
    if taken is not None:
        return _Plan(due, [], "already_booked")
    timezone = db.session.scalar(sa.select(Venue.timezone).where(Venue.id == booking.venue_id))
    start, _ = day_bounds(due, timezone)
    slot_ids = list(
        db.session.scalars(
            sa.select(Slot.id)
            .where(
                Slot.campaign_id == booking.campaign_id,
                Slot.venue_id == booking.venue_id,
                Slot.starts_at >= start,
                Slot.booked < Slot.capacity,
            )
            .order_by(Slot.starts_at)
            .limit(_CANDIDATES)
        )
    )
    return _Plan(due, slot_ids, None if slot_ids else "no_slot")


def _message(note: str | None, plan: _Plan, seat) -> str:
    if note is None and seat is not None:
        return _("Next dose booked for %(at)s UTC.", at=f"{seat.starts_at:%Y-%m-%d %H:%M}")
    due = plan.due.isoformat() if plan.due else ""
    messages = {
        "series_complete": lambda: _("The series is complete; no further dose is due."),
        "no_interval_rule": lambda: _("No interval rule for the next dose; book it by hand."),
        "not_offered": lambda: _("This campaign does not offer the next dose; book it elsewhere."),
        "already_booked": lambda: _("The next dose was already booked."),
        "no_slot": lambda: _(
            "No slot with a free seat from %(due)s at this venue: the next dose is NOT "
            "booked. Open more slots or book it by hand.",
            due=due,
        ),
        "no_doses": lambda: _(
            "No free dose at this venue for the next dose (due %(due)s): it is NOT booked. "
            "Receive or transfer stock, then book it by hand.",
            due=due,
        ),
    }
    return messages[note]() if note in messages else ""


def void_administration(
    administration_id: uuid.UUID,
    reason: str,
    *,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> Booking:
    """Undo a dose recorded in error (an admin action, with a reason, audited).

    The dose returns to its lot and the venue's stock, the booking goes back to
    ``arrived`` (holding its promise again, so it can be recorded correctly or
    cancelled), and a next-dose booking made automatically from it is cancelled if it
    is still only booked. Returns the booking.
    """
    if not reason or not reason.strip():
        raise BookingError(_("Say why the record is voided."), code="invalid")
    now = now or utcnow()
    administration = db.session.get(
        Administration, (tenant_id(), administration_id), populate_existing=True
    )
    if administration is None or administration.voided_at is not None:
        raise BookingError(_("This administration is not active."), code="not_active")
    begin_ledger()
    # lock order: bookings (this one, then the follow-up), slot, stock, lot
    row = _transition(administration.booking_id, ("vaccinated",), BookingStatus.ARRIVED)
    if row is None:
        raise BookingError(_("This administration is not active."), code="not_active")
    voided = db.session.execute(
        sa.update(Administration)
        .where(
            Administration.tenant_id == tenant_id(),
            Administration.id == administration.id,
            Administration.voided_at.is_(None),
        )
        .values(voided_at=now, void_reason=reason.strip())
        .returning(Administration.id)
        .execution_options(**NO_SYNC)
    ).first()
    if voided is None:
        raise BookingError(_("This administration is not active."), code="not_active")
    follow_ids = db.session.scalars(
        sa.select(Booking.id).where(
            Booking.follows_booking_id == row.id, Booking.status == BookingStatus.BOOKED
        )
    ).all()
    # Bookings first (lock order), then their slots by id, then stocks by id.
    follows = [
        f
        for f in (
            _transition(fid, ("booked",), BookingStatus.CANCELLED, cancelled_at=now)
            for fid in sorted(follow_ids)
        )
        if f is not None
    ]
    for slot_id in sorted(f.slot_id for f in follows if f.slot_id):
        release_seat(slot_id)
    # The voided booking is back to arrived: the dose returns and it holds a promise
    # again. A cancelled follow-up releases its promise where it is now booked (the
    # person may have moved it to another venue).
    deltas = {(row.venue_id, row.product_id): [1, 1]}
    for f in follows:
        deltas.setdefault((f.venue_id, f.product_id), [0, 0])[1] -= 1
    stocks = db.session.execute(
        sa.select(Stock.id, Stock.venue_id, Stock.product_id).where(
            sa.tuple_(Stock.venue_id, Stock.product_id).in_(list(deltas))
        )
    ).all()
    for stock in sorted(stocks, key=lambda s: s.id):
        on_hand, promised = deltas[(stock.venue_id, stock.product_id)]
        move_stock(stock.venue_id, stock.product_id, on_hand=on_hand, promised=promised)
    db.session.execute(
        sa.update(Lot)
        .where(Lot.tenant_id == tenant_id(), Lot.id == administration.lot_id)
        .values(on_hand=Lot.on_hand + 1)
        .execution_options(**NO_SYNC)
    )
    db.session.add(
        StockMovement(
            lot_id=administration.lot_id,
            kind=MovementKind.VOID_ADMINISTRATION,
            delta=1,
            reason=reason.strip(),
            actor_id=actor.id if actor else None,
            at=now,
        )
    )
    db.session.refresh(administration)
    log_action(
        administration,
        "booking.administration.voided",
        actor,
        {"reason": reason.strip(), "booking_id": str(row.id)},
    )
    db.session.flush()
    return fresh_booking(row.id)
