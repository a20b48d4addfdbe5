"""Validation of the platform admin forms."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate

from core.models import TenantStatus
from core.schemas import FormSchema


def _strip_empty(data: dict) -> dict:
    data = {k: (v.strip() if isinstance(v, str) else v) for k, v in dict(data).items()}
    return {k: v for k, v in data.items() if v not in ("", None)}


class TenantSearchSchema(FormSchema):
    q = fields.String(load_default="", validate=validate.Length(max=100))
    status = fields.Enum(TenantStatus, by_value=True, load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))

    @pre_load
    def _clean(self, data, **kwargs):
        return _strip_empty(data)


class StatusChangeSchema(FormSchema):
    """Suspending or reactivating a tenant needs a reason the owners will read."""

    reason = fields.String(required=True, validate=validate.Length(min=5, max=2000))

    @pre_load
    def _clean(self, data, **kwargs):
        return _strip_empty(data)


class ReviewerSchema(FormSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))

    @pre_load
    def _clean(self, data, **kwargs):
        data = _strip_empty(data)
        if "email" in data:
            data["email"] = data["email"].lower()
        return data
