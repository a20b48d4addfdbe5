"""Jobs: make an export's file; the daily report schedules."""

from __future__ import annotations

import datetime as dt
import uuid

from core.jobs import register_periodic
from tenants.reporting import schedules
from tenants.reporting import services


def run_export(run_id: str) -> None:
    """Job (tenant scope; idempotent): make and store the file of a queued run."""
    services.run_export(uuid.UUID(run_id))


def send_scheduled_report(schedule_id: str, day: str) -> None:
    """Job (tenant scope; once per schedule and day): start the export, email its link."""
    schedules.send_scheduled_report(uuid.UUID(schedule_id), dt.date.fromisoformat(day))


# Daily at 00:00 UTC (07:00 WIB): yesterday's reports.
SCHEDULE_JOB = register_periodic(
    "report-schedules", "tenants.reporting.schedules.enqueue_due_reports", interval=86400
)
