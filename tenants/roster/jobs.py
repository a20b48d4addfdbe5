"""Big roster files are imported by a job, so no web request runs past its timeout.

The upload is kept in storage under ``tenants/<tenant>/roster-imports/<run>/``; the job
reads it, imports it in the tenant's scope (committed once by the job runner), then
writes the report there as JSON, which the status page shows. The report is written
after the commit, so it never announces rows that were not saved; a file that cannot
be read, or an import that fails, writes a report saying so instead.
"""

from __future__ import annotations

import json
import logging
import uuid

from flask_babel import force_locale

from core.extensions import db
from core.models import User
from core.storage import get_storage
from core.storage import tenant_key
from core.tenancy import current_tenant_id
from core.uow import after_commit
from tenants.campaigns.models import Campaign
from tenants.roster.files import RosterFileError
from tenants.roster.files import read_roster_file
from tenants.roster.services import import_roster
from tenants.roster.services import roster_size

log = logging.getLogger(__name__)
#: refused rows kept in a stored report (the counts always cover every row)
REPORT_ROWS = 1000


def run_key(tenant_id: uuid.UUID, run_id: uuid.UUID | str, name: str) -> str:
    return tenant_key(tenant_id, "roster-imports", str(uuid.UUID(str(run_id))), name)


def _store(key: str, result: dict) -> None:
    get_storage().put(key, json.dumps(result).encode(), "application/json")


def import_roster_file(
    campaign_id: str, run_id: str, filename: str, actor_id: str | None, locale: str
) -> None:
    """Job: import the uploaded file of run ``run_id`` into the campaign's roster."""
    tenant_id = current_tenant_id()
    storage = get_storage()
    upload, report_key = (
        run_key(tenant_id, run_id, "upload"),
        run_key(tenant_id, run_id, "report.json"),
    )
    campaign = db.session.get(Campaign, (tenant_id, uuid.UUID(campaign_id)))
    actor = db.session.get(User, uuid.UUID(actor_id)) if actor_id else None
    with force_locale(locale):
        try:
            table = read_roster_file(filename, storage.read(upload))
            report = import_roster(campaign, table.rows, actor=actor)
        except RosterFileError as exc:
            _store(report_key, {"filename": filename, "error": exc.message})
            storage.delete(upload)
            return
        except Exception:
            _store(report_key, {"filename": filename, "error": "failed"})
            raise
    refused = report.refused
    result = {
        "filename": filename,
        "counts": report.counts,
        "refused": [
            {"row": r.row, "employee_number": r.employee_number, "reasons": r.reasons}
            for r in refused[:REPORT_ROWS]
        ],
        "refused_total": len(refused),
        "size": roster_size(campaign),
    }
    after_commit(lambda: (_store(report_key, result), storage.delete(upload)))
