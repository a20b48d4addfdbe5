"""Problem documents for the API beyond what core.errors already answers.

core.errors turns HTTP errors and DomainErrors under ``/api/`` into
``application/problem+json``; this adds marshmallow's ValidationError (422 with the
errors of each field) and the errors of API authentication.
"""

from __future__ import annotations

from flask import Response
from flask_babel import gettext as _
from marshmallow import ValidationError

from core.errors import DomainError
from core.errors import _rollback
from core.errors import problem


class ApiError(DomainError):
    """An API-level refusal (authentication, scope, idempotency, cursor)."""


class Unauthenticated(ApiError):
    status = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


def validation_problem(exc: ValidationError) -> Response:
    """422 with ``errors``: {field: [messages]} exactly as marshmallow reports them."""
    _rollback()
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return problem(
        422,
        _("The request has invalid fields"),
        _("Correct the fields listed in errors and send the request again."),
        "validation_failed",
        errors=messages,
    )


def unauthenticated_problem(exc: Unauthenticated) -> Response:
    """401 with the ``WWW-Authenticate`` challenge RFC 6750 asks for."""
    _rollback()
    response = problem(exc.status, exc.message, None, exc.code, **exc.details)
    response.headers["WWW-Authenticate"] = 'Bearer realm="sentra-api"'
    return response
