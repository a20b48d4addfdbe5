"""Check-ins, read-only: who arrived where and when, for the tenant's own systems
(an HR system marking the time off, a door counter). Checking in is done on site."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from marshmallow import Schema
from marshmallow import fields

from core.api.models import ApiScope
from core.api.pagination import paginate
from tenants.api.blueprint import api
from tenants.onsite.models import CheckIn


class CheckInSchema(Schema):
    """A check-in as the API shows it."""

    id = fields.UUID(dump_only=True)
    booking_id = fields.UUID(dump_only=True)
    venue_id = fields.UUID(dump_only=True)
    checked_in_at = fields.DateTime(dump_only=True)
    walk_in = fields.Boolean(dump_only=True)
    released_at = fields.DateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Set when a deferral at screening sent the person away"},
    )


class CheckInListQuery(Schema):
    """Filters of the check-in list."""

    venue_id = fields.UUID()
    since = fields.DateTime(metadata={"description": "Check-ins at or after this time"})


@api.operation(
    "/check-ins",
    summary="List check-ins",
    scope=ApiScope.READ,
    query=CheckInListQuery(),
    response=CheckInSchema(),
    paginated=True,
    tags=["check-ins"],
)
def list_checkins(args: dict, page: dict):
    """The tenant's check-ins in the order they were made, optionally at one venue or
    since a moment (for polling: pass the time of the last one seen)."""
    statement = sa.select(CheckIn)
    if args.get("venue_id") is not None:
        statement = statement.where(CheckIn.venue_id == args["venue_id"])
    if args.get("since") is not None:
        since = args["since"]
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        statement = statement.where(CheckIn.checked_in_at >= since)
    return paginate(statement, CheckIn.id, "check-ins", **page)
