"""The team page (``/o/<tenant>/team``) and the public invitation link (``/invitations/``)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from core.access import get_or_404
from core.access import require_role
from core.access import tenant_blueprint
from core.extensions import db
from core.extensions import limiter
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import User
from onboarding.team import services
from onboarding.team.models import Invitation
from onboarding.team.models import InvitationState
from onboarding.team.schemas import INVITABLE_ROLES
from onboarding.team.schemas import EndDateSchema
from onboarding.team.schemas import InvitationSchema
from onboarding.team.schemas import RoleChangeSchema
from onboarding.team.services import TeamError

bp = tenant_blueprint("team", __name__, url_prefix="/team", template_folder="templates")

#: Invitations email any address a member types: a cap per tenant keeps a stolen or
#: careless account from turning Sentra into a spam relay. TEAM_INVITE_LIMIT tunes it.
invitation_limit = limiter.limit(
    lambda: current_app.config.get("TEAM_INVITE_LIMIT", "30/hour"),
    key_func=lambda: f"team-invite:{g.get('tenant_slug')}",
    scope="team-invite",
)


def _member_or_404(user_id: str) -> Membership:
    try:
        uid = uuid.UUID(user_id)
    except ValueError:
        abort(404)
    membership = db.session.get(Membership, (g.tenant.id, uid))
    if membership is None:
        abort(404)
    return membership


def _render_index(status: int = 200, form: dict | None = None, errors: dict | None = None):
    return (
        render_template(
            "team/index.html",
            members=services.team_members(g.tenant),
            invitations=services.pending_invitations(g.tenant),
            invitable_roles=INVITABLE_ROLES,
            all_roles=list(Role),
            form=form or {},
            errors=errors or {},
            InvitationState=InvitationState,
        ),
        status,
    )


@bp.route("/")
@require_role(Role.ADMIN)
def index():
    """Members, pending invitations, and the invitation form."""
    return _render_index()


@bp.route("/invitations", methods=["POST"])
@invitation_limit
@require_role(Role.ADMIN)
def invite():
    form = request.form.to_dict()
    try:
        data = InvitationSchema().load(form)
    except ValidationError as exc:
        return _render_index(422, form, exc.messages)
    try:
        services.invite_member(g.tenant, g.membership, **data)
    except TeamError as exc:
        if exc.status == 403:
            raise
        return _render_index(exc.status, form, {"email": [exc.message]})
    flash(_("Invitation sent to %(email)s.", email=data["email"]))
    return redirect(url_for(".index"))


@bp.route("/invitations/<invitation_id>/resend", methods=["POST"])
@invitation_limit
@require_role(Role.ADMIN)
def resend(invitation_id: str):
    invitation = get_or_404(Invitation, invitation_id)
    services.resend_invitation(invitation, g.membership)
    flash(_("Invitation sent again to %(email)s.", email=invitation.email))
    return redirect(url_for(".index"))


@bp.route("/invitations/<invitation_id>/revoke", methods=["POST"])
@require_role(Role.ADMIN)
def revoke(invitation_id: str):
    invitation = get_or_404(Invitation, invitation_id)
    services.revoke_invitation(invitation, g.membership)
    flash(_("Invitation to %(email)s withdrawn.", email=invitation.email))
    return redirect(url_for(".index"))


@bp.route("/members/<user_id>/role", methods=["POST"])
@require_role(Role.ADMIN)
def change_role(user_id: str):
    membership = _member_or_404(user_id)
    try:
        data = RoleChangeSchema().load(request.form.to_dict())
    except ValidationError:
        flash(_("Choose a role."), "error")
        return redirect(url_for(".index")), 303
    services.change_member_role(membership, g.membership, data["role"])
    flash(_("%(name)s is now %(role)s.", name=membership.user.name, role=data["role"].value))
    return redirect(url_for(".index"))


@bp.route("/members/<user_id>/remove", methods=["POST"])
@require_role(Role.ADMIN)
def remove(user_id: str):
    membership = _member_or_404(user_id)
    name = membership.user.name
    services.remove_member(membership, g.membership)
    flash(_("%(name)s was removed from the team.", name=name))
    if membership.user_id == current_user.id:
        return redirect(url_for("core.home"))
    return redirect(url_for(".index"))


@bp.route("/members/<user_id>/end-date", methods=["POST"])
@require_role(Role.ADMIN)
def end_date(user_id: str):
    membership = _member_or_404(user_id)
    try:
        data = EndDateSchema().load(request.form.to_dict())
    except ValidationError:
        flash(_("Enter the date as YYYY-MM-DD."), "error")
        return redirect(url_for(".index")), 303
    services.set_membership_end(membership, g.membership, data["ends_on"])
    if data["ends_on"]:
        flash(
            _(
                "%(name)s has access until %(date)s.",
                name=membership.user.name,
                date=data["ends_on"].isoformat(),
            )
        )
    else:
        flash(_("%(name)s's access no longer ends.", name=membership.user.name))
    return redirect(url_for(".index"))


# --- the invitation link: public, the invitee is not a member yet -------------------

accept_bp = Blueprint(
    "invitations", __name__, url_prefix="/invitations", template_folder="templates"
)


@accept_bp.route("/<token>", methods=["GET", "POST"])
def show(token: str):
    """Who invites whom; sign in or sign up with the invited email; then accept."""
    invitation = services.find_invitation(token)
    tenant = db.session.get(Tenant, invitation.tenant_id)
    state = invitation.state()
    if request.method == "POST" and state == InvitationState.PENDING:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.sign_in", next=request.path))
        membership = services.accept_invitation(token, current_user)
        flash(_("Welcome to %(tenant)s.", tenant=tenant.name))
        return redirect(url_for("console.dashboard", tenant_slug=membership.tenant.slug))
    has_account = (
        db.session.scalar(sa.select(User.id).where(User.email == invitation.email)) is not None
    )
    return render_template(
        "team/invitation.html",
        invitation=invitation,
        invited_tenant=tenant,
        state=state,
        has_account=has_account,
        InvitationState=InvitationState,
        next_path=request.path,
    )
