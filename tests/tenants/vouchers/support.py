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


# --- the permission matrix (tests/onboarding/test_permissions.py) ---------------------


def _matrix_booking(w, slug: str):
    """A fresh booking (rows inserted directly) in the matrix world's tenant: a POST of
    one persona (a cancel) must not change what the next one is asked about."""
    from core.tenancy import tenant_context
    from tenants.booking.models import BookingStatus
    from tenants.booking.models import WaitlistEntry
    from tenants.campaigns.models import Audience
    from tenants.campaigns.models import Campaign
    from tenants.stock.services import create_product

    made = w.__dict__.setdefault("_voucher_campaigns", {})
    tenant = w._tenant(slug)
    tenant_id = tenant.id
    with tenant_context(tenant):
        if slug not in made:
            product = create_product("Matrix voucher vaccine", "Test")
            campaign = Campaign(
                name="Matrix vouchers",
                slug=f"matrix-vouchers-{slug}",
                audience=Audience.PUBLIC,
                product_id=product.id,
                starts_on=dt.date(2030, 1, 7),
                ends_on=dt.date(2030, 1, 7),
            )
            db.session.add(campaign)
            db.session.commit()
            made[slug] = (campaign.id, product.id)
        campaign_id, product_id = made[slug]
        person = register_person("Matrix Voucher", dt.date(1990, 1, 1))
        booking = Booking(
            person_id=person.id,
            campaign_id=campaign_id,
            venue_id=w.venues[slug],
            product_id=product_id,
            dose_number=1,
            status=BookingStatus.BOOKED,
        )
        entry = WaitlistEntry(
            campaign_id=campaign_id,
            venue_id=w.venues[slug],
            day=dt.date(2030, 1, 7),
            person_id=person.id,
        )
        db.session.add_all([booking, entry])
        db.session.flush()
        ids = tenant_id, booking.id, entry.id
        db.session.commit()
        return ids


def matrix_token(w, purpose: str, slug: str = "alpha") -> dict:
    from tenants.vouchers import tokens

    tenant_id, booking_id, entry_id = _matrix_booking(w, slug)
    with w.app.test_request_context():
        if purpose == "offer":
            return {"token": tokens.offer_token(tenant_id, entry_id)}
        signed = {"voucher": tokens.voucher_token, "manage": tokens.manage_token}[purpose]
        return {"token": signed(Booking(tenant_id=tenant_id, id=booking_id))}


def matrix_forged(w, purpose: str) -> dict:
    """beta's booking named with alpha's signature: what a forger can make. 404."""
    alpha = matrix_token(w, purpose)["token"]
    beta = matrix_token(w, purpose, "beta")["token"]
    return {"token": beta.split(".")[0] + "." + alpha.split(".")[1]}
