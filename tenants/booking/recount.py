"""Rebuild every ledger counter from the rows and report (optionally fix) drift.

The rows are the truth: stock movements for ``Stock.on_hand`` and ``Lot.on_hand``;
bookings for ``Stock.promised`` (booked or arrived), ``Slot.booked`` (booked, arrived
or vaccinated) and ``WalkInDay.used`` (active walk-ins).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from core.extensions import db
from core.tenancy import current_tenant_id
from tenants.booking.models import ACTIVE_STATUSES
from tenants.booking.models import PROMISING_STATUSES
from tenants.booking.models import Booking
from tenants.campaigns.models import Slot
from tenants.campaigns.models import WalkInDay
from tenants.stock.models import Lot
from tenants.stock.models import Stock
from tenants.stock.models import StockMovement


@dataclass(frozen=True)
class Drift:
    """A counter that disagrees with its rows."""

    table: str
    row_id: uuid.UUID | tuple
    counter: str
    stored: int
    recounted: int

    def __str__(self) -> str:
        return (
            f"{self.table} {self.row_id} {self.counter}: "
            f"stored {self.stored}, rows say {self.recounted}"
        )


def recount_stock(*, fix: bool = False) -> list[Drift]:
    """Compare every counter of the current tenant with a count of its rows; with
    ``fix``, write the recounted values (the CHECK constraints still apply: a recount
    that finds more promises than doses fails loudly rather than hiding it)."""
    if current_tenant_id() is None:
        raise RuntimeError("recount_stock runs inside tenant_context()")
    drifts: list[Drift] = []
    session = db.session

    lot_sums = dict(
        session.execute(
            sa.select(StockMovement.lot_id, sa.func.sum(StockMovement.delta)).group_by(
                StockMovement.lot_id
            )
        ).all()
    )
    lots = session.execute(sa.select(Lot.id, Lot.venue_id, Lot.product_id, Lot.on_hand)).all()
    stock_on_hand: dict[tuple, int] = {}
    for lot in lots:
        counted = int(lot_sums.get(lot.id, 0))
        key = (lot.venue_id, lot.product_id)
        stock_on_hand[key] = stock_on_hand.get(key, 0) + counted
        if counted != lot.on_hand:
            drifts.append(Drift("lot", lot.id, "on_hand", lot.on_hand, counted))
            if fix:
                session.execute(sa.update(Lot).where(Lot.id == lot.id).values(on_hand=counted))

    promised = dict(
        ((v, p), n)
        for v, p, n in session.execute(
            sa.select(Booking.venue_id, Booking.product_id, sa.func.count())
            .where(Booking.status.in_(PROMISING_STATUSES))
            .group_by(Booking.venue_id, Booking.product_id)
        ).all()
    )
    stocks = session.execute(
        sa.select(Stock.id, Stock.venue_id, Stock.product_id, Stock.on_hand, Stock.promised)
    ).all()
    seen = set()
    for stock in stocks:
        key = (stock.venue_id, stock.product_id)
        seen.add(key)
        values = {}
        if stock_on_hand.get(key, 0) != stock.on_hand:
            drifts.append(
                Drift("stock", stock.id, "on_hand", stock.on_hand, stock_on_hand.get(key, 0))
            )
            values["on_hand"] = stock_on_hand.get(key, 0)
        if promised.get(key, 0) != stock.promised:
            drifts.append(
                Drift("stock", stock.id, "promised", stock.promised, promised.get(key, 0))
            )
            values["promised"] = promised.get(key, 0)
        if fix and values:
            session.execute(sa.update(Stock).where(Stock.id == stock.id).values(**values))
    for key in (set(stock_on_hand) | set(promised)) - seen:
        if stock_on_hand.get(key, 0) or promised.get(key, 0):
            drifts.append(Drift("stock", key, "missing row", 0, stock_on_hand.get(key, 0)))

    booked = dict(
        session.execute(
            sa.select(Booking.slot_id, sa.func.count())
            .where(Booking.slot_id.is_not(None), Booking.status.in_(ACTIVE_STATUSES))
            .group_by(Booking.slot_id)
        ).all()
    )
    for slot_id, stored in session.execute(sa.select(Slot.id, Slot.booked)).all():
        if booked.get(slot_id, 0) != stored:
            drifts.append(Drift("slot", slot_id, "booked", stored, booked.get(slot_id, 0)))
            if fix:
                session.execute(
                    sa.update(Slot).where(Slot.id == slot_id).values(booked=booked.get(slot_id, 0))
                )

    used = dict(
        session.execute(
            sa.select(Booking.walk_in_day_id, sa.func.count())
            .where(Booking.walk_in_day_id.is_not(None), Booking.status.in_(ACTIVE_STATUSES))
            .group_by(Booking.walk_in_day_id)
        ).all()
    )
    for day_id, stored in session.execute(sa.select(WalkInDay.id, WalkInDay.used)).all():
        if used.get(day_id, 0) != stored:
            drifts.append(Drift("walk_in_day", day_id, "used", stored, used.get(day_id, 0)))
            if fix:
                session.execute(
                    sa.update(WalkInDay)
                    .where(WalkInDay.id == day_id)
                    .values(used=used.get(day_id, 0))
                )
    if fix:
        session.flush()
        session.expire_all()
    return drifts
