"""The on-site desks' demo data: a few people booked into demo-clinic's next slots,
so `make run` shows the check-in desk and the venue board with people to check in.

Imported through ``core.app.MODEL_MODULES`` (after the ledger's demo, which makes the
campaign); appends to ``core.cli.DEMO_EXTENSIONS``.
"""

from __future__ import annotations

import datetime as dt

import click
import sqlalchemy as sa

from core.cli import DEMO_EXTENSIONS
from core.db import utcnow
from core.extensions import db
from core.models import Tenant
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.booking.models import Sex
from tenants.booking.services import BookingError
from tenants.booking.services import book_slot
from tenants.booking.services import person_with_nik
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot
from tenants.vouchers.codes import format_code

DEMO_CAMPAIGN = "vaksin-umum"
DEMO_PEOPLE = [
    ("Siti Rahmawati", "3171014505800001", dt.date(1980, 5, 5), Sex.FEMALE),
    ("Budi Santoso", "3171011203750002", dt.date(1975, 3, 12), Sex.MALE),
    ("Ahmad Fauzi", "3171012009900003", dt.date(1990, 9, 20), Sex.MALE),
    ("Dewi Lestari", "3171016107850004", dt.date(1985, 7, 21), Sex.FEMALE),
]


def seed_onsite_demo(tenants: dict[str, Tenant]) -> None:
    """demo-clinic: the demo people booked into the public campaign's next slots (once;
    re-running books nobody twice) and their voucher codes printed."""
    clinic = tenants.get("demo-clinic")
    if clinic is None:
        return
    with tenant_context(clinic):
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.slug == DEMO_CAMPAIGN))
        if campaign is None:
            return
        now = utcnow()
        slots = list(
            db.session.scalars(
                sa.select(Slot)
                .where(
                    Slot.campaign_id == campaign.id,
                    Slot.starts_at > now,
                    Slot.booked < Slot.capacity,
                )
                .order_by(Slot.starts_at)
                .limit(2)
            )
        )
        if not slots:
            return
        codes = []
        for n, (name, nik, born, sex) in enumerate(DEMO_PEOPLE):
            person, _created = person_with_nik(name, born, nik=nik, sex=sex)
            booking = db.session.scalar(
                sa.select(Booking).where(
                    Booking.campaign_id == campaign.id, Booking.person_id == person.id
                )
            )
            if booking is None:
                savepoint = db.session.begin_nested()
                try:
                    booking = book_slot(campaign, slots[n % len(slots)].id, person.id, now=now)
                    savepoint.commit()
                except BookingError:  # another demo took the seat: fewer demo people
                    savepoint.rollback()
                    continue
            codes.append((name, format_code(booking.voucher_code)))
        db.session.flush()
    click.echo(f"On site: /o/{clinic.slug}/checkin (check-in staff) - voucher codes:")
    for name, code in codes:
        click.echo(f"  {code}  {name}")


DEMO_EXTENSIONS.append(seed_onsite_demo)
