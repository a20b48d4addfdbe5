"""Stock services: receive, transfer, waste and expire doses; find catalogue products.

Every function runs inside ``tenant_context`` and only flushes; the caller commits
(``tenants.booking.transaction.run_in_transaction`` retries lock conflicts). Counters
move by conditional ``UPDATE ... RETURNING`` in the order of :mod:`tenants.stock.locks`;
every change of doses writes a :class:`StockMovement`, the truth a recount rebuilds
the counters from.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from core.audit import log_action
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.ids import uuid7
from core.models import User
from core.tenancy import current_tenant_id
from onboarding.venues.models import Venue
from tenants.stock.locks import begin_ledger
from tenants.stock.models import IntervalRule
from tenants.stock.models import Lot
from tenants.stock.models import MovementKind
from tenants.stock.models import Product
from tenants.stock.models import Stock
from tenants.stock.models import StockMovement

_NO_SYNC = {"synchronize_session": False}


class StockError(DomainError):
    """A stock rule refused the change; ``code`` says which."""

    status = 409
    code = "stock"


def _tenant_id() -> uuid.UUID:
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise RuntimeError(_("stock services run inside tenant_context()"))
    return tenant_id


def visible_products() -> sa.Select:
    """Products this tenant may use: the platform catalogue and its own."""
    return sa.select(Product).where(
        sa.or_(Product.owner_tenant_id.is_(None), Product.owner_tenant_id == _tenant_id())
    )


def get_product(product_id: uuid.UUID) -> Product:
    """A product visible to this tenant, or NotFound (same answer on both databases)."""
    product = db.session.scalar(visible_products().where(Product.id == product_id))
    if product is None:
        raise StockError(_("This vaccine is not in your catalogue."), code="unknown_product")
    return product


def create_product(
    name: str,
    manufacturer: str,
    *,
    doses_in_series: int = 1,
    booster: bool = False,
    doses_per_vial: int = 1,
    open_vial_hours: int | None = None,
    min_age_years: int | None = None,
    max_age_years: int | None = None,
    intervals: list[tuple[int, int, int, int, dt.date]] = (),
) -> Product:
    """Add a tenant's own product (flu, HPV, ...) with its interval rules
    ``(from_dose, to_dose, min_days, recommended_days, effective_from)``."""
    product = Product(
        owner_tenant_id=_tenant_id(),
        name=name,
        manufacturer=manufacturer,
        doses_in_series=doses_in_series,
        booster=booster,
        doses_per_vial=doses_per_vial,
        open_vial_hours=open_vial_hours,
        min_age_years=min_age_years,
        max_age_years=max_age_years,
    )
    db.session.add(product)
    db.session.flush()
    for from_dose, to_dose, min_days, rec_days, since in intervals:
        db.session.add(
            IntervalRule(
                product_id=product.id,
                from_dose=from_dose,
                to_dose=to_dose,
                min_days=min_days,
                recommended_days=rec_days,
                effective_from=since,
            )
        )
    db.session.flush()
    return product


def interval_rule_for(product_id: uuid.UUID, from_dose: int, on: dt.date) -> IntervalRule | None:
    """The rule for the dose after ``from_dose`` given on ``on``: the latest rule whose
    ``effective_from`` is on or before that date."""
    return db.session.scalar(
        sa.select(IntervalRule)
        .where(
            IntervalRule.product_id == product_id,
            IntervalRule.from_dose == from_dose,
            IntervalRule.to_dose == from_dose + 1,
            IntervalRule.effective_from <= on,
        )
        .order_by(IntervalRule.effective_from.desc())
        .limit(1)
    )


def ensure_stock(venue_id: uuid.UUID, product_id: uuid.UUID) -> uuid.UUID:
    """The id of the Stock row for a venue and product, creating it (race-free) if missing."""
    tenant_id = _tenant_id()
    dialect = db.session.connection().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(Stock)
    db.session.execute(
        insert.values(
            tenant_id=tenant_id,
            id=uuid7(),
            venue_id=venue_id,
            product_id=product_id,
            on_hand=0,
            promised=0,
        ).on_conflict_do_nothing(index_elements=["tenant_id", "venue_id", "product_id"])
    )
    return db.session.scalar(
        sa.select(Stock.id).where(
            Stock.tenant_id == tenant_id,
            Stock.venue_id == venue_id,
            Stock.product_id == product_id,
        )
    )


def _venue(venue_id: uuid.UUID) -> Venue:
    venue = db.session.get(Venue, (_tenant_id(), venue_id))
    if venue is None:
        raise StockError(_("This venue does not exist."), code="unknown_venue")
    return venue


def _move(lot: Lot | uuid.UUID, kind: MovementKind, delta: int, reason: str | None, actor):
    db.session.add(
        StockMovement(
            lot_id=lot if isinstance(lot, uuid.UUID) else lot.id,
            kind=kind,
            delta=delta,
            reason=reason,
            actor_id=actor.id if isinstance(actor, User) else actor,
        )
    )


def _stock_update(stock_id: uuid.UUID, *conditions, **values):
    return db.session.execute(
        sa.update(Stock)
        .where(Stock.tenant_id == _tenant_id(), Stock.id == stock_id, *conditions)
        .values(**values)
        .returning(Stock.id, Stock.on_hand, Stock.promised)
        .execution_options(**_NO_SYNC)
    ).first()


def _lot_update(lot_id: uuid.UUID, *conditions, **values):
    return db.session.execute(
        sa.update(Lot)
        .where(Lot.tenant_id == _tenant_id(), Lot.id == lot_id, *conditions)
        .values(**values)
        .returning(Lot.id, Lot.on_hand)
        .execution_options(**_NO_SYNC)
    ).first()


def _refresh(*objs) -> None:
    for obj in objs:
        if obj is not None and obj in db.session:
            db.session.expire(obj)


def receive_lot(
    venue_id: uuid.UUID,
    product_id: uuid.UUID,
    batch_number: str,
    expiry_date: dt.date,
    *,
    doses: int | None = None,
    vials: int | None = None,
    actor: User | None = None,
    today: dt.date | None = None,
) -> Lot:
    """Receive a lot at a venue: ``doses``, or ``vials`` times the product's doses per vial."""
    venue = _venue(venue_id)
    product = get_product(product_id)
    if (doses is None) == (vials is None):
        raise StockError(_("Give either doses or vials."), code="invalid")
    count = doses if doses is not None else vials * product.doses_per_vial
    if count <= 0:
        raise StockError(_("A lot must hold at least one dose."), code="invalid")
    if not batch_number.strip():
        raise StockError(_("Give the batch number printed on the vials."), code="invalid")
    if expiry_date <= (today or dt.date.today()):
        raise StockError(_("This lot has already expired; record it as waste."), code="expired")
    begin_ledger()
    stock_id = ensure_stock(venue.id, product.id)
    _stock_update(stock_id, on_hand=Stock.on_hand + count)
    lot = Lot(
        venue_id=venue.id,
        product_id=product.id,
        batch_number=batch_number.strip(),
        expiry_date=expiry_date,
        doses_received=count,
        on_hand=count,
    )
    db.session.add(lot)
    db.session.flush()
    _move(lot, MovementKind.RECEIVED, count, None, actor)
    db.session.flush()
    return lot


