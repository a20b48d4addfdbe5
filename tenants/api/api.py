"""``/api/v1``: the resources, the OpenAPI document and its documentation page.

Resources live in ``tenants/api/resources/<area>.py``, one module per area; a new area
is one module and one line in :data:`RESOURCE_MODULES`.
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask import render_template
from flask_babel import gettext as _
from werkzeug.utils import import_string

from core.api.models import ApiScope
from core.api.openapi import build_openapi
from core.api.openapi import describe
from core.api.openapi import render_description
from core.api.services import create_api_key
from core.errors import problem
from core.extensions import db
from core.models import Tenant
from core.tenancy import tenant_context
from tenants.api.blueprint import DESCRIPTION
from tenants.api.blueprint import api
from tenants.stock.locks import is_retryable

#: the modules whose import registers operations on ``api``
RESOURCE_MODULES = [
    "tenants.api.resources.venues",
    "tenants.api.resources.campaigns",
    "tenants.api.resources.bookings",
    "tenants.api.resources.roster",
    "tenants.api.resources.exports",
    "tenants.api.resources.checkins",
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


@api.cli.command("create-key")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=["read"],
    type=click.Choice([s.value for s in ApiScope]),
    help="Repeat for several scopes (default: read).",
)
def create_key_command(slug: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key for a tenant and print its token (once), e.g. for schemathesis."""
    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise click.ClickException(f"No tenant {slug!r}.")
    with tenant_context(tenant):
        issued = create_api_key(name, list(scopes), None)
        db.session.commit()
    click.echo(issued.token)


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
