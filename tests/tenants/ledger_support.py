"""Builders for ledger tests: a tenant with approved venues, stock and a published campaign.

Dates are fixed in 2030 and every service gets ``now`` explicitly, so tests never
depend on the day they run.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from core.extensions import db
from core.models import Tenant
from core.models import TenantKind
from core.models import TenantStatus
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus
from tenants.booking.services import register_person
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot
from tenants.campaigns.services import create_campaign
from tenants.campaigns.services import generate_slots
from tenants.campaigns.services import publish_campaign
from tenants.stock.models import Product
from tenants.stock.services import create_product
from tenants.stock.services import receive_lot
from tenants.stock.services import visible_products

#: Monday 7 January 2030; the campaign starts that day
START = dt.date(2030, 1, 7)
#: "now" for bookings: the Sunday before, noon UTC (before every slot)
BEFORE = dt.datetime(2030, 1, 6, 12, tzinfo=dt.UTC)
#: 10:00 in Jakarta on the first campaign day
ON_DAY_ONE = dt.datetime(2030, 1, 7, 3, tzinfo=dt.UTC)
LATER = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
FAR_EXPIRY = dt.date(2031, 6, 30)
TODAY = dt.date(2029, 12, 1)  # "today" for receiving stock

_n = itertools.count(1)
_nik = itertools.count(3171010101900001)


@dataclass
class World:
    tenant: Tenant
    venues: list[Venue]
    product: Product
    campaign: Campaign
    people: list = field(default_factory=list)

    def campaign_in_session(self) -> Campaign:
        """The campaign, loaded in the current transaction (commits expire objects)."""
        return db.session.get(Campaign, (self.tenant.id, self.campaign.id))

    def slots(self, venue: Venue | None = None) -> list[Slot]:
        query = sa.select(Slot).where(Slot.campaign_id == self.campaign.id)
        if venue is not None:
            query = query.where(Slot.venue_id == venue.id)
        return list(db.session.scalars(query.order_by(Slot.starts_at, Slot.venue_id)))


def make_tenant(slug: str | None = None, status: TenantStatus = TenantStatus.ACTIVE) -> Tenant:
    n = next(_n)
    tenant = Tenant(
        slug=slug or f"ledger-{n}-{id(object())}",
        name=f"Ledger {n}",
        kind=TenantKind.CLINIC,
        status=status,
    )
    db.session.add(tenant)
    db.session.commit()
    return tenant


def make_venue(name: str = "Venue", *, stations: int = 2, approved: bool = True) -> Venue:
    venue = Venue(
        name=name,
        address="Jl. Test 1",
        province="DKI Jakarta",
        city="Jakarta Selatan",
        opening_hours={str(d): [["08:00", "10:00"]] for d in range(5)},  # Mon-Fri
        timezone="Asia/Jakarta",
        stations=stations,
        status=VenueStatus.APPROVED if approved else VenueStatus.DRAFT,
    )
    db.session.add(venue)
    db.session.flush()
    return venue


def make_person(name: str | None = None, born: dt.date = dt.date(1990, 1, 1)):
    return register_person(name or f"Person {next(_n)}", born, nik=str(next(_nik)))


def short_interval_product(days: int = 2) -> Product:
    """A tenant product with two doses ``days`` apart, to exercise second-dose booking."""
    return create_product(
        f"Test vaccine {next(_n)}",
        "Test Pharma",
        doses_in_series=2,
        doses_per_vial=5,
        intervals=[(1, 2, days, days, dt.date(2020, 1, 1))],
    )


def platform_product(name: str = "Pfizer-BioNTech") -> Product:
    return db.session.scalar(visible_products().where(Product.name == name))


def build_world(
    *,
    venues: int = 2,
    stations: int = 2,
    doses: int | None = 20,
    days: int = 5,
    interval_days: int = 2,
    walk_ins: int = 2,
    slot_minutes: int = 60,
) -> World:
    """Inside an open tenant_context: venues, a short-interval product with ``doses`` at
    each venue, a published campaign over ``days`` days with generated slots."""
    vs = [make_venue(f"Venue {i + 1}", stations=stations) for i in range(venues)]
    product = short_interval_product(interval_days)
    if doses:
        for venue in vs:
            receive_lot(venue.id, product.id, "LOT-A", FAR_EXPIRY, doses=doses, today=TODAY)
    campaign = create_campaign(
        name="Test campaign",
        slug=f"test-{next(_n)}",
        audience=Audience.PUBLIC,
        product_id=product.id,
        starts_on=START,
        ends_on=START + dt.timedelta(days=days - 1),
        venue_ids=[v.id for v in vs],
        doses_offered=[1, 2],
        slot_minutes=slot_minutes,
        walk_ins_per_day=walk_ins,
    )
    generate_slots(campaign)
    publish_campaign(campaign)
    db.session.commit()
    return World(db.session.get(Tenant, campaign.tenant_id), vs, product, campaign)


def scoped_world(**kwargs):
    """A new tenant and its world; returns (tenant, world) with the context left to the
    caller (``with tenant_context(tenant): ...``)."""
    tenant = make_tenant()
    with tenant_context(tenant):
        world = build_world(**kwargs)
    return tenant, world


def counters(venue: Venue, product: Product) -> tuple[int, int]:
    """(on_hand, promised) of a venue's stock, read fresh."""
    from tenants.stock.models import Stock

    row = db.session.execute(
        sa.select(Stock.on_hand, Stock.promised).where(
            Stock.venue_id == venue.id, Stock.product_id == product.id
        )
    ).first()
    return tuple(row) if row else (0, 0)


def booked(slot: Slot) -> int:
    return db.session.scalar(sa.select(Slot.booked).where(Slot.id == slot.id))


def assert_consistent() -> None:
    """Every counter equals its recount from rows."""
    from tenants.booking.recount import recount_stock

    drifts = recount_stock()
    assert drifts == [], [str(d) for d in drifts]