def _lot(lot_id: uuid.UUID) -> Lot:
    lot = db.session.get(Lot, (_tenant_id(), lot_id))
    if lot is None:
        raise StockError(_("This lot does not exist."), code="unknown_lot")
    return lot


def transfer_doses(
    lot_id: uuid.UUID,
    to_venue_id: uuid.UUID,
    doses: int,
    *,
    actor: User | None = None,
    reason: str | None = None,
) -> Lot:
    """Move ``doses`` of a lot to another venue of the tenant; returns the lot there.

    Only free doses move (the source keeps ``promised <= on_hand``). Both stock rows
    are locked in id order.
    """
    lot = _lot(lot_id)
    target = _venue(to_venue_id)
    if doses <= 0:
        raise StockError(_("Transfer at least one dose."), code="invalid")
    if target.id == lot.venue_id:
        raise StockError(_("The lot is already at this venue."), code="invalid")
    begin_ledger()
    source_stock = ensure_stock(lot.venue_id, lot.product_id)
    target_stock = ensure_stock(target.id, lot.product_id)
    for stock_id in sorted((source_stock, target_stock)):
        if stock_id == source_stock:
            row = _stock_update(
                stock_id,
                Stock.on_hand - doses >= Stock.promised,
                on_hand=Stock.on_hand - doses,
            )
            if row is None:
                raise StockError(
                    _(
                        "Those doses are promised to booked people at this venue; only free "
                        "doses can be transferred."
                    ),
                    code="promised_doses",
                )
        else:
            _stock_update(stock_id, on_hand=Stock.on_hand + doses)
    if _lot_update(lot.id, Lot.on_hand >= doses, on_hand=Lot.on_hand - doses) is None:
        raise StockError(_("This lot does not hold that many doses."), code="lot_short")
    there = db.session.scalar(
        sa.select(Lot).where(
            Lot.venue_id == target.id,
            Lot.product_id == lot.product_id,
            Lot.batch_number == lot.batch_number,
            Lot.expiry_date == lot.expiry_date,
        )
    )
    if there is None:
        there = Lot(
            venue_id=target.id,
            product_id=lot.product_id,
            batch_number=lot.batch_number,
            expiry_date=lot.expiry_date,
            doses_received=0,
            on_hand=doses,
        )
        db.session.add(there)
        db.session.flush()
    else:
        _lot_update(there.id, on_hand=Lot.on_hand + doses)
    _move(lot, MovementKind.TRANSFER_OUT, -doses, reason, actor)
    _move(there, MovementKind.TRANSFER_IN, doses, reason, actor)
    db.session.flush()
    _refresh(lot, there)
    return there


