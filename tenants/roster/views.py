"""Console pages of a campaign's roster, invite codes and priority groups.

Coordinators and above, under ``/o/<tenant>/campaigns/<campaign id>/``. A small file
is imported inline and answered with its report; a big one (100,000 rows take 20-45 s
on the 2-core reference machine, see ``tests/load/bench_roster_import.py``, past a web
worker's 30 s timeout) goes to a job whose status page shows the report when done.
Invite codes are shown on the response to the POST that made them and never again.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import sqlalchemy as sa
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from core.access import get_or_404
from core.access import require_role
from core.access import tenant_blueprint
from core.errors import DomainError
from core.extensions import db
from core.ids import uuid7
from core.jobs import enqueue
from core.models import Role
from core.models import User
from core.storage import get_storage
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.roster import jobs
from tenants.roster import services
from tenants.roster.files import read_roster_file
from tenants.roster.models import PriorityGroup
from tenants.roster.models import RosterEntry
from tenants.roster.priority import groups_for
from tenants.roster.schemas import InviteCodesSchema
from tenants.roster.schemas import PriorityGroupSchema
from tenants.roster.schemas import load_form

bp = tenant_blueprint(
    "roster", __name__, url_prefix="/campaigns/<campaign_id>", template_folder="templates"
)

PAGE_SIZE = 50
#: files above this size are imported by a job (about 12,000 rows of a typical roster)
INLINE_MAX_BYTES = 1_000_000


def _actor() -> User:
    return db.session.get(User, current_user.id)


def _employee_campaign(campaign_id) -> Campaign:
    campaign = get_or_404(Campaign, campaign_id)
    if campaign.audience != Audience.EMPLOYEES:
        abort(404)  # rosters belong to employee campaigns only
    return campaign


def _roster_page(campaign: Campaign, status: int = 200, **extra):
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    query = sa.select(RosterEntry).where(RosterEntry.campaign_id == campaign.id)
    search = request.args.get("q", "").strip()[:100]
    if search:  # an employee number's start, or part of a name
        query = query.where(
            sa.or_(
                RosterEntry.employee_number.startswith(search, autoescape=True),
                RosterEntry.full_name.icontains(search, autoescape=True),
            )
        )
    entries = list(
        db.session.scalars(
            query.order_by(RosterEntry.employee_number)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    made, used = services.invite_code_counts(campaign)
    return (
        render_template(
            "roster/index.html",
            campaign=campaign,
            entries=entries[:PAGE_SIZE],
            page=page,
            more=len(entries) > PAGE_SIZE,
            search=search,
            size=services.roster_size(campaign),
            codes_made=made,
            codes_used=used,
            errors=extra.pop("errors", {}),
            **extra,
        ),
        status,
    )


@bp.route("/roster")
@require_role(Role.COORDINATOR)
def index(campaign_id):
    """The roster (paged, NIKs masked), the upload form and the invite codes."""
    return _roster_page(_employee_campaign(campaign_id))


@bp.route("/roster/import", methods=["POST"])
@require_role(Role.COORDINATOR)
def upload(campaign_id):
    """Import a CSV or XLSX file: a small one at once, answered with its report; a big
    one by a job, followed on its status page."""
    campaign = _employee_campaign(campaign_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _roster_page(campaign, 422, errors={"file": _("Choose a CSV or XLSX file.")})
    data = upload.read()
    if len(data) > current_app.config.get("ROSTER_INLINE_MAX_BYTES", INLINE_MAX_BYTES):
        run_id = uuid7()
        get_storage().put(
            jobs.run_key(campaign.tenant_id, run_id, "upload"), data, "application/octet-stream"
        )
        enqueue(
            "tenants.roster.jobs.import_roster_file",
            tenant_id=campaign.tenant_id,
            campaign_id=str(campaign.id),
            run_id=str(run_id),
            filename=upload.filename[:200],
            actor_id=str(current_user.id),
            locale=str(get_locale() or "id"),
        )
        return redirect(url_for(".import_status", campaign_id=campaign.id, run_id=run_id))
    try:
        table = read_roster_file(upload.filename, data)
    except DomainError as exc:
        return _roster_page(campaign, exc.status, errors={"file": exc.message})
    report = services.import_roster(campaign, table.rows, actor=_actor())
    refused = report.refused
    return render_template(
        "roster/report.html",
        campaign=campaign,
        filename=upload.filename,
        counts=report.counts,
        refused=refused[: jobs.REPORT_ROWS],
        refused_total=len(refused),
        size=services.roster_size(campaign),
    )


@bp.route("/roster/imports/<run_id>")
@require_role(Role.COORDINATOR)
def import_status(campaign_id, run_id):
    """A big file's import: "running" (the page reloads itself) until its report."""
    campaign = _employee_campaign(campaign_id)
    try:
        key = jobs.run_key(campaign.tenant_id, run_id, "report.json")
    except ValueError:
        abort(404)
    storage = get_storage()
    if not storage.exists(key):
        return render_template("roster/import_running.html", campaign=campaign)
    result = json.loads(storage.read(key))
    if "error" in result:
        message = result["error"]
        if message == "failed":
            message = _("The import failed; nothing was saved. Try again, or ask support.")
        return _roster_page(campaign, 422, errors={"file": message})
    return render_template(
        "roster/report.html",
        campaign=campaign,
        filename=result["filename"],
        counts=result["counts"],
        refused=[SimpleNamespace(**r) for r in result["refused"]],
        refused_total=result["refused_total"],
        size=result["size"],
    )


