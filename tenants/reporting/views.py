"""The console's reports: start an export, follow its progress, download it (audited),
daily schedules, and the campaign dashboards.

Coordinators and above open the reports; each exporter names the lowest role that may
run and download it (the administered-doses export, with full NIKs: admins and
owners). Another tenant's run answers 404 like a missing one.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from core.access import ROLE_RANK
from core.access import get_or_404
from core.access import require_role
from core.access import tenant_blueprint
from core.errors import DomainError
from core.extensions import db
from core.models import Role
from onboarding.venues.models import Venue
from tenants.campaigns.models import Campaign
from tenants.reporting import queries
from tenants.reporting import schedules
from tenants.reporting import services
from tenants.reporting.charts import bar_chart
from tenants.reporting.exporters import EXPORTERS
from tenants.reporting.exporters.base import Exporter
from tenants.reporting.models import ExportRun
from tenants.reporting.models import ReportSchedule
from tenants.reporting.schemas import PeriodForm
from tenants.reporting.schemas import ScheduleForm
from tenants.reporting.schemas import StartExportForm

bp = tenant_blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")


def _may_run(cls: type[Exporter]) -> bool:
    return ROLE_RANK[g.membership.role] >= ROLE_RANK[cls.required_role]


def _visible_exporters() -> list[type[Exporter]]:
    return [cls for cls in EXPORTERS.values() if _may_run(cls)]


def _run_or_404(run_id: uuid.UUID) -> ExportRun:
    run = get_or_404(ExportRun, run_id)
    cls = EXPORTERS.get(run.exporter)
    if cls is None or not _may_run(cls):
        abort(403)
    return run


def _choices() -> dict:
    return {
        "campaigns": list(
            db.session.scalars(sa.select(Campaign).order_by(Campaign.starts_on.desc()))
        ),
        "venues": list(db.session.scalars(sa.select(Venue).order_by(Venue.name))),
    }


def _first(messages) -> str:
    """The first message of a marshmallow error entry (a list, a dict by index, or text)."""
    while isinstance(messages, list | dict):
        messages = messages[0] if isinstance(messages, list) else next(iter(messages.values()))
    return str(messages)


def _errors(exc: ValidationError) -> dict:
    return {name: _first(messages) for name, messages in exc.messages.items()}


@bp.route("", methods=["GET", "POST"])
@require_role(Role.COORDINATOR)
def index():
    """The exports this member may run, the form to start one, and recent runs."""
    values, errors, status = dict(request.form), {}, 200
    if request.method == "POST":
        try:
            chosen = StartExportForm().load(request.form)
            cls = EXPORTERS[chosen["exporter"]]
            if not _may_run(cls):
                abort(403)
            params = PeriodForm().load(request.form)
            run = services.start_export(
                chosen["exporter"],
                chosen["format"],
                PeriodForm().dump(params),
                requested_by=current_user,
            )
        except ValidationError as exc:
            errors, status = _errors(exc), 422
        except DomainError as exc:
            errors, status = {"form": exc.message}, exc.status
        else:
            return redirect(url_for(".run", run_id=run.id), 303)
    runs = [
        r
        for r in services.recent_runs()
        if r.exporter in EXPORTERS and _may_run(EXPORTERS[r.exporter])
    ]
    return (
        render_template(
            "reporting/index.html",
            exporters=_visible_exporters(),
            names={identifier: cls.name for identifier, cls in EXPORTERS.items()},
            runs=runs,
            values=values,
            errors=errors,
            **_choices(),
        ),
        status,
    )


@bp.route("/runs/<uuid:run_id>")
@require_role(Role.COORDINATOR)
def run(run_id: uuid.UUID):
    """One run: its progress (the page refreshes itself until it ends) and its file."""
    export_run = _run_or_404(run_id)
    return render_template(
        "reporting/run.html", run=export_run, exporter=EXPORTERS[export_run.exporter]
    )


@bp.route("/runs/<uuid:run_id>/download")
@require_role(Role.COORDINATOR)
def download(run_id: uuid.UUID):
    """Audit the download, then redirect to a link to the file that lives two minutes."""
    export_run = _run_or_404(run_id)
    try:
        url, _expires = services.download_url(export_run, current_user)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".run", run_id=export_run.id), 303)
    response = redirect(url, 303)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/schedules", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def schedules_page():
    """Daily exports emailed as a link; admins and owners set them up."""
    values, errors, status = dict(request.form), {}, 200
    if request.method == "POST":
        try:
            data = ScheduleForm().load(request.form)
            if not _may_run(EXPORTERS[data["exporter"]]):
                abort(403)
            params = PeriodForm(only=("campaign_id", "venue_id")).load(request.form)
            schedules.create_schedule(
                data["exporter"], data["format"], data["recipients"], params, current_user
            )
        except ValidationError as exc:
            errors, status = _errors(exc), 422
        except DomainError as exc:
            errors, status = {"form": exc.message}, exc.status
        else:
            flash(_("The daily report is scheduled."), "success")
            return redirect(url_for(".schedules_page"), 303)
    return (
        render_template(
            "reporting/schedules.html",
            schedules=schedules.active_schedules(),
            exporters=_visible_exporters(),
            all_exporters=EXPORTERS,
            values=values,
            errors=errors,
            **_choices(),
        ),
        status,
    )


@bp.route("/schedules/<uuid:schedule_id>/stop", methods=["POST"])
@require_role(Role.ADMIN)
def stop_schedule(schedule_id: uuid.UUID):
    """Stop a daily report."""
    schedule = get_or_404(ReportSchedule, schedule_id)
    schedules.stop_schedule(schedule, current_user)
    flash(_("The daily report is stopped."), "success")
    return redirect(url_for(".schedules_page"), 303)


@bp.route("/campaigns/<uuid:campaign_id>")
@require_role(Role.COORDINATOR)
def dashboard(campaign_id: uuid.UUID):
    """A campaign at a glance, for all its venues or one (``?venue=<id>``)."""
    campaign = get_or_404(Campaign, campaign_id)
    venue = None
    if request.args.get("venue"):
        venue = get_or_404(Venue, request.args["venue"])
    board = queries.campaign_dashboard(campaign, venue)
    return render_template(
        "reporting/dashboard.html",
        campaign=campaign,
        venue=venue,
        board=board,
        bookings_chart=bar_chart(
            [(d.day.strftime("%d/%m"), d.booked) for d in board.days],
            title=_("Bookings per day"),
        ),
        doses_chart=bar_chart(
            [(d.day.strftime("%d/%m"), d.vaccinated) for d in board.days],
            title=_("Doses given per day"),
        ),
    )
