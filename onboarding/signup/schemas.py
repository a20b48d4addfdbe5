"""Validation of the organisation sign-up form."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate

from core.models import TenantKind
from core.schemas import FormSchema

#: lower-case letters, digits and hyphens; starts and ends with a letter or digit
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")

#: words a tenant may not take: they are, or may become, the platform's own URLs
#: or would let a tenant pass for the platform or the ministry.
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "administrator",
        "api",
        "app",
        "apps",
        "assets",
        "auth",
        "b",
        "billing",
        "blog",
        "cdn",
        "console",
        "dashboard",
        "docs",
        "help",
        "healthz",
        "readyz",
        "login",
        "logout",
        "mail",
        "ministry",
        "kemenkes",
        "o",
        "official",
        "root",
        "review",
        "reviewer",
        "reviews",
        "security",
        "settings",
        "sign-in",
        "sign-out",
        "sign-up",
        "signin",
        "signout",
        "signup",
        "static",
        "status",
        "support",
        "system",
        "team",
        "v",
        "www",
        "www1",
        "www2",
        "sentra",
        "account",
        "accounts",
        "invitations",
        "invitation",
        "webhooks",
        "webhook",
        "stripe",
        "about",
        "terms",
        "privacy",
        "contact",
        "files",
    }
)

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()-]{6,30}[0-9]$")


def normalise_slug(value: str) -> str:
    """What we store for what a person typed: trimmed, lower-case."""
    return (value or "").strip().lower()


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` cannot be used (format or reserved word), or None. Uniqueness is separate."""
    if not 3 <= len(slug) <= 63:
        return str(_l("Use 3 to 63 characters."))
    if not SLUG_RE.match(slug):
        return str(
            _l(
                "Use only lower-case letters, digits and hyphens, starting and ending "
                "with a letter or digit."
            )
        )
    if "--" in slug:
        return str(_l("Do not use two hyphens in a row."))
    if slug in RESERVED_SLUGS:
        return str(_l("This address is reserved. Please choose another."))
    return None


def _validate_slug(value: str) -> None:
    if problem := slug_problem(value):
        raise ValidationError(problem)


def _validate_phone(value: str) -> None:
    if not PHONE_RE.match(value):
        raise ValidationError(str(_l("Enter a phone number, e.g. +62 21 555 0100.")))


class OrganisationSchema(FormSchema):
    """The organisation sign-up form."""

    kind = fields.Enum(TenantKind, by_value=True, required=True)
    legal_name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    slug = fields.String(required=True, validate=_validate_slug)
    province = fields.String(required=True, validate=validate.Length(min=2, max=100))
    city = fields.String(required=True, validate=validate.Length(min=2, max=100))
    contact_phone = fields.String(required=True, validate=_validate_phone)

    @pre_load
    def _clean(self, data, **kwargs):
        data = {k: (v.strip() if isinstance(v, str) else v) for k, v in dict(data).items()}
        if "slug" in data:
            data["slug"] = normalise_slug(data["slug"])
        # An empty field is a missing field: the form posts "" for untouched inputs.
        return {k: v for k, v in data.items() if v not in ("", None)}
