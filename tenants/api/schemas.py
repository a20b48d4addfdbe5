"""API representations of objects owned by packages that have no API schema yet."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields

from onboarding.venues.models import VenueStatus


class VenueSchema(Schema):
    """A venue as the API shows it."""

    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    address = fields.String(dump_only=True)
    province = fields.String(dump_only=True)
    city = fields.String(dump_only=True)
    district = fields.String(dump_only=True, allow_none=True)
    latitude = fields.Float(dump_only=True, allow_none=True)
    longitude = fields.Float(dump_only=True, allow_none=True)
    timezone = fields.String(dump_only=True, metadata={"description": "IANA time zone"})
    stations = fields.Integer(dump_only=True)
    status = fields.Enum(VenueStatus, by_value=True, dump_only=True)
    opening_hours = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.List(fields.String())),
        dump_only=True,
        metadata={"description": 'Weekday (0 = Monday) → [["08:00", "12:00"], …], local time'},
    )
    created_at = fields.DateTime(dump_only=True)


class VenueListQuery(Schema):
    """Filters of the venue list."""

    status = fields.Enum(VenueStatus, by_value=True)