@bp.route("/roster/invite-codes", methods=["POST"])
@require_role(Role.COORDINATOR)
def invite_codes(campaign_id):
    """Make single-use invite codes; they are shown on this answer only."""
    campaign = _employee_campaign(campaign_id)
    data, errors = load_form(InviteCodesSchema(), request.form)
    if errors:
        return _roster_page(campaign, 422, errors={"count": errors["count"]})
    codes = services.create_invite_codes(campaign, data["count"], actor=_actor())
    response = render_template("roster/codes.html", campaign=campaign, codes=codes)
    return response, 200, {"Cache-Control": "no-store"}


# --- priority groups -------------------------------------------------------------------


def _groups_page(campaign: Campaign, status: int = 200, **extra):
    return (
        render_template(
            "roster/priority_groups.html",
            campaign=campaign,
            groups=groups_for(campaign),
            errors=extra.pop("errors", {}),
            values=extra.pop("values", {}),
            **extra,
        ),
        status,
    )


def _group(campaign: Campaign, group_id) -> PriorityGroup:
    group = get_or_404(PriorityGroup, group_id)
    if group.campaign_id != campaign.id:
        abort(404)
    return group


@bp.route("/priority-groups", methods=["GET", "POST"])
@require_role(Role.COORDINATOR)
def priority_groups(campaign_id):
    """A campaign's priority groups; adding the first restricts booking to them."""
    campaign = get_or_404(Campaign, campaign_id)
    if request.method == "GET":
        return _groups_page(campaign)
    data, errors = load_form(PriorityGroupSchema(), request.form)
    if errors:
        return _groups_page(campaign, 422, errors=errors, values=request.form)
    try:
        services.add_priority_group(campaign, data["name"], data["declaration"], actor=_actor())
    except DomainError as exc:
        return _groups_page(campaign, exc.status, errors={"form": exc.message}, values=request.form)
    flash(_("Group added. Booking now asks people which group they belong to."), "success")
    return redirect(url_for(".priority_groups", campaign_id=campaign.id))


@bp.route("/priority-groups/<group_id>", methods=["POST"])
@require_role(Role.COORDINATOR)
def update_group(campaign_id, group_id):
    """Rename a group or change its statement."""
    campaign = get_or_404(Campaign, campaign_id)
    group = _group(campaign, group_id)
    data, errors = load_form(PriorityGroupSchema(), request.form)
    if errors:
        return _groups_page(campaign, 422, errors=errors)
    try:
        services.update_priority_group(group, data["name"], data["declaration"], actor=_actor())
    except DomainError as exc:
        return _groups_page(campaign, exc.status, errors={"form": exc.message})
    flash(_("Group saved."), "success")
    return redirect(url_for(".priority_groups", campaign_id=campaign.id))


@bp.route("/priority-groups/<group_id>/remove", methods=["POST"])
@require_role(Role.COORDINATOR)
def remove_group(campaign_id, group_id):
    """Remove a group nobody has booked under."""
    campaign = get_or_404(Campaign, campaign_id)
    group = _group(campaign, group_id)
    try:
        services.remove_priority_group(group, actor=_actor())
    except DomainError as exc:
        return _groups_page(campaign, exc.status, errors={"form": exc.message})
    flash(_("Group removed."), "success")
    return redirect(url_for(".priority_groups", campaign_id=campaign.id))
