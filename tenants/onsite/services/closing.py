"""End of the day at a venue: no-shows, opened vials closed with their waste, and a
summary; what is left in open vials is offered first."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from core.audit import log_action
from core.errors import DomainError
from core.extensions import db
from core.ids import uuid7
from core.models import User
from core.tenancy import tenant_join
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.models import WaitlistEntry
from tenants.booking.models import WaitlistStatus
from tenants.booking.services import mark_no_show
from tenants.campaigns.models import Slot
from tenants.onsite import queries
from tenants.onsite.models import DayClose
from tenants.onsite.models import VialOpening
from tenants.onsite.services.common import day_bounds
from tenants.onsite.services.common import tenant_id
from tenants.onsite.services.common import venue_of
from tenants.onsite.services.vaccination import close_vial


@dataclass
class Leftovers:
    """Before closing: doses left in open vials, and who could still take them."""

    doses_in_open_vials: int
    waitlist: int
    walk_in_places: int


def leftovers(venue_id: uuid.UUID, day: dt.date) -> Leftovers:
    doses = db.session.scalar(
        sa.select(
            sa.func.coalesce(sa.func.sum(VialOpening.doses_in_vial - VialOpening.doses_used), 0)
        ).where(VialOpening.venue_id == venue_id, VialOpening.closed_at.is_(None))
    )
    waiting = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(WaitlistEntry)
        .where(
            WaitlistEntry.venue_id == venue_id,
            WaitlistEntry.day == day,
            WaitlistEntry.status == WaitlistStatus.WAITING,
        )
    )
    return Leftovers(int(doses or 0), int(waiting or 0), queries.walk_in_places(venue_id, day))


@dataclass
class CloseResult:
    close: DayClose
    already_closed: bool


def close_day(
    venue_id: uuid.UUID,
    day: dt.date,
    *,
    actor: User | None,
    now: dt.datetime,
) -> CloseResult:
    """Close a venue's day, once: booked people whose slot has started become
    no-shows (seat and promised dose released), every opened vial is closed and its
    doses not recorded as given are wasted, and the day summary is stored. (Doses
    given from a vial are recorded as administrations before closing: the close page
    first proposes the leftovers to the waitlist and walk-ins.)

    The :class:`DayClose` row is inserted first, insert-or-nothing on (venue, day):
    a second close, even concurrent, inserts nothing and returns the first. A vial
    whose waste the stock refuses (its doses are promised) stays open and the summary
    says so.
    """
    venue = venue_of(venue_id)
    dialect = db.session.connection().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(DayClose)
    inserted = db.session.execute(
        insert.values(
            tenant_id=tenant_id(),
            id=uuid7(),
            venue_id=venue_id,
            day=day,
            closed_at=now,
            by_id=actor.id if actor else None,
            summary={},
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "venue_id", "day"])
        .returning(DayClose.id)
    ).first()
    if inserted is None:
        existing = db.session.scalar(
            sa.select(DayClose).where(DayClose.venue_id == venue_id, DayClose.day == day)
        )
        return CloseResult(existing, True)
    start, end = day_bounds(day, venue.timezone)
    no_show_ids = db.session.scalars(
        sa.select(Booking.id)
        .join(Slot, tenant_join(Slot, Booking.slot_id))
        .where(
            Booking.venue_id == venue_id,
            Booking.status == BookingStatus.BOOKED,
            Slot.starts_at >= start,
            Slot.starts_at < min(end, now),
        )
        .order_by(Booking.id)
    ).all()
    marked = 0
    for booking_id in no_show_ids:
        # A desk may check the person in meanwhile: skip them, close the rest.
        savepoint = db.session.begin_nested()
        try:
            mark_no_show(booking_id, now=now)
            savepoint.commit()
            marked += 1
        except DomainError:
            savepoint.rollback()
    not_closed = []
    for vial_id in db.session.scalars(
        sa.select(VialOpening.id)
        .where(
            VialOpening.venue_id == venue_id,
            VialOpening.closed_at.is_(None),
            VialOpening.opened_at < end,
        )
        .order_by(VialOpening.id)
    ).all():
        savepoint = db.session.begin_nested()
        try:
            close_vial(
                vial_id,
                actor=actor,
                now=now,
                reason=_("Opened vial closed at the end of the day"),
            )
            savepoint.commit()
        except DomainError as exc:
            savepoint.rollback()
            not_closed.append({"vial_id": str(vial_id), "reason": exc.message})
    summary = queries.day_summary(venue, day, now)
    summary["no_shows_marked"] = marked
    summary["vials_not_closed"] = not_closed
    summary["still_waiting"] = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Booking)
        .outerjoin(Slot, tenant_join(Slot, Booking.slot_id))
        .where(
            Booking.venue_id == venue_id,
            Booking.status == BookingStatus.ARRIVED,
            sa.or_(
                sa.and_(Slot.starts_at >= start, Slot.starts_at < end),
                sa.and_(Booking.slot_id.is_(None), Booking.created_at < end),
            ),
        )
    )
    db.session.execute(
        sa.update(DayClose)
        .where(DayClose.tenant_id == tenant_id(), DayClose.id == inserted.id)
        .values(summary=summary)
        .execution_options(synchronize_session=False)
    )
    close = db.session.get(DayClose, (tenant_id(), inserted.id), populate_existing=True)
    log_action(close, "onsite.day.closed", actor, {"day": day.isoformat(), **summary})
    return CloseResult(close, False)
