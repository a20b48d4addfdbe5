"""Validation of the billing forms."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from core.schemas import FormSchema
from tenants.billing.plans import PlanCode


class CheckoutSchema(FormSchema):
    """The upgrade form: which paid plan, and the form's own key (for idempotency)."""

    plan = fields.String(
        required=True, validate=validate.OneOf([PlanCode.CLINIC.value, PlanCode.ENTERPRISE.value])
    )
    #: made when the page is rendered, so a double-submitted form is one Checkout
    request_key = fields.UUID(required=True)
