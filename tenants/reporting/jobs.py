"""Jobs: make an export's file; the daily report schedules."""

from __future__ import annotations

import uuid

from tenants.reporting import services


def run_export(run_id: str) -> None:
    """Job (tenant scope; idempotent): make and store the file of a queued run."""
    services.run_export(uuid.UUID(run_id))
