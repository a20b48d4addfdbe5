"""Jobs: make an export's file; the daily report schedules."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from core.extensions import db
from core.jobs import register_periodic
from core.models import Tenant
from core.tenancy import tenant_context
from tenants.reporting import schedules
from tenants.reporting import services


def run_export(run_id: str) -> None:
    """Job (tenant scope; idempotent): make and store the file of a queued run."""
    services.run_export(uuid.UUID(run_id))


def fail_stalled_exports() -> int:
    """Job (periodic, SYSTEM scope): in every tenant, mark failed the export runs whose
    job can no longer finish (:func:`services.fail_stalled_runs`)."""
    count = 0
    for tenant_id in db.session.scalars(sa.select(Tenant.id).order_by(Tenant.id)).all():
        with tenant_context(tenant_id):
            count += services.fail_stalled_runs()
    return count


def send_scheduled_report(schedule_id: str, day: str) -> None:
    """Job (tenant scope; once per schedule and day): start the export, email its link."""
    schedules.send_scheduled_report(uuid.UUID(schedule_id), dt.date.fromisoformat(day))


# Daily at 00:00 UTC (07:00 WIB): yesterday's reports.
SCHEDULE_JOB = register_periodic(
    "report-schedules", "tenants.reporting.schedules.enqueue_due_reports", interval=86400
)

# Every 15 minutes: export runs whose worker stopped are marked failed.
STALLED_JOB = register_periodic(
    "report-exports-stalled", "tenants.reporting.jobs.fail_stalled_exports", interval=900
)
