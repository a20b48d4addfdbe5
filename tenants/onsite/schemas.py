"""Forms of the on-site desks."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates

from core.schemas import FormSchema
from tenants.onsite.models import ScreeningEffect
from tenants.onsite.models import ScreeningOutcome
from tenants.onsite.models import Severity
from tenants.stock.schemas import load_form

__all__ = ["load_form"]

_REQUIRED = {"required": _l("Required."), "null": _l("Required.")}


class OnsiteForm(FormSchema):
    """Empty inputs of a posted form count as not given (optional fields stay None)."""

    def load(self, data, **kwargs):
        cleaned = {k: v for k, v in dict(data).items() if v != ""}
        return super().load(cleaned, **kwargs)


def _time() -> fields.Time:
    return fields.Time(format="%H:%M", error_messages={"invalid": _l("Use HH:MM.")})


class DeskSchema(OnsiteForm):
    venue_id = fields.UUID(required=True, error_messages=_REQUIRED)
    day = fields.Date(required=True, error_messages=_REQUIRED)


class CodeSchema(OnsiteForm):
    code = fields.String(
        required=True, validate=validate.Length(min=4, max=2000), error_messages=_REQUIRED
    )


class ConfirmSchema(OnsiteForm):
    nonce = fields.String(required=True, validate=validate.Length(min=8, max=64))
    ktp = fields.Boolean(required=True, error_messages=_REQUIRED, truthy={"on", "1", "yes"})
    confirm_warnings = fields.Boolean(load_default=False, truthy={"on", "1", "yes"})

    @validates("ktp")
    def _matches(self, value, **kwargs):
        if not value:
            raise ValidationError(_l("Compare the KTP with the name, NIK and date of birth."))


class ScreeningSchema(OnsiteForm):
    outcome = fields.Enum(ScreeningOutcome, by_value=True, required=True, error_messages=_REQUIRED)
    return_date = fields.Date(load_default=None, allow_none=True)
    notes = fields.String(load_default=None, validate=validate.Length(max=2000))


class VaccinationSchema(OnsiteForm):
    lot_id = fields.UUID(required=True, error_messages=_REQUIRED)
    vaccinator_id = fields.UUID(required=True, error_messages=_REQUIRED)
    administered_at = _time()


class VialSchema(OnsiteForm):
    lot_id = fields.UUID(required=True, error_messages=_REQUIRED)
    opened_at = _time()


class VoidSchema(OnsiteForm):
    reason = fields.String(
        required=True, validate=validate.Length(min=3, max=500), error_messages=_REQUIRED
    )


class AdverseEventSchema(OnsiteForm):
    severity = fields.Enum(Severity, by_value=True, required=True, error_messages=_REQUIRED)
    description = fields.String(
        required=True, validate=validate.Length(min=3, max=2000), error_messages=_REQUIRED
    )
    observed_at = _time()


class WalkInSchema(OnsiteForm):
    """The desk's part of a walk-in; the person's data is the booking page's
    ``tenants.public.schemas.PersonSchema`` (same rules, NIK checks included)."""

    campaign_id = fields.UUID(required=True, error_messages=_REQUIRED)
    dose_number = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10))


class QuestionSchema(OnsiteForm):
    key = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z0-9_]{2,40}$"))
    text = fields.String(
        required=True, validate=validate.Length(min=3, max=500), error_messages=_REQUIRED
    )
    effect = fields.Enum(ScreeningEffect, by_value=True, required=True, error_messages=_REQUIRED)
    position = fields.Integer(load_default=0)
    active = fields.Boolean(load_default=False, truthy={"on", "1", "yes"})
