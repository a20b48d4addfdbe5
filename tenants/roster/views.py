"""Console pages of a campaign's roster, invite codes and priority groups.

Coordinators and above, under ``/o/<tenant>/campaigns/<campaign id>/``. An import runs
inline (100,000 rows take about 20-25 s on the 2-core reference machine, see
``tests/load/bench_roster_import.py``) and answers with its report at once; invite codes
are shown on the response to the POST that made them and never again.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.access import get_or_404
from core.access import require_role
from core.access import tenant_blueprint
from core.errors import DomainError
from core.extensions import db
from core.models import Role
from core.models import User
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
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
    entries = list(
        db.session.scalars(
            sa.select(RosterEntry)
            .where(RosterEntry.campaign_id == campaign.id)
            .order_by(RosterEntry.employee_number)
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
    """Import a CSV or XLSX file; answer with the row-by-row report."""
    campaign = _employee_campaign(campaign_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _roster_page(campaign, 422, errors={"file": _("Choose a CSV or XLSX file.")})
    try:
        table = read_roster_file(upload.filename, upload.read())
    except DomainError as exc:
        return _roster_page(campaign, exc.status, errors={"file": exc.message})
    report = services.import_roster(campaign, table.rows, actor=_actor())
    return render_template(
        "roster/report.html",
        campaign=campaign,
        report=report,
        filename=upload.filename,
        size=services.roster_size(campaign),
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
