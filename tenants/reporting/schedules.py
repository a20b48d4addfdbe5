"""Report schedules: every morning, yesterday's export for each active schedule, its
link emailed to the recipients who may open it.

The email carries a link to the run's page in the console, never the file: the
recipient signs in and the page checks their role, so a forwarded email opens
nothing. Recipients who are not (or no longer) members with the export's role are
skipped when the mail is written. A schedule is claimed for a day by one conditional
UPDATE, so a second scheduler or a retried job sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from core.access import ROLE_RANK
from core.audit import log_action
from core.extensions import db
from core.jobs import enqueue
from core.mail import send_mail
from core.models import Membership
from core.models import Tenant
from core.models import User
from core.tenancy import current_tenant_id
from core.tenancy import tenant_context
from tenants.reporting.models import ExportFormat
from tenants.reporting.models import ReportSchedule
from tenants.reporting.services import ExportError
from tenants.reporting.services import exporter_class
from tenants.reporting.services import start_export

#: the day a daily report covers ends at midnight here (Western Indonesia Time)
REPORT_TZ = ZoneInfo("Asia/Jakarta")


def create_schedule(
    exporter: str, fmt: ExportFormat, recipients: list[str], parameters: dict, actor: User
) -> ReportSchedule:
    """A new daily schedule (the caller checked the actor may run ``exporter``)."""
    cls = exporter_class(exporter)
    schedule = ReportSchedule(
        exporter=exporter,
        format=ExportFormat(fmt),
        recipients=sorted(set(recipients)),
        parameters={k: str(v) for k, v in parameters.items() if v},
        created_by_id=actor.id,
    )
    if schedule.format.value not in cls.formats:
        raise ExportError(
            _("This export is not available as %(format)s.", format=schedule.format.value),
            code="format_unavailable",
        )
    db.session.add(schedule)
    db.session.flush()
    log_action(schedule, "reporting.schedule.created", actor, {"exporter": exporter})
    return schedule


def stop_schedule(schedule: ReportSchedule, actor: User) -> None:
    """Stop a schedule (kept for the audit trail)."""
    schedule.active = False
    log_action(schedule, "reporting.schedule.stopped", actor)


def active_schedules() -> list[ReportSchedule]:
    return list(
        db.session.scalars(
            sa.select(ReportSchedule)
            .where(ReportSchedule.active.is_(True))
            .order_by(ReportSchedule.created_at)
        )
    )


def report_day(now: dt.datetime | None = None) -> dt.date:
    """The day a run at ``now`` reports: yesterday in REPORT_TZ."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(REPORT_TZ).date() - dt.timedelta(days=1)


def enqueue_due_reports(day: str | None = None) -> int:
    """Job (daily, SYSTEM scope): one job per active schedule of every tenant, for
    ``day`` (ISO date; default yesterday). Returns the jobs enqueued."""
    target = day or report_day().isoformat()
    count = 0
    for tenant_id in db.session.scalars(sa.select(Tenant.id).order_by(Tenant.id)).all():
        with tenant_context(tenant_id):
            for schedule in active_schedules():
                enqueue(
                    "tenants.reporting.jobs.send_scheduled_report",
                    tenant_id=tenant_id,
                    schedule_id=str(schedule.id),
                    day=target,
                )
                count += 1
    return count


def _claim(schedule_id: uuid.UUID, day: dt.date) -> bool:
    claimed = db.session.execute(
        sa.update(ReportSchedule)
        .where(
            ReportSchedule.id == schedule_id,
            ReportSchedule.active.is_(True),
            sa.or_(ReportSchedule.last_sent_on.is_(None), ReportSchedule.last_sent_on < day),
        )
        .values(last_sent_on=day)
        .returning(ReportSchedule.id)
    ).first()
    return claimed is not None


def allowed_recipients(schedule: ReportSchedule) -> list[User]:
    """The schedule's recipients who are current members with the export's role."""
    minimum = ROLE_RANK[exporter_class(schedule.exporter).required_role]
    wanted = {email.lower() for email in schedule.recipients}
    rows = db.session.execute(
        sa.select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == current_tenant_id(), sa.func.lower(User.email).in_(wanted))
    ).all()
    return [
        user
        for user, membership in rows
        if membership.is_current() and ROLE_RANK[membership.role] >= minimum
    ]


def send_scheduled_report(schedule_id: uuid.UUID, day: dt.date) -> int:
    """Start the day's export of one schedule and email its link; once per day.
    Returns the emails written (0 if the day was sent already)."""
    if not _claim(schedule_id, day):
        return 0
    schedule = db.session.get(ReportSchedule, (current_tenant_id(), schedule_id))
    creator = db.session.get(User, schedule.created_by_id) if schedule.created_by_id else None
    params = {**schedule.parameters, "date_from": day.isoformat(), "date_to": day.isoformat()}
    run = start_export(schedule.exporter, schedule.format, params, requested_by=creator)
    tenant = db.session.get(Tenant, current_tenant_id())
    cls = exporter_class(schedule.exporter)
    base = current_app.config["BASE_URL"].rstrip("/")
    sent = 0
    for user in allowed_recipients(schedule):
        send_mail(
            user.email,
            "reporting/daily_report",
            {
                "tenant_name": tenant.name,
                "export_name": str(cls.name),
                "day": day.isoformat(),
                "link": f"{base}/o/{tenant.slug}/reports/runs/{run.id}",
            },
            locale=user.locale,
        )
        sent += 1
    return sent
