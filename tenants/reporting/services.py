"""Export runs: start one (validated, queued), run it (the job body: stream rows into a
temporary file, then into storage), hand out its download link (audited).

A run is claimed by one conditional UPDATE (queued → running), so a job delivered
twice writes the file once. Progress (``rows_done``) is committed by the job's own
session every few thousand rows while a second session streams the rows from one
snapshot (REPEATABLE READ on PostgreSQL): the export is consistent and the page
polling it sees it move.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import uuid

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from marshmallow import ValidationError

from core.audit import log_action
from core.db import utcnow
from core.errors import Conflict
from core.errors import DomainError
from core.errors import NotFound
from core.extensions import db
from core.jobs import enqueue
from core.models import User
from core.storage import get_storage
from core.storage import tenant_key
from core.tenancy import current_tenant_id
from core.tenancy import tenant_context
from tenants.reporting.exporters import EXPORTERS
from tenants.reporting.exporters import get_exporter
from tenants.reporting.exporters.base import Exporter
from tenants.reporting.models import ExportFormat
from tenants.reporting.models import ExportRun
from tenants.reporting.models import RunStatus
from tenants.reporting.writers import CONTENT_TYPES
from tenants.reporting.writers import EXTENSIONS
from tenants.reporting.writers import write_csv
from tenants.reporting.writers import write_xlsx

log = logging.getLogger(__name__)

#: how long a storage link handed out by the download route lives
DOWNLOAD_SECONDS = 120
#: temporary files up to this size stay in memory
_SPOOL_BYTES = 4 * 1024 * 1024
#: seconds an export job may run before rq stops it (a million doses as XLSX takes
#: minutes); a run still "running" after this never finishes (see fail_stalled_runs)
EXPORT_TIMEOUT = 3 * 3600
#: a run no worker has picked up after this long is given up
QUEUED_FOR_TOO_LONG = dt.timedelta(days=1)


class ExportError(DomainError):
    code = "export_invalid"


def exporter_class(identifier: str) -> type[Exporter]:
    cls = get_exporter(identifier)
    if cls is None:
        raise NotFound(_("No such export."), code="unknown_exporter")
    return cls


def load_parameters(cls: type[Exporter], raw: dict) -> dict:
    """The exporter's parameters validated (raises marshmallow's ValidationError)."""
    return cls.parameters().load(raw)


def start_export(
    identifier: str,
    fmt: ExportFormat | str,
    raw_parameters: dict,
    *,
    requested_by: User | None,
    api_key_id: uuid.UUID | None = None,
) -> ExportRun:
    """Queue an export of ``identifier`` in ``fmt``; the job starts after the commit.

    Raises NotFound for an unknown exporter, ExportError for a format it does not
    offer, marshmallow's ValidationError for bad parameters.
    """
    cls = exporter_class(identifier)
    fmt = ExportFormat(fmt)
    if fmt.value not in cls.formats:
        raise ExportError(
            _("This export is not available as %(format)s.", format=fmt.value.upper()),
            code="format_unavailable",
        )
    params = load_parameters(cls, raw_parameters)
    run = ExportRun(
        exporter=identifier,
        format=fmt,
        parameters=cls.parameters().dump(params),
        requested_by_id=requested_by.id if requested_by else None,
        api_key_id=api_key_id,
    )
    db.session.add(run)
    db.session.flush()
    log_action(
        run,
        "reporting.export.started",
        requested_by,
        {"exporter": identifier, "format": fmt.value, "api_key_id": str(api_key_id or "")},
    )
    enqueue(
        "tenants.reporting.jobs.run_export",
        tenant_id=run.tenant_id,
        timeout=EXPORT_TIMEOUT,
        run_id=str(run.id),
    )
    return run


def fail_stalled_runs(now: dt.datetime | None = None) -> int:
    """Mark failed the current tenant's runs that can no longer finish: running for
    longer than the job may run (rq stopped it, or its worker died mid-way and nobody
    will pick it up again), or queued for a day (the job was lost). The page then stops
    showing progress and says to start again. Returns how many."""
    now = now or utcnow()
    stalled = sa.or_(
        sa.and_(
            ExportRun.status == RunStatus.RUNNING,
            ExportRun.started_at < now - dt.timedelta(seconds=EXPORT_TIMEOUT + 300),
        ),
        sa.and_(
            ExportRun.status == RunStatus.QUEUED,
            ExportRun.created_at < now - QUEUED_FOR_TOO_LONG,
        ),
    )
    failed = db.session.execute(
        sa.update(ExportRun)
        .where(ExportRun.tenant_id == current_tenant_id(), stalled)
        .values(status=RunStatus.FAILED, finished_at=now, error="stalled")
        .returning(ExportRun.id)
        .execution_options(synchronize_session=False)
    ).all()
    return len(failed)


def _claim(run_id: uuid.UUID) -> bool:
    claimed = db.session.execute(
        sa.update(ExportRun)
        .where(ExportRun.id == run_id, ExportRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING, started_at=utcnow())
        .returning(ExportRun.id)
    ).first()
    db.session.commit()
    return claimed is not None


def _set_progress(run_id: uuid.UUID, rows: int) -> None:
    db.session.execute(sa.update(ExportRun).where(ExportRun.id == run_id).values(rows_done=rows))
    db.session.commit()


def write_export(exporter: Exporter, fmt: ExportFormat, out, progress=None) -> None:
    """Render ``exporter`` in ``fmt`` into the binary file ``out``."""
    if fmt == ExportFormat.CSV:
        write_csv(exporter.rows(), out, progress)
    elif fmt == ExportFormat.XLSX:
        write_xlsx(exporter.rows(), out, progress)
    else:
        from tenants.reporting.fhir import write_fhir

        write_fhir(exporter, out, progress)


def run_export(run_id: uuid.UUID) -> ExportRun | None:
    """Make the file of a queued run and store it (the job's work). A run that is not
    queued (done, failed, or claimed by a duplicate delivery) is left alone. A failure
    marks the run failed, commits that, and re-raises."""
    tenant_id = current_tenant_id()
    if not _claim(run_id):
        return None
    run = db.session.get(ExportRun, (tenant_id, run_id))
    cls = exporter_class(run.exporter)
    reader = db.session.session_factory()
    try:
        with tenant_context(tenant_id, session=reader):
            if reader.get_bind().dialect.name == "postgresql":
                # one snapshot for the whole file, however long it takes
                reader.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                # room to sort the period's rows in memory, which a server without
                # parallel workers needs (a million doses: 37 s -> 32 s; performance.md)
                work_mem = current_app.config["EXPORT_WORK_MEM"]
                reader.execute(sa.select(sa.func.set_config("work_mem", work_mem, True)))
            exporter = cls(reader, load_parameters(cls, run.parameters))
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as out:
                write_export(exporter, run.format, out, lambda n: _set_progress(run_id, n))
                reader.rollback()  # read-only: end the snapshot before the upload
                size = out.tell()
                out.seek(0)
                key = tenant_key(tenant_id, "exports", f"{run_id}.{EXTENSIONS[run.format]}")
                get_storage().put(key, out, CONTENT_TYPES[run.format])
    except Exception as exc:
        db.session.rollback()
        db.session.execute(
            sa.update(ExportRun)
            .where(ExportRun.id == run_id)
            .values(status=RunStatus.FAILED, finished_at=utcnow(), error=type(exc).__name__)
        )
        db.session.commit()
        raise
    finally:
        reader.close()
    run = db.session.get(ExportRun, (tenant_id, run_id))
    db.session.refresh(run)
    run.status, run.storage_key, run.size, run.finished_at = RunStatus.DONE, key, size, utcnow()
    return run


def file_name(run: ExportRun) -> str:
    """The name a downloaded file gets, e.g. ``administered_doses_2030-01-07_2030-01-31.csv``."""
    params = run.parameters or {}
    days = "_".join(p for p in (params.get("date_from"), params.get("date_to")) if p)
    return f"{run.exporter}_{days}.{EXTENSIONS[run.format]}"


def download_url(run: ExportRun, actor: User | None, *, api_key_id: uuid.UUID | None = None):
    """A short-lived storage link to the run's file; every call is audited.
    Returns (url, expires_at)."""
    if run.status != RunStatus.DONE or not run.storage_key:
        raise Conflict(_("This export is not ready."), code="export_not_ready")
    log_action(
        run,
        "reporting.export.downloaded",
        actor,
        {"exporter": run.exporter, "format": run.format.value, "api_key_id": str(api_key_id or "")},
    )
    expires = utcnow() + dt.timedelta(seconds=DOWNLOAD_SECONDS)
    url = get_storage().url(
        run.storage_key,
        expires_in=DOWNLOAD_SECONDS,
        filename=file_name(run),
        content_type=CONTENT_TYPES[run.format],
    )
    return url, expires


def recent_runs(limit: int = 50) -> list[ExportRun]:
    """The tenant's latest runs, newest first."""
    return list(
        db.session.scalars(
            sa.select(ExportRun)
            .order_by(ExportRun.created_at.desc(), ExportRun.id.desc())
            .limit(limit)
        )
    )


__all__ = [
    "EXPORTERS",
    "ExportError",
    "ValidationError",
    "download_url",
    "run_export",
    "start_export",
]
