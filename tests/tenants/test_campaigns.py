"""Campaigns: approved venues only, slots from opening hours, capacity, publishing."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import TenantStatus
from core.tenancy import tenant_context
from onboarding.venues.models import VenueStatus
from tenants.booking.services import book_slot
from tenants.campaigns.models import Audience
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import Slot
from tenants.campaigns.services import CampaignError
from tenants.campaigns.services import close_campaign
from tenants.campaigns.services import create_campaign
from tenants.campaigns.services import generate_slots
from tenants.campaigns.services import publish_campaign
from tenants.campaigns.services import set_slot_capacity
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_tenant
from tests.tenants.ledger_support import make_venue
from tests.tenants.ledger_support import short_interval_product


@pytest.fixture
def tenant(app):
    tenant = make_tenant()
    with tenant_context(tenant):
        yield tenant


def _campaign(venues, product, **kwargs):
    values = {
        "name": "Drive",
        "slug": f"drive-{len(venues)}-{id(kwargs)}",
        "audience": Audience.PUBLIC,
        "product_id": product.id,
        "starts_on": START,
        "ends_on": START + dt.timedelta(days=6),
        "venue_ids": [v.id for v in venues],
        "doses_offered": [1, 2],
        "slot_minutes": 30,
    }
    values.update(kwargs)
    return create_campaign(**values)


def test_campaigns_run_at_approved_venues_only(tenant):
    product = short_interval_product()
    draft = make_venue(approved=False)
    with pytest.raises(CampaignError) as exc:
        _campaign([draft], product)
    assert exc.value.code == "venue_not_approved"
    with pytest.raises(CampaignError) as exc:
        _campaign([make_venue()], product, doses_offered=[1, 4])
    assert exc.value.code == "invalid_doses"
    campaign = _campaign([make_venue()], product, slug="Flu-2030")
    assert campaign.slug == "flu-2030" and campaign.status == CampaignStatus.DRAFT
    with pytest.raises(CampaignError) as exc:
        _campaign([make_venue()], product, slug="flu-2030")
    assert exc.value.code == "slug_taken"


def test_slots_follow_opening_hours_in_the_venues_time_zone_and_are_idempotent(tenant):
    product = short_interval_product()
    jakarta = make_venue(stations=3)  # Mon-Fri 08:00-10:00 local
    jayapura = make_venue(stations=1)
    jayapura.timezone = "Asia/Jayapura"  # WIT, UTC+9
    jayapura.opening_hours = {"0": [["08:00", "09:00"], ["13:00", "13:30"]]}
    campaign = _campaign([jakarta, jayapura], product)
    assert generate_slots(campaign) == 5 * 4 + 3
    slots = db.session.scalars(
        sa.select(Slot).where(Slot.venue_id == jakarta.id).order_by(Slot.starts_at)
    ).all()
    assert slots[0].starts_at == dt.datetime(2030, 1, 7, 1, 0, tzinfo=dt.UTC)  # 08:00 WIB
    assert slots[0].ends_at == dt.datetime(2030, 1, 7, 1, 30, tzinfo=dt.UTC)
    assert slots[-1].starts_at == dt.datetime(2030, 1, 11, 2, 30, tzinfo=dt.UTC)  # Fri 09:30
    assert {s.capacity for s in slots} == {3}
    east = db.session.scalars(
        sa.select(Slot.starts_at).where(Slot.venue_id == jayapura.id).order_by(Slot.starts_at)
    ).all()
    assert east == [
        dt.datetime(2030, 1, 6, 23, 0, tzinfo=dt.UTC),
        dt.datetime(2030, 1, 6, 23, 30, tzinfo=dt.UTC),
        dt.datetime(2030, 1, 7, 4, 0, tzinfo=dt.UTC),
    ]
    set_slot_capacity(slots[0].id, 5)
    assert generate_slots(campaign) == 0  # idempotent, and edits are kept
    db.session.refresh(slots[0])
    assert slots[0].capacity == 5


def test_capacity_never_below_booked(tenant):
    world = build_world(venues=1, stations=2, doses=5)
    slot = world.slots()[0]
    book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    with pytest.raises(CampaignError) as exc:
        set_slot_capacity(slot.id, 1)
    assert exc.value.code == "below_booked" and "2 people" in exc.value.message
    assert set_slot_capacity(slot.id, 2).capacity == 2
    assert set_slot_capacity(slot.id, 4).capacity == 4


def test_publishing_needs_an_active_tenant_and_approved_venues(tenant):
    product = short_interval_product()
    venue = make_venue()
    campaign = _campaign([venue], product)
    venue.status = VenueStatus.SUBMITTED
    with pytest.raises(CampaignError) as exc:
        publish_campaign(campaign)
    assert exc.value.code == "venue_not_approved"
    venue.status = VenueStatus.APPROVED
    tenant.status = TenantStatus.PENDING
    with pytest.raises(CampaignError) as exc:
        publish_campaign(campaign)
    assert exc.value.code == "tenant_not_active"
    tenant.status = TenantStatus.ACTIVE
    assert publish_campaign(campaign).status == CampaignStatus.PUBLISHED
    with pytest.raises(CampaignError):
        publish_campaign(campaign)
    assert close_campaign(campaign).status == CampaignStatus.CLOSED
    with pytest.raises(CampaignError):
        close_campaign(campaign)
