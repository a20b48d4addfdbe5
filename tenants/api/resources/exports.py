"""Exports: start one, poll it, get a short-lived link to its file.

Starting needs the ``reports`` scope (keys are created by admins and owners, who may
run every export, the administered-doses one with full NIKs included); polling is a
read. Each link handed out is audited with the key that asked for it.
"""

from __future__ import annotations

import uuid
from urllib.parse import urljoin

import sqlalchemy as sa
from flask import g
from flask import request
from flask import url_for

from core.access import get_or_404
from core.api.models import ApiScope
from core.api.pagination import paginate
from tenants.api.blueprint import api
from tenants.reporting import services
from tenants.reporting.models import ExportRun
from tenants.reporting.schemas import DownloadLinkSchema
from tenants.reporting.schemas import ExportCreateSchema
from tenants.reporting.schemas import ExportRunSchema


@api.operation(
    "/exports",
    method="POST",
    summary="Start an export",
    scope=ApiScope.REPORTS,
    body=ExportCreateSchema(),
    response=ExportRunSchema(),
    status=202,
    tags=["exports"],
    errors={400: "The exporter does not offer this format (`code`: format_unavailable)."},
)
def create_export(data: dict):
    """Queue an export; poll its ``Location`` until ``status`` is ``done``, then ask for
    its download link. Send an ``Idempotency-Key`` to retry safely."""
    run = services.start_export(
        data["exporter"],
        data["format"],
        ExportCreateSchema().fields["parameters"].schema.dump(data["parameters"]),
        requested_by=None,
        api_key_id=g.api_key.id,
    )
    return run, {"Location": url_for(".get_export", run_id=run.id)}


@api.operation(
    "/exports",
    summary="List exports",
    scope=ApiScope.READ,
    response=ExportRunSchema(),
    paginated=True,
    tags=["exports"],
)
def list_exports(page: dict):
    """The tenant's export runs, oldest first."""
    return paginate(sa.select(ExportRun), ExportRun.id, "exports", **page)


@api.operation(
    "/exports/<uuid:run_id>",
    summary="Get an export",
    scope=ApiScope.READ,
    response=ExportRunSchema(),
    tags=["exports"],
)
def get_export(run_id: uuid.UUID):
    """One export run: its status and the rows written so far."""
    return get_or_404(ExportRun, run_id)


@api.operation(
    "/exports/<uuid:run_id>/download",
    method="POST",
    summary="Get a download link",
    scope=ApiScope.REPORTS,
    response=DownloadLinkSchema(),
    status=200,
    tags=["exports"],
    errors={409: "The export is not done yet (`code`: export_not_ready)."},
)
def download_export(run_id: uuid.UUID):
    """A link to the file that works for two minutes, without the key (audited)."""
    run = get_or_404(ExportRun, run_id)
    url, expires = services.download_url(run, None, api_key_id=g.api_key.id)
    # local storage links are paths of this app; S3 links are absolute already
    return {"url": urljoin(request.host_url, url), "expires_at": expires}
