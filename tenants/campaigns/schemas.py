"""Validation of the campaign forms: the campaign itself and a slot's seats.

Checkbox lists (venues, dose numbers) come from ``form.getlist``; the booking window is
entered as local date and time at the campaign's first venue and stored in UTC.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from tenants.campaigns.models import Audience
from tenants.stock.schemas import _FormSchema
from tenants.stock.schemas import _int
from tenants.stock.schemas import _req
from tenants.stock.schemas import load_form

#: dose numbers a campaign may offer, with their labels
DOSE_CHOICES = {
    1: _l("First dose"),
    2: _l("Second dose"),
    3: _l("Third dose or first booster"),
    4: _l("Fourth dose or second booster"),
}

AUDIENCE_LABELS = {
    Audience.PUBLIC: _l("The public (anyone within the age limits)"),
    Audience.EMPLOYEES: _l("Employees on a roster (and their dependants)"),
}


class CampaignSchema(_FormSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=3, max=200, error=_l("From 3 to 200 characters.")),
        error_messages=_req(_l("Give the campaign a name.")),
    )
    slug = fields.String(
        required=True,
        validate=[
            validate.Length(min=2, max=63, error=_l("From 2 to 63 characters.")),
            validate.Regexp(
                r"^[a-z0-9]+(-[a-z0-9]+)*$",
                error=_l("Use lower-case letters, digits and single dashes, e.g. flu-2031."),
            ),
        ],
        error_messages=_req(_l("Give the address of the booking page, e.g. flu-2031.")),
    )
    audience = fields.Enum(
        Audience,
        by_value=True,
        required=True,
        error_messages={**_req(_l("Choose who may book.")), "unknown": _l("Choose who may book.")},
    )
    product_id = fields.UUID(
        required=True,
        error_messages={**_req(_l("Choose a vaccine.")), "invalid_uuid": _l("Choose a vaccine.")},
    )
    doses_offered = fields.List(
        fields.Integer(validate=validate.OneOf(list(DOSE_CHOICES))),
        required=True,
        validate=validate.Length(min=1, error=_l("Offer at least one dose.")),
        error_messages={"required": _l("Offer at least one dose.")},
    )
    venue_ids = fields.List(
        fields.UUID(),
        required=True,
        validate=validate.Length(min=1, error=_l("Choose at least one approved venue.")),
        error_messages={"required": _l("Choose at least one approved venue.")},
    )
    starts_on = fields.Date(
        required=True,
        error_messages={
            **_req(_l("Give the first day.")),
            "invalid": _l("Write the date as YYYY-MM-DD."),
        },
    )
    ends_on = fields.Date(
        required=True,
        error_messages={
            **_req(_l("Give the last day.")),
            "invalid": _l("Write the date as YYYY-MM-DD."),
        },
    )
    slot_minutes = _int(5, 480, _l("Give from 5 to 480 minutes."))
    seats_per_slot = _int(
        1,
        500,
        _l("Give from 1 to 500 seats, or leave empty for the venue's stations."),
        required=False,
    )
    opens_at = fields.NaiveDateTime(
        load_default=None,
        error_messages={"invalid": _l("Give a date and time, e.g. 2031-03-01 08:00.")},
    )
    closes_at = fields.NaiveDateTime(
        load_default=None,
        error_messages={"invalid": _l("Give a date and time, e.g. 2031-03-31 17:00.")},
    )
    min_age_years = _int(0, 130, _l("Give an age from 0 to 130."), required=False)
    max_age_years = _int(0, 130, _l("Give an age from 0 to 130."), required=False)
    walk_ins_per_day = _int(0, 10_000, _l("Give from 0 to 10,000 walk-ins a day."))

    @validates_schema(skip_on_field_errors=False)
    def _ranges(self, data, **kwargs):
        errors = {}
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            errors["ends_on"] = [str(_l("The last day must not be before the first day."))]
        if data.get("opens_at") and data.get("closes_at") and data["closes_at"] <= data["opens_at"]:
            errors["closes_at"] = [str(_l("Bookings must close after they open."))]
        low, high = data.get("min_age_years"), data.get("max_age_years")
        if low is not None and high is not None and low > high:
            errors["max_age_years"] = [
                str(_l("The maximum age must not be below the minimum age."))
            ]
        if errors:
            raise ValidationError(errors)


def load_campaign_form(form) -> tuple[dict, dict]:
    """Validate the campaign form (a MultiDict); return (data, errors by field)."""
    raw = {k: form.get(k) for k in form if k not in ("doses_offered", "venue_ids")}
    for name in ("doses_offered", "venue_ids"):
        values = [v for v in form.getlist(name) if v.strip()]
        if values:
            raw[name] = values
    return load_form(CampaignSchema(), raw)


class CapacitySchema(_FormSchema):
    capacity = _int(0, 500, _l("Give from 0 to 500 seats."))
