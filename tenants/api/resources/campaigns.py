"""Campaigns and their availability: read-only, from the ledger's own counters."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from core.access import get_or_404
from core.api.models import ApiScope
from core.api.pagination import paginate
from tenants.api.blueprint import api
from tenants.api.schemas import AvailabilityQuery
from tenants.api.schemas import AvailabilitySchema
from tenants.api.schemas import CampaignListQuery
from tenants.api.schemas import CampaignSchema
from tenants.booking.services import availability
from tenants.campaigns.models import Campaign
from tenants.campaigns.services import campaign_venue_ids


@api.operation(
    "/campaigns",
    summary="List campaigns",
    scope=ApiScope.READ,
    query=CampaignListQuery(),
    response=CampaignSchema(),
    paginated=True,
    tags=["campaigns"],
)
def list_campaigns(args: dict, page: dict):
    """The tenant's campaigns in creation order, optionally only those of one status."""
    statement = sa.select(Campaign)
    if args.get("status") is not None:
        statement = statement.where(Campaign.status == args["status"])
    return paginate(statement, Campaign.id, "campaigns", **page)


@api.operation(
    "/campaigns/<uuid:campaign_id>",
    summary="Get a campaign",
    scope=ApiScope.READ,
    response=CampaignSchema(),
    tags=["campaigns"],
)
def get_campaign(campaign_id: uuid.UUID):
    """One campaign of the tenant, with the venues it runs at."""
    return get_or_404(Campaign, campaign_id)


@api.operation(
    "/campaigns/<uuid:campaign_id>/availability",
    summary="Availability of a campaign at a venue on a day",
    scope=ApiScope.READ,
    query=AvailabilityQuery(),
    response=AvailabilitySchema(),
    tags=["campaigns"],
)
def get_availability(campaign_id: uuid.UUID, args: dict):
    """Per slot of the venue's local day: seats free, doses free, and what is bookable
    (the smaller of the two), from the same counters the bookings move."""
    campaign = get_or_404(Campaign, campaign_id)
    if args["venue_id"] not in campaign_venue_ids(campaign):
        return {
            "campaign_id": campaign.id,
            "venue_id": args["venue_id"],
            "day": args["day"],
            "slots": [],
        }
    slots = availability(campaign, args["venue_id"], args["day"])
    return {
        "campaign_id": campaign.id,
        "venue_id": args["venue_id"],
        "day": args["day"],
        "slots": [
            {
                "slot_id": s.slot_id,
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
                "seats_free": s.seats_free,
                "doses_free": s.doses_free,
                "bookable": s.bookable,
            }
            for s in slots
        ],
    }
