"""The statements of the booking hot path, built once at import.

``book_slot`` is what a surge runs, hundreds of times a second on one slot row. Two
things bound it: how long the slot and stock rows stay locked (every other booking of
that slot waits for the holder's COMMIT), and the Python cost of each statement.

* On PostgreSQL the seat, the dose and the booking row are ONE statement (data-modifying
  CTEs): ``UPDATE slot`` → ``UPDATE stock ... FROM seat`` → ``INSERT ... SELECT FROM
  dose``. The stock update joins the seat's RETURNING row, so PostgreSQL cannot lock the
  stock row before the slot row: the ledger's lock order (slots, then stocks) holds. The
  rows stay locked for one round trip plus the COMMIT instead of three plus the COMMIT.
  If the slot is refused the other two find no row; if the dose is refused no row is inserted
  and the caller rolls the seat back.
* SQLite (the embedded default; no data-modifying CTEs) runs the same three steps as
  separate statements; its writers are serialised by the database lock anyway.
* The statements are Core constructs with bind parameters, executed on the session's
  connection: SQLAlchemy compiles each once (its compiled cache), and they skip the ORM's
  per-statement hooks. Every statement names ``tenant_id`` itself, and row-level security
  (``app.tenant_id``, set when the transaction began) still applies underneath.
* The booking is inserted with Core and then attached to the session as a persistent
  object built from the same values (no flush, no SELECT back). Column defaults that run
  in Python (``created_at``, the voucher code…) are evaluated here, from the model, so a
  default added to ``Booking`` later is honoured without touching this module.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached

from core.extensions import db
from core.models import Tenant
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.models import Person
from tenants.campaigns.models import Slot
from tenants.stock.locks import LOCK_TIMEOUT
from tenants.stock.models import Stock

_BOOKING = Booking.__table__
_SLOT = Slot.__table__
_STOCK = Stock.__table__
_HOLDING = [BookingStatus.BOOKED, BookingStatus.ARRIVED, BookingStatus.VACCINATED]

# Parameter names never equal a column name: in an UPDATE, an execution parameter named
# like a column would be added to its SET clause.
_tid = sa.bindparam("p_tenant_id", type_=_BOOKING.c.tenant_id.type)
_campaign = sa.bindparam("p_campaign_id", type_=_BOOKING.c.campaign_id.type)
_person = sa.bindparam("p_person_id", type_=_BOOKING.c.person_id.type)
_dose = sa.bindparam("p_dose_number", type_=_BOOKING.c.dose_number.type)
_slot = sa.bindparam("p_slot_id", type_=_SLOT.c.id.type)
_now = sa.bindparam("p_now", type_=_SLOT.c.starts_at.type)
_product = sa.bindparam("p_product_id", type_=_STOCK.c.product_id.type)


def _checks_statement(with_lock_timeout: bool) -> sa.Select:
    """One read for the checks: the tenant's status, the person's birth date and the
    person's active booking for this dose (status and time), if any. On PostgreSQL it
    also sets the ledger's ``lock_timeout`` (transaction-local) before any lock is
    asked for, so that costs no round trip of its own."""
    b, s, p, t = _BOOKING, _SLOT, Person.__table__, Tenant.__table__
    existing = (
        sa.select(b.c.status, s.c.starts_at)
        .select_from(b.outerjoin(s, sa.and_(s.c.tenant_id == b.c.tenant_id, s.c.id == b.c.slot_id)))
        .where(
            b.c.tenant_id == _tid,
            b.c.campaign_id == _campaign,
            b.c.person_id == _person,
            b.c.dose_number == _dose,
            b.c.status.in_(_HOLDING),
        )
        .limit(1)
    )
    columns = [
        t.c.status.label("tenant_status"),
        p.c.date_of_birth,
        existing.with_only_columns(b.c.status).scalar_subquery().label("existing_status"),
        existing.with_only_columns(s.c.starts_at).scalar_subquery().label("existing_starts_at"),
    ]
    if with_lock_timeout:
        columns.append(sa.func.set_config("lock_timeout", LOCK_TIMEOUT, True).label("lt"))
    return (
        sa.select(*columns)
        .select_from(p.join(t, t.c.id == p.c.tenant_id))
        .where(p.c.tenant_id == _tid, p.c.id == _person)
    )


CHECKS = _checks_statement(with_lock_timeout=False)
CHECKS_PG = _checks_statement(with_lock_timeout=True)


def _booking_param(column: sa.Column) -> sa.BindParameter:
    return sa.bindparam(f"b_{column.key}", type_=column.type)


def _book_statement() -> sa.Select:
    """Seat, dose and booking row in one PostgreSQL statement (see the module doc).
    Returns ``seat_venue_id`` (None: the slot refused) and ``booking_id`` (None: the
    dose was refused, or the slot)."""
    seat = (
        sa.update(_SLOT)
        .where(
            _SLOT.c.tenant_id == _tid,
            _SLOT.c.id == _slot,
            _SLOT.c.campaign_id == _campaign,
            _SLOT.c.booked < _SLOT.c.capacity,
            _SLOT.c.starts_at > _now,
        )
        .values(booked=_SLOT.c.booked + 1)
        .returning(_SLOT.c.venue_id)
        .cte("seat")
    )
    dose = (
        sa.update(_STOCK)
        .where(
            _STOCK.c.tenant_id == _tid,
            _STOCK.c.venue_id == seat.c.venue_id,
            _STOCK.c.product_id == _product,
            _STOCK.c.promised < _STOCK.c.on_hand,
        )
        .values(promised=_STOCK.c.promised + 1)
        .returning(_STOCK.c.venue_id)
        .cte("dose")
    )
    columns = list(_BOOKING.columns)
    row = sa.select(
        *(dose.c.venue_id if c.key == "venue_id" else _booking_param(c) for c in columns)
    )
    booked = _BOOKING.insert().from_select(columns, row).returning(_BOOKING.c.id).cte("booked")
    return sa.select(
        sa.select(seat.c.venue_id).scalar_subquery().label("seat_venue_id"),
        sa.select(booked.c.id).scalar_subquery().label("booking_id"),
    )


BOOK_PG = _book_statement()
INSERT_BOOKING = _BOOKING.insert()


def row_values(table: sa.Table, given: dict) -> dict:
    """Every column of a new row of ``table``: ``given``, then the model's Python-side
    defaults, then NULL. A SQL-side default would be missed by an attached object (see
    :func:`attach`), so it is refused here rather than silently read back as None."""
    values = dict(given)
    for column in table.columns:
        if column.key in values:
            continue
        default = column.default
        if default is None:
            if column.server_default is not None:
                raise TypeError(f"{table.name}.{column.key} has a server default: set it here")
            values[column.key] = None
        elif default.is_callable:
            values[column.key] = default.arg(None)
        elif default.is_scalar:
            values[column.key] = default.arg
        else:
            raise TypeError(f"{table.name}.{column.key} has a SQL default: set it here")
    return values


def booking_values(**given) -> dict:
    """Every column of a new booking (:func:`row_values`)."""
    return row_values(_BOOKING, given)


def attach(model: type, values: dict):
    """A row just inserted with ``values`` (every column, :func:`row_values`) as a
    persistent, fully loaded object of the session: no flush, no SELECT back."""
    obj = model(**values)
    make_transient_to_detached(obj)
    db.session.add(obj)
    return obj


def book_params(values: dict, *, slot_id, now, product_id) -> dict:
    """Parameters of :data:`BOOK_PG` for a booking's values."""
    params = {f"b_{k}": v for k, v in values.items() if k != "venue_id"}
    params.update(
        p_tenant_id=values["tenant_id"],
        p_campaign_id=values["campaign_id"],
        p_slot_id=slot_id,
        p_now=now,
        p_product_id=product_id,
    )
    return params
