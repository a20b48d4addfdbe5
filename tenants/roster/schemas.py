"""Forms of the roster console and the proof page, and the roster's API shapes.

Roster rows reach the import service as loosely typed values on purpose (strings, or
null): the service reports each row's problems in words a coordinator understands,
row by row, instead of one 422 for the whole upload.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate
from marshmallow import validates

from core.schemas import FormSchema

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _req(message) -> dict:
    return {"required": message, "null": message}


class _FormSchema(FormSchema):
    """Strips strings; an empty field counts as missing."""

    @pre_load
    def _clean(self, data, **kwargs):
        return {
            k: v.strip() if isinstance(v, str) else v
            for k, v in dict(data).items()
            if not (isinstance(v, str) and not v.strip())
        }


def load_form(schema: Schema, form) -> tuple[dict, dict]:
    """Validate a submitted form: (data, {field: first message})."""
    try:
        return schema.load(form), {}
    except ValidationError as exc:
        errors = {}
        for name, messages in exc.messages.items():
            first = messages[0] if isinstance(messages, list) else messages
            errors[name if name != "_schema" else "form"] = str(first)
        return {}, errors


# --- console and public forms ----------------------------------------------------------


class InviteCodesSchema(_FormSchema):
    count = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(min=1, max=1000, error=_l("Make between 1 and 1000 codes.")),
        error_messages={
            **_req(_l("Say how many codes to make.")),
            "invalid": _l("Write a whole number."),
        },
    )


class PriorityGroupSchema(_FormSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(max=120, error=_l("At most 120 characters.")),
        error_messages=_req(_l("Give the group a name.")),
    )
    declaration = fields.String(
        required=True,
        validate=validate.Length(max=1000, error=_l("At most 1000 characters.")),
        error_messages=_req(_l("Write what a person declares to book in this group.")),
    )


class ProofBirthDateSchema(_FormSchema):
    employee_number = fields.String(
        required=True,
        validate=validate.Length(max=64),
        error_messages=_req(_l("Enter your employee number.")),
    )
    date_of_birth = fields.Date(
        required=True,
        error_messages={
            **_req(_l("Enter your date of birth.")),
            "invalid": _l("Enter a date of birth like 1990-12-31."),
        },
    )


class ProofEmailSchema(_FormSchema):
    email = fields.String(
        required=True,
        validate=validate.Length(max=254),
        error_messages=_req(_l("Enter your work email address.")),
    )

    @validates("email")
    def _looks_like_email(self, value: str, **kwargs) -> None:
        if not _EMAIL.match(value):
            raise ValidationError(str(_l("Enter an email address like name@company.co.id.")))


class ProofCodeSchema(_FormSchema):
    code = fields.String(
        required=True,
        validate=validate.Length(max=40),
        error_messages=_req(_l("Enter your invite code.")),
    )


# --- API -------------------------------------------------------------------------------


class RosterRowInSchema(Schema):
    """One employee. Values are checked by the import (see each row's result)."""

    employee_number = fields.String(
        required=True, validate=validate.Length(min=1, max=64), metadata={"example": "E0042"}
    )
    full_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    nik = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "16-digit NIK; this or date_of_birth is needed"},
    )
    date_of_birth = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "YYYY-MM-DD (or DD-MM-YYYY); this or nik is needed"},
    )
    email = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=254),
        metadata={"description": "for magic-link proof at booking"},
    )
    dependants_allowed = fields.Integer(
        load_default=0,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=-1000, max=1000),
        metadata={"description": "family members the employee may book for"},
    )


class RosterUpsertSchema(Schema):
    rows = fields.List(
        fields.Nested(RosterRowInSchema),
        required=True,
        validate=validate.Length(min=1, max=10_000),
        metadata={"description": "Up to 10,000 employees per call"},
    )


class RowResultSchema(Schema):
    index = fields.Integer(dump_only=True, metadata={"description": "0-based, as sent"})
    employee_number = fields.String(dump_only=True, allow_none=True)
    status = fields.String(
        dump_only=True,
        metadata={"enum": ["accepted", "updated", "unchanged", "refused"]},
    )
    reasons = fields.List(fields.String(), dump_only=True)


class RosterCountsSchema(Schema):
    accepted = fields.Integer(dump_only=True)
    updated = fields.Integer(dump_only=True)
    unchanged = fields.Integer(dump_only=True)
    refused = fields.Integer(dump_only=True)


class RosterUpsertResultSchema(Schema):
    counts = fields.Nested(RosterCountsSchema, dump_only=True)
    rows = fields.List(fields.Nested(RowResultSchema), dump_only=True)


class RosterEntrySchema(Schema):
    """A roster line as the API shows it: no NIK (masked), date of birth or email."""

    id = fields.UUID(dump_only=True)
    employee_number = fields.String(dump_only=True)
    full_name = fields.String(dump_only=True)
    nik_masked = fields.String(dump_only=True, allow_none=True)
    has_date_of_birth = fields.Function(
        lambda e: e.date_of_birth is not None, dump_only=True, metadata={"type": "boolean"}
    )
    has_email = fields.Function(
        lambda e: e.email_bidx is not None, dump_only=True, metadata={"type": "boolean"}
    )
    dependants_allowed = fields.Integer(dump_only=True)
    dependants_booked = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
