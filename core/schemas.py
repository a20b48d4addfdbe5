"""Shared marshmallow bases."""

from __future__ import annotations

from marshmallow import EXCLUDE
from marshmallow import Schema


class FormSchema(Schema):
    """Base for every schema that validates an HTML form.

    A form carries fields that are not data (the CSRF token, the pressed button); they
    are ignored rather than refused, or every real form would fail with "Unknown field".
    """

    class Meta:
        unknown = EXCLUDE
