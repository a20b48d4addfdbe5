"""Validation of the stock forms: receive a lot, transfer, waste, a tenant's own product.

Each ``load_*`` returns ``(data, errors)``; errors are ``{field name: message}`` so the
form re-renders with a summary that links to each field.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate
from marshmallow import validates_schema

from core.schemas import FormSchema


def _req(message) -> dict:
    """Error messages for a field left empty, saying which field it is."""
    return {"required": message, "null": message}


def _int(
    minimum: int, maximum: int, message, *, required: bool = True, missing=None
) -> fields.Integer:
    optional = {} if required else {"load_default": None, "allow_none": True}
    return fields.Integer(
        required=required,
        **optional,
        strict=False,
        validate=validate.Range(min=minimum, max=maximum, error=message),
        error_messages={**_req(missing or message), "invalid": _l("Write a whole number.")},
    )


class _FormSchema(FormSchema):
    """Strips strings and treats empty fields as missing."""

    @pre_load
    def _clean(self, data, **kwargs):
        clean = {}
        for key, value in dict(data).items():
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            clean[key] = value
        return clean


class ReceiveLotSchema(_FormSchema):
    venue_id = fields.UUID(
        required=True,
        error_messages={**_req(_l("Choose a venue.")), "invalid_uuid": _l("Choose a venue.")},
    )
    product_id = fields.UUID(
        required=True,
        error_messages={**_req(_l("Choose a vaccine.")), "invalid_uuid": _l("Choose a vaccine.")},
    )
    batch_number = fields.String(
        required=True,
        validate=validate.Length(max=60, error=_l("At most 60 characters.")),
        error_messages=_req(_l("Give the batch number printed on the vials.")),
    )
    expiry_date = fields.Date(
        required=True,
        error_messages={
            **_req(_l("Give the expiry date.")),
            "invalid": _l("Write the date as YYYY-MM-DD."),
        },
    )
    doses = _int(1, 1_000_000, _l("Give from 1 to 1,000,000 doses."), required=False)
    vials = _int(1, 100_000, _l("Give from 1 to 100,000 vials."), required=False)

    @validates_schema(skip_on_field_errors=False)
    def _doses_or_vials(self, data, **kwargs):
        if data.get("doses") is None and data.get("vials") is None:
            raise ValidationError(str(_l("Give the number of doses or of vials.")), "doses")
        if data.get("doses") is not None and data.get("vials") is not None:
            raise ValidationError(str(_l("Give doses or vials, not both.")), "doses")


class TransferSchema(_FormSchema):
    to_venue_id = fields.UUID(
        required=True,
        error_messages={
            **_req(_l("Choose the venue to send doses to.")),
            "invalid_uuid": _l("Choose the venue to send doses to."),
        },
    )
    doses = _int(1, 1_000_000, _l("Give from 1 to 1,000,000 doses."))
    reason = fields.String(
        load_default=None, validate=validate.Length(max=500, error=_l("At most 500 characters."))
    )


#: the usual reasons for waste; "other" asks for a note
WASTE_REASONS = {
    "damaged": _l("Damaged or broken vial"),
    "cold_chain": _l("Cold chain failure (temperature out of range)"),
    "open_vial": _l("Opened vial past its hours"),
    "expired": _l("Expired"),
    "other": _l("Other (say what happened)"),
}


class WasteSchema(_FormSchema):
    doses = _int(1, 1_000_000, _l("Give from 1 to 1,000,000 doses."))
    reason = fields.String(
        required=True,
        validate=validate.OneOf(list(WASTE_REASONS), error=_l("Choose why the doses were lost.")),
        error_messages={"required": _l("Choose why the doses were lost.")},
    )
    note = fields.String(
        load_default=None, validate=validate.Length(max=500, error=_l("At most 500 characters."))
    )

    @validates_schema(skip_on_field_errors=False)
    def _note_for_other(self, data, **kwargs):
        if data.get("reason") == "other" and not data.get("note"):
            raise ValidationError(str(_l("Say what happened to the doses.")), "note")


class ProductSchema(_FormSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=2, max=120, error=_l("From 2 to 120 characters.")),
        error_messages=_req(_l("Give the vaccine's name.")),
    )
    manufacturer = fields.String(
        required=True,
        validate=validate.Length(min=2, max=120, error=_l("From 2 to 120 characters.")),
        error_messages=_req(_l("Give the manufacturer.")),
    )
    doses_in_series = _int(1, 10, _l("Give from 1 to 10 doses."))
    booster = fields.Boolean(load_default=False, truthy={"on", "1", "true", "y"})
    doses_per_vial = _int(1, 100, _l("Give from 1 to 100 doses per vial."))
    open_vial_hours = _int(1, 720, _l("Give from 1 to 720 hours."), required=False)
    min_age_years = _int(0, 130, _l("Give an age from 0 to 130."), required=False)
    max_age_years = _int(0, 130, _l("Give an age from 0 to 130."), required=False)
    interval_days = _int(0, 3650, _l("Give from 0 to 3650 days."), required=False)

    @validates_schema(skip_on_field_errors=False)
    def _checks(self, data, **kwargs):
        errors = {}
        low, high = data.get("min_age_years"), data.get("max_age_years")
        if low is not None and high is not None and low > high:
            errors["max_age_years"] = [
                str(_l("The maximum age must not be below the minimum age."))
            ]
        if (data.get("doses_in_series") or 1) > 1 and data.get("interval_days") is None:
            errors["interval_days"] = [str(_l("Give the days between doses of the series."))]
        if errors:
            raise ValidationError(errors)


def load_form(schema: Schema, form) -> tuple[dict, dict]:
    """Validate a submitted form; return (data, {field: first message})."""
    try:
        return schema.load(form), {}
    except ValidationError as exc:
        errors = {}
        for name, messages in exc.messages.items():
            first = messages[0] if isinstance(messages, list) else messages
            errors[name if name != "_schema" else "form"] = str(first)
        return {}, errors
