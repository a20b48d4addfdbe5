"""Objects the permission matrix (tests/onboarding/test_permissions.py) needs for the
on-site routes: a booking, a dose given and an opened vial in a tenant, made once per
matrix world. Rows are inserted directly: the matrix only asks who gets past the door
(empty forms never reach a ledger service)."""

from __future__ import annotations

import datetime as dt

from core.extensions import db
from core.ids import uuid7
from core.tenancy import tenant_context
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.services import register_person
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.onsite.models import VialOpening
from tenants.stock.services import create_product
from tenants.stock.services import receive_lot


def _objects(w, slug: str) -> dict:
    made = w.__dict__.setdefault("_onsite", {})
    if slug not in made:
        with tenant_context(w._tenant(slug)):
            venue_id = w.venues[slug]
            product = create_product("Matrix on-site vaccine", "Test", doses_per_vial=5)
            lot = receive_lot(
                venue_id, product.id, "OS-1", dt.date.today() + dt.timedelta(days=365), doses=10
            )
            person = register_person("Matrix Person", dt.date(1990, 1, 1))
            campaign = Campaign(
                name="Matrix on site",
                slug=f"onsite-{uuid7().hex[-8:]}",
                audience=Audience.PUBLIC,
                product_id=product.id,
                starts_on=dt.date(2030, 1, 7),
                ends_on=dt.date(2030, 1, 7),
            )
            db.session.add(campaign)
            db.session.flush()
            booking = Booking(
                person_id=person.id,
                campaign_id=campaign.id,
                venue_id=venue_id,
                product_id=product.id,
                dose_number=1,
                status=BookingStatus.ARRIVED,
            )
            db.session.add(booking)
            db.session.flush()
            now = dt.datetime.now(dt.UTC)
            administration = Administration(
                booking_id=booking.id, lot_id=lot.id, dose_number=1, administered_at=now
            )
            vial = VialOpening(
                lot_id=lot.id,
                venue_id=venue_id,
                doses_in_vial=5,
                opened_at=now,
                closes_at=now + dt.timedelta(hours=6),
                doses_used=0,
            )
            db.session.add_all([administration, vial])
            db.session.commit()
            made[slug] = {
                "booking_id": booking.id,
                "administration_id": administration.id,
                "vial_id": vial.id,
            }
    return made[slug]


def matrix_booking(w, slug: str = "alpha") -> dict:
    return {"booking_id": _objects(w, slug)["booking_id"]}


def matrix_administration(w, slug: str = "alpha") -> dict:
    return {"administration_id": _objects(w, slug)["administration_id"]}


def matrix_vial(w, slug: str = "alpha") -> dict:
    return {"vial_id": _objects(w, slug)["vial_id"]}
