"""Changing a draft campaign (the console's edit form).

Kept apart from :mod:`tenants.campaigns.services` (create, slots, publish) while that
module's proofs are finished; the rules are the same as for creating. Only drafts
change: nobody can have booked them yet, so slots that no longer fit the new dates,
venues or slot length are removed (generate slots again to fill the new shape).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from core.audit import log_action
from core.extensions import db
from core.models import User
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus
from tenants.booking.services.common import day_bounds
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import CampaignVenue
from tenants.campaigns.models import Slot
from tenants.campaigns.services import CampaignError
from tenants.campaigns.services import campaign_venue_ids
from tenants.stock.services import get_product


def update_campaign(
    campaign: Campaign,
    *,
    name: str,
    slug: str,
    audience: Audience,
    product_id: uuid.UUID,
    starts_on: dt.date,
    ends_on: dt.date,
    venue_ids: list[uuid.UUID],
    doses_offered: list[int],
    slot_minutes: int,
    seats_per_slot: int | None = None,
    opens_at: dt.datetime | None = None,
    closes_at: dt.datetime | None = None,
    min_age_years: int | None = None,
    max_age_years: int | None = None,
    walk_ins_per_day: int = 0,
    actor: User | None = None,
) -> int:
    """Apply the form to a draft; return how many slots were removed."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError(
            "Only a draft campaign can be changed; this one is already published.",
            code="not_draft",
        )
    product = get_product(product_id)
    slug = slug.strip().lower()
    if ends_on < starts_on:
        raise CampaignError("The campaign ends before it starts.", code="invalid")
    doses = sorted({int(d) for d in doses_offered})
    last = product.doses_in_series + (1 if product.booster else 0)
    if not doses or doses[0] < 1 or doses[-1] > last:
        raise CampaignError(f"{product.name} is given as doses 1 to {last}.", code="invalid_doses")
    wanted = list(dict.fromkeys(venue_ids))
    if not wanted:
        raise CampaignError("Choose at least one venue.", code="invalid")
    venues = {}
    for vid in wanted:
        venue = db.session.get(Venue, (campaign.tenant_id, vid))
        if venue is None:
            raise CampaignError("This venue does not exist.", code="unknown_venue")
        if venue.status != VenueStatus.APPROVED:
            raise CampaignError(
                f"The venue {venue.name} is not approved yet; campaigns run at approved "
                "venues only.",
                code="venue_not_approved",
            )
        venues[vid] = venue
    taken = db.session.scalar(
        sa.select(Campaign.id).where(Campaign.slug == slug, Campaign.id != campaign.id)
    )
    if taken:
        raise CampaignError("Another campaign uses this address already.", code="slug_taken")

    removed = 0
    current = set(campaign_venue_ids(campaign))
    gone = current - set(wanted)
    reshape = slot_minutes != campaign.slot_minutes
    for vid in current:
        query = sa.delete(Slot).where(
            Slot.campaign_id == campaign.id, Slot.venue_id == vid, Slot.booked == 0
        )
        if vid not in gone and not reshape:
            zone = venues[vid].timezone
            start = day_bounds(starts_on, zone)[0]
            end = day_bounds(ends_on, zone)[1]
            query = query.where(sa.or_(Slot.starts_at < start, Slot.starts_at >= end))
        removed += db.session.execute(query.execution_options(synchronize_session=False)).rowcount
    if gone:
        db.session.execute(
            sa.delete(CampaignVenue)
            .where(CampaignVenue.campaign_id == campaign.id, CampaignVenue.venue_id.in_(gone))
            .execution_options(synchronize_session=False)
        )
    for vid in wanted:
        if vid not in current:
            db.session.add(CampaignVenue(campaign_id=campaign.id, venue_id=vid))

    campaign.name = name.strip()
    campaign.slug = slug
    campaign.audience = Audience(audience)
    campaign.product_id = product.id
    campaign.doses_offered = doses
    campaign.starts_on, campaign.ends_on = starts_on, ends_on
    campaign.slot_minutes = slot_minutes
    campaign.seats_per_slot = seats_per_slot
    campaign.opens_at, campaign.closes_at = opens_at, closes_at
    campaign.min_age_years = min_age_years if min_age_years is not None else product.min_age_years
    campaign.max_age_years = max_age_years if max_age_years is not None else product.max_age_years
    campaign.walk_ins_per_day = walk_ins_per_day
    log_action(campaign, "campaigns.campaign.updated", actor, {"slots_removed": removed})
    db.session.flush()
    return removed
