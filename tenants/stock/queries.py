"""Reads for the stock screens: counters per venue and product, the rate doses are
given at, lots near expiry, a lot's movements. Reads only; the counters are the ones
the ledger moves (``Stock``), never recomputed here."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from core.db import utcnow
from core.extensions import db
from core.models import User
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.stock.models import Lot
from tenants.stock.models import MovementKind
from tenants.stock.models import Product
from tenants.stock.models import Stock
from tenants.stock.models import StockMovement
from tenants.stock.services import visible_products

#: the window the current rate of administration is measured over
RATE_DAYS = 14
#: lots expiring within this many days are highlighted
NEAR_EXPIRY_DAYS = 30


@dataclass(frozen=True)
class StockRow:
    venue_id: uuid.UUID
    venue_name: str
    product_id: uuid.UUID
    product_name: str
    on_hand: int
    promised: int
    #: doses given per day over the last RATE_DAYS days (0.0: none given)
    per_day: float

    @property
    def free(self) -> int:
        return self.on_hand - self.promised

    @property
    def days_left(self) -> int | None:
        """Days the doses on hand last at the current rate; None without a rate."""
        if self.per_day <= 0:
            return None
        return int(self.on_hand / self.per_day)


def stock_rows(now: dt.datetime | None = None) -> list[StockRow]:
    """Every venue and product with a stock row, its counters and its current rate."""
    since = (now or utcnow()) - dt.timedelta(days=RATE_DAYS)
    # administered minus voided administrations, per venue and product, since `since`
    given = (
        sa.select(
            Lot.venue_id,
            Lot.product_id,
            sa.func.sum(-StockMovement.delta).label("given"),
        )
        .join(Lot, tenant_join(Lot, StockMovement.lot_id))
        .where(
            StockMovement.kind.in_([MovementKind.ADMINISTERED, MovementKind.VOID_ADMINISTRATION]),
            StockMovement.at >= since,
        )
        .group_by(Lot.venue_id, Lot.product_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(
            Stock.venue_id,
            Venue.name,
            Stock.product_id,
            Product.name,
            Stock.on_hand,
            Stock.promised,
            sa.func.coalesce(given.c.given, 0),
        )
        .join(Venue, tenant_join(Venue, Stock.venue_id))
        .join(Product, Product.id == Stock.product_id)
        .outerjoin(
            given,
            sa.and_(given.c.venue_id == Stock.venue_id, given.c.product_id == Stock.product_id),
        )
        .order_by(Venue.name, Product.name)
    ).all()
    return [
        StockRow(vid, vname, pid, pname, on_hand, promised, max(0, int(n)) / RATE_DAYS)
        for vid, vname, pid, pname, on_hand, promised, n in rows
    ]


@dataclass(frozen=True)
class LotRow:
    lot: Lot
    venue_name: str
    product_name: str
    near_expiry: bool
    expired: bool


def lot_rows(today: dt.date | None = None) -> list[LotRow]:
    """Lots still holding doses, soonest expiry first."""
    today = today or dt.date.today()
    soon = today + dt.timedelta(days=NEAR_EXPIRY_DAYS)
    rows = db.session.execute(
        sa.select(Lot, Venue.name, Product.name)
        .join(Venue, tenant_join(Venue, Lot.venue_id))
        .join(Product, Product.id == Lot.product_id)
        .where(Lot.on_hand > 0)
        .order_by(Lot.expiry_date, Venue.name, Lot.batch_number)
    ).all()
    return [
        LotRow(lot, vname, pname, lot.expiry_date <= soon, lot.expiry_date <= today)
        for lot, vname, pname in rows
    ]


@dataclass(frozen=True)
class MovementRow:
    movement: StockMovement
    actor_name: str | None


def movements_of(lot: Lot) -> list[MovementRow]:
    rows = db.session.execute(
        sa.select(StockMovement, User.name)
        .outerjoin(User, User.id == StockMovement.actor_id)
        .where(StockMovement.lot_id == lot.id)
        .order_by(StockMovement.at.desc(), StockMovement.id.desc())
    ).all()
    return [MovementRow(m, name) for m, name in rows]


def venues() -> list[Venue]:
    return list(db.session.scalars(sa.select(Venue).order_by(Venue.name)))


def products() -> list[Product]:
    """The catalogue this tenant sees (platform products and its own)."""
    return list(db.session.scalars(visible_products().order_by(Product.name)))


def own_products() -> list[Product]:
    return [p for p in products() if p.owner_tenant_id is not None]
