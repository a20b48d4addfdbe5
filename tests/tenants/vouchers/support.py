"""Shared builders for voucher tests: a booked person with an email, the outbox."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.extensions import db
from core.models import OutboxMessage
from core.tenancy import Scope
from core.tenancy import cross_tenant
from tenants.booking.models import Booking
from tenants.booking.services import book_slot
from tenants.booking.services import register_person
from tenants.booking.transaction import run_in_transaction
from tenants.campaigns.models import Slot
from tenants.stock.models import Stock
from tests.tenants.ledger_support import BEFORE

NIK = iter(range(3171044505910001, 3171044505919999))


def book(world, slot, *, email="siti@example.test", locale="id", name="Siti Rahma") -> Booking:
    """Register a person and book ``slot`` in its own committed transaction, as the
    booking page does (so the after-commit voucher job runs)."""
    nik = str(next(NIK))
    person = register_person(name, dt.date(1990, 1, 1), nik=nik, email=email or None, locale=locale)
    db.session.commit()
    person_id, slot_id = person.id, slot.id
    booking_id = run_in_transaction(
        lambda: book_slot(world.campaign_in_session(), slot_id, person_id, now=BEFORE).id
    )
    db.session.expire_all()
    return db.session.get(Booking, (world.tenant.id, booking_id))


def outbox(template: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    with cross_tenant(Scope.SYSTEM):
        query = sa.select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
        if template:
            query = query.where(OutboxMessage.template == template)
        return list(db.session.scalars(query))


def seats_booked(slot_id) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(Slot.booked).where(Slot.id == slot_id))


def promised(venue_id, product_id) -> int:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(Stock.promised).where(Stock.venue_id == venue_id, Stock.product_id == product_id)
    )