def record_waste(
    lot_id: uuid.UUID, doses: int, reason: str, *, actor: User | None = None
) -> StockMovement:
    """Record doses lost (damaged, opened vial past its hours, ...) with a reason.

    Refused when it would leave fewer doses than are promised: the venue must first
    get doses transferred in (or bookings moved), so a promise is never left unbacked.
    """
    lot = _lot(lot_id)
    if doses <= 0:
        raise StockError(_("Record at least one dose."), code="invalid")
    if not reason or not reason.strip():
        raise StockError(_("Say why the doses were wasted."), code="invalid")
    begin_ledger()
    stock_id = ensure_stock(lot.venue_id, lot.product_id)
    if (
        _stock_update(
            stock_id, Stock.on_hand - doses >= Stock.promised, on_hand=Stock.on_hand - doses
        )
        is None
    ):
        raise StockError(
            _(
                "These doses are promised to booked people. Transfer doses in or move "
                "bookings first, then record the waste."
            ),
            code="promised_doses",
        )
    if _lot_update(lot.id, Lot.on_hand >= doses, on_hand=Lot.on_hand - doses) is None:
        raise StockError(_("This lot does not hold that many doses."), code="lot_short")
    movement = StockMovement(
        lot_id=lot.id,
        kind=MovementKind.WASTED,
        delta=-doses,
        reason=reason.strip(),
        actor_id=actor.id if actor else None,
    )
    db.session.add(movement)
    log_action(lot, "stock.lot.wasted", actor, {"doses": doses, "reason": reason.strip()})
    db.session.flush()
    _refresh(lot)
    return movement


@dataclass
class ExpiryReport:
    """What :func:`expire_lots` did: doses expired per lot, and doses it had to leave on
    an expired lot because they back promises (``shortfall``: staff must act)."""

    expired: dict[uuid.UUID, int] = field(default_factory=dict)
    shortfall: dict[uuid.UUID, int] = field(default_factory=dict)


def expire_lots(today: dt.date | None = None) -> ExpiryReport:
    """Take expired doses off hand (run daily; idempotent).

    A lot expires on its expiry date. Its remaining doses leave ``on_hand`` with an
    ``expired`` movement, **but never below the venue's promises**: the rule is that
    ``promised <= on_hand`` always holds, so the expiry removes at most the venue's free
    doses (``on_hand - promised``). Any remainder stays on the lot (marked
    ``expired_at``) and is reported as ``shortfall`` — promises no good dose backs yet.
    Meanwhile nothing new can be promised at that venue (no free doses), such a lot
    cannot be administered from (it is past its date), and the next run expires the
    remainder as soon as free doses appear (a lot received or transferred in, a booking
    cancelled). Nobody's booking is cancelled behind their back; staff see the shortfall.
    """
    today = today or dt.date.today()
    report = ExpiryReport()
    lots = db.session.scalars(
        sa.select(Lot).where(Lot.expiry_date <= today, Lot.on_hand > 0).order_by(Lot.id)
    ).all()
    if not lots:
        return report
    begin_ledger()
    # Stocks are locked in id order (the ledger's lock order), not in lot order.
    stock_ids = {lot.id: ensure_stock(lot.venue_id, lot.product_id) for lot in lots}
    lots = sorted(lots, key=lambda lot: (stock_ids[lot.id], lot.id))
    for lot in lots:
        stock_id = stock_ids[lot.id]
        # Lock the stock row first (lock order); lots change only under it.
        locked = _stock_update(stock_id, on_hand=Stock.on_hand)
        remaining = db.session.scalar(sa.select(Lot.on_hand).where(Lot.id == lot.id))
        take = min(remaining, locked.on_hand - locked.promised)
        if take > 0:
            _stock_update(stock_id, on_hand=Stock.on_hand - take)
            _lot_update(lot.id, on_hand=Lot.on_hand - take)
            _move(lot, MovementKind.EXPIRED, -take, "expired", None)
            report.expired[lot.id] = take
        if remaining - take > 0:
            report.shortfall[lot.id] = remaining - take
        if lot.expired_at is None:
            _lot_update(lot.id, expired_at=utcnow())
    db.session.flush()
    _refresh(*lots)
    return report
