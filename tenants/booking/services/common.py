"""What every ledger service shares: the error, the tenant, and the counter statements."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _

from core.errors import DomainError
from core.extensions import db
from core.tenancy import current_tenant_id
from tenants.campaigns.models import Slot
from tenants.campaigns.models import WalkInDay
from tenants.stock.models import Stock

NO_SYNC = {"synchronize_session": False}


class BookingError(DomainError):
    """The ledger refused: ``code`` is one of ``slot_full``, ``no_doses``,
    ``duplicate_booking``, ``not_open``, ``busy``, ``walk_ins_full``, ``not_active``,
    ``unknown_slot``, ``lot_unusable``, ``seats_available``, ``offer_expired``,
    ``too_early``, ``invalid``. Nothing was taken when it is raised (the caller rolls
    back)."""

    status = 409
    code = "booking"


def tenant_id() -> uuid.UUID:
    tid = current_tenant_id()
    if tid is None:
        raise RuntimeError(_("ledger services run inside tenant_context()"))
    return tid


def local_day(at: dt.datetime, timezone: str) -> dt.date:
    """The venue's local date at an instant."""
    return at.astimezone(ZoneInfo(timezone)).date()


def day_bounds(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local day, in UTC."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def take_seat(slot_id: uuid.UUID, *conditions) -> sa.Row | None:
    """``booked + 1`` if a seat is free (and ``conditions`` hold); None otherwise."""
    return db.session.execute(
        sa.update(Slot)
        .where(
            Slot.tenant_id == tenant_id(),
            Slot.id == slot_id,
            Slot.booked < Slot.capacity,
            *conditions,
        )
        .values(booked=Slot.booked + 1)
        .returning(Slot.id, Slot.venue_id, Slot.starts_at)
        .execution_options(**NO_SYNC)
    ).first()


def release_seat(slot_id: uuid.UUID) -> None:
    """``booked - 1`` (the CHECK keeps it from going below zero)."""
    db.session.execute(
        sa.update(Slot)
        .where(Slot.tenant_id == tenant_id(), Slot.id == slot_id)
        .values(booked=Slot.booked - 1)
        .execution_options(**NO_SYNC)
    )


def promise_dose(venue_id: uuid.UUID, product_id: uuid.UUID) -> sa.Row | None:
    """``promised + 1`` if a dose is free at the venue; None otherwise."""
    return db.session.execute(
        sa.update(Stock)
        .where(
            Stock.tenant_id == tenant_id(),
            Stock.venue_id == venue_id,
            Stock.product_id == product_id,
            Stock.promised < Stock.on_hand,
        )
        .values(promised=Stock.promised + 1)
        .returning(Stock.id)
        .execution_options(**NO_SYNC)
    ).first()


def move_stock(
    venue_id: uuid.UUID, product_id: uuid.UUID, *, on_hand: int = 0, promised: int = 0
) -> sa.Row | None:
    """Add deltas to a stock row in one statement; None if the row is missing or the
    result would break ``0 <= promised <= on_hand`` (checked in the WHERE, so the caller
    gets None rather than a constraint error)."""
    return db.session.execute(
        sa.update(Stock)
        .where(
            Stock.tenant_id == tenant_id(),
            Stock.venue_id == venue_id,
            Stock.product_id == product_id,
            Stock.promised + promised >= 0,
            Stock.promised + promised <= Stock.on_hand + on_hand,
        )
        .values(on_hand=Stock.on_hand + on_hand, promised=Stock.promised + promised)
        .returning(Stock.id)
        .execution_options(**NO_SYNC)
    ).first()


def take_walk_in(walk_in_day_id: uuid.UUID) -> sa.Row | None:
    """``used + 1`` if the day's walk-in allowance is not used up; None otherwise."""
    return db.session.execute(
        sa.update(WalkInDay)
        .where(
            WalkInDay.tenant_id == tenant_id(),
            WalkInDay.id == walk_in_day_id,
            WalkInDay.used < WalkInDay.allowance,
        )
        .values(used=WalkInDay.used + 1)
        .returning(WalkInDay.id)
        .execution_options(**NO_SYNC)
    ).first()


def release_walk_in(walk_in_day_id: uuid.UUID) -> None:
    db.session.execute(
        sa.update(WalkInDay)
        .where(WalkInDay.tenant_id == tenant_id(), WalkInDay.id == walk_in_day_id)
        .values(used=WalkInDay.used - 1)
        .execution_options(**NO_SYNC)
    )
