"""API representations (and inputs) of objects whose packages have no API schema yet."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from onboarding.venues.models import VenueStatus
from tenants.booking.models import BookingSource
from tenants.booking.models import BookingStatus
from tenants.booking.models import Sex
from tenants.campaigns.models import Audience
from tenants.campaigns.models import CampaignStatus


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


class CampaignSchema(Schema):
    """A campaign as the API shows it."""

    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    slug = fields.String(dump_only=True)
    audience = fields.Enum(Audience, by_value=True, dump_only=True)
    status = fields.Enum(CampaignStatus, by_value=True, dump_only=True)
    product_id = fields.UUID(dump_only=True)
    doses_offered = fields.List(fields.Integer(), dump_only=True)
    starts_on = fields.Date(dump_only=True)
    ends_on = fields.Date(dump_only=True)
    slot_minutes = fields.Integer(dump_only=True)
    opens_at = fields.DateTime(dump_only=True, allow_none=True)
    closes_at = fields.DateTime(dump_only=True, allow_none=True)
    min_age_years = fields.Integer(dump_only=True, allow_none=True)
    max_age_years = fields.Integer(dump_only=True, allow_none=True)
    venue_ids = fields.Method(
        "_venue_ids",
        dump_only=True,
        metadata={"type": "array", "items": {"type": "string", "format": "uuid"}},
    )

    def _venue_ids(self, campaign) -> list[str]:
        from tenants.campaigns.services import campaign_venue_ids

        return [str(v) for v in campaign_venue_ids(campaign)]


class CampaignListQuery(Schema):
    status = fields.Enum(CampaignStatus, by_value=True)


class AvailabilityQuery(Schema):
    venue_id = fields.UUID(required=True)
    day = fields.Date(required=True, metadata={"description": "The venue's local date"})


class SlotAvailabilitySchema(Schema):
    """One slot of a day: what can be booked in it right now."""

    slot_id = fields.UUID(dump_only=True)
    starts_at = fields.DateTime(dump_only=True)
    ends_at = fields.DateTime(dump_only=True)
    seats_free = fields.Integer(dump_only=True)
    doses_free = fields.Integer(dump_only=True)
    bookable = fields.Integer(
        dump_only=True, metadata={"description": "min(seats free, doses free): what to offer"}
    )


class AvailabilitySchema(Schema):
    campaign_id = fields.UUID(dump_only=True)
    venue_id = fields.UUID(dump_only=True)
    day = fields.Date(dump_only=True)
    slots = fields.List(fields.Nested(SlotAvailabilitySchema), dump_only=True)


class PersonInSchema(Schema):
    """The person to book; found by NIK if registered already, else registered."""

    full_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    date_of_birth = fields.Date(required=True)
    nik = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{16}$"),
        metadata={"description": "16-digit Indonesian national identity number"},
    )
    sex = fields.Enum(Sex, by_value=True, load_default=None)
    phone = fields.String(load_default=None, validate=validate.Length(max=30))
    email = fields.Email(load_default=None)


class BookingCreateSchema(Schema):
    campaign_id = fields.UUID(required=True)
    slot_id = fields.UUID(required=True)
    dose_number = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10))
    person = fields.Nested(PersonInSchema, required=True)


class BookingRescheduleSchema(Schema):
    slot_id = fields.UUID(required=True)


class BookingSchema(Schema):
    """A booking as the API shows it (the person by id only: no personal data)."""

    id = fields.UUID(dump_only=True)
    campaign_id = fields.UUID(dump_only=True)
    venue_id = fields.UUID(dump_only=True)
    slot_id = fields.UUID(dump_only=True, allow_none=True)
    person_id = fields.UUID(dump_only=True)
    dose_number = fields.Integer(dump_only=True)
    status = fields.Enum(BookingStatus, by_value=True, dump_only=True)
    source = fields.Enum(BookingSource, by_value=True, dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    cancelled_at = fields.DateTime(dump_only=True, allow_none=True)
