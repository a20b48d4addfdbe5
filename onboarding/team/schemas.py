"""Validation of the team forms."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate

from core.models import Role
from core.schemas import FormSchema

#: roles an invitation may carry: owners are made by promoting a member, never by email
INVITABLE_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.CHECKIN)


def _strip_empty(data: dict) -> dict:
    data = {k: (v.strip() if isinstance(v, str) else v) for k, v in dict(data).items()}
    return {k: v for k, v in data.items() if v not in ("", None)}


class InvitationSchema(FormSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.Enum(Role, by_value=True, required=True, validate=validate.OneOf(INVITABLE_ROLES))

    @pre_load
    def _clean(self, data, **kwargs):
        data = _strip_empty(data)
        if "email" in data:
            data["email"] = data["email"].lower()
        return data


class RoleChangeSchema(FormSchema):
    role = fields.Enum(Role, by_value=True, required=True)

    @pre_load
    def _clean(self, data, **kwargs):
        return _strip_empty(data)


class EndDateSchema(FormSchema):
    """An end date for a membership; empty clears it."""

    ends_on = fields.Date(load_default=None, allow_none=True)

    @pre_load
    def _clean(self, data, **kwargs):
        return _strip_empty(data)
