"""``/api/v1``: the resources, the OpenAPI document and its documentation page.

Resources live in ``tenants/api/resources/<area>.py``, one module per area; a new area
is one module and one line in :data:`RESOURCE_MODULES`.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask import render_template
from flask_babel import gettext as _
from werkzeug.utils import import_string

from core.api.openapi import build_openapi
from core.api.openapi import describe
from core.api.openapi import render_description
from core.errors import problem
from core.extensions import db
from tenants.api.blueprint import DESCRIPTION
from tenants.api.blueprint import api
from tenants.stock.locks import is_retryable

#: the modules whose import registers operations on ``api``
RESOURCE_MODULES = [
    "tenants.api.resources.venues",
    "tenants.api.resources.campaigns",
    "tenants.api.resources.bookings",
]

for _module in RESOURCE_MODULES:
    import_string(_module)

bp = api


@api.errorhandler(sa.exc.DBAPIError)
def ledger_busy(exc: sa.exc.DBAPIError):
    """A lock conflict the ledger would retry: 503 busy, nothing taken; else a 500."""
    if not is_retryable(exc):
        raise exc
    db.session.rollback()
    response = problem(
        503, _("Many people are booking right now; please try again in a moment."), code="busy"
    )
    response.headers["Retry-After"] = "1"
    return response


def openapi_document() -> dict:
    """The document, built once per app (operations are fixed once blueprints register)."""
    cached = current_app.extensions.get("sentra_openapi")
    if cached is None:
        cached = current_app.extensions["sentra_openapi"] = build_openapi(api, DESCRIPTION)
    return cached


@api.public("/openapi.json", summary="The OpenAPI 3.1 document of this API")
def openapi_json():
    """The machine-readable description of every operation."""
    return openapi_document()


@api.public("/docs", summary="The documentation of this API")
def docs():
    """Human-readable documentation, rendered on the server from the OpenAPI document."""
    spec = openapi_document()
    return render_template(
        "api/docs.html", spec=spec, sections=describe(spec), describe_text=render_description
    )
