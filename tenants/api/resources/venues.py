"""Venues: read-only through the API (they change through the console and review)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from core.access import get_or_404
from core.api.models import ApiScope
from core.api.pagination import paginate
from onboarding.venues.models import Venue
from tenants.api.blueprint import api
from tenants.api.schemas import VenueListQuery
from tenants.api.schemas import VenueSchema


@api.operation(
    "/venues",
    summary="List venues",
    scope=ApiScope.READ,
    query=VenueListQuery(),
    response=VenueSchema(),
    paginated=True,
    tags=["venues"],
)
def list_venues(args: dict, page: dict):
    """The tenant's venues in creation order, optionally only those of one status."""
    statement = sa.select(Venue)
    if args.get("status") is not None:
        statement = statement.where(Venue.status == args["status"])
    return paginate(statement, Venue.id, "venues", **page)


@api.operation(
    "/venues/<uuid:venue_id>",
    summary="Get a venue",
    scope=ApiScope.READ,
    response=VenueSchema(),
    tags=["venues"],
)
def get_venue(venue_id: uuid.UUID):
    """One venue of the tenant; another tenant's venue answers 404."""
    return get_or_404(Venue, venue_id)
