"""Export runs (one file made by an exporter) and report schedules (a daily export
emailed as a link to recipients)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

import tenants.reporting.sql  # noqa: F401 - registers SQLite's local_date before any connection
from core.db import UTCDateTime
from core.db import enum_column
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned
from core.tenancy import tenant_fk


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    FHIR = "fhir"  # a FHIR R4 Bundle (JSON); administered doses only


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportRun(TenantOwned, db.Model):
    """One export: what was asked, by whom, how far it got and where the file is."""

    __tablename__ = "export_run"
    __table_args__ = (
        tenant_fk("api_key_id", "api_key", ondelete="RESTRICT"),
        sa.CheckConstraint("rows_done >= 0", name="rows_done_not_negative"),
        sa.Index("ix_export_run_created", "tenant_id", "created_at"),
    )

    #: an identifier of tenants.reporting.exporters.EXPORTERS
    exporter: Mapped[str] = mapped_column(sa.String(60))
    #: the validated parameters, serialised (ISO dates, ids as text)
    parameters: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    format: Mapped[ExportFormat] = mapped_column(enum_column(ExportFormat, "export_format"))
    status: Mapped[RunStatus] = mapped_column(
        enum_column(RunStatus, "export_run_status"), default=RunStatus.QUEUED
    )
    #: data rows written so far (updated while it runs)
    rows_done: Mapped[int] = mapped_column(default=0)
    #: the file in core.storage once done
    storage_key: Mapped[str | None] = mapped_column(sa.String(500))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: why it failed, for staff (no personal data)
    error: Mapped[str | None] = mapped_column(sa.Text)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    #: the API key that started it, when it came through the API
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.DONE, RunStatus.FAILED)


class ReportSchedule(TenantOwned, db.Model):
    """A daily export of the previous day, its download link emailed to recipients.

    The link leads to the app's download route, which asks the recipient to sign in
    and checks their role: an email alone never hands out the file."""

    __tablename__ = "report_schedule"

    exporter: Mapped[str] = mapped_column(sa.String(60))
    format: Mapped[ExportFormat] = mapped_column(enum_column(ExportFormat, "export_format"))
    #: optional filters (campaign_id, venue_id) applied to each day's export
    parameters: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: email addresses of members who get the link
    recipients: Mapped[list] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    #: the last day whose export was sent (claimed before sending: sent once a day)
    last_sent_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
