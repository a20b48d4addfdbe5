"""Platform admin at ``/admin/``: platform admins only (their sign-in passed two-factor)."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from core.access import require_platform_role
from core.errors import DomainError
from core.models import PlatformRole
from core.models import TenantStatus
from onboarding.admin import queries
from onboarding.admin import services
from onboarding.admin.schemas import ReviewerSchema
from onboarding.admin.schemas import StatusChangeSchema
from onboarding.admin.schemas import TenantSearchSchema

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

platform_admin = require_platform_role(PlatformRole.PLATFORM_ADMIN)


def _tenant_or_404(tenant_id: str):
    tenant = queries.get_tenant(tenant_id)
    if tenant is None:
        abort(404)
    return tenant


def _reviewer_or_404(user_id: str):
    user = queries.get_reviewer(user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/")
@platform_admin
def tenants():
    """Search tenants by name or slug, filter by status."""
    try:
        args = TenantSearchSchema().load(request.args.to_dict())
    except ValidationError:
        args = {"q": "", "status": None, "page": 1}
    page = queries.search_tenants(args["q"], args["status"], args["page"])
    return render_template("admin/tenants.html", page=page, args=args, statuses=list(TenantStatus))


def _tenant_page(tenant, status: int = 200, errors: dict | None = None):
    facts = queries.tenant_facts(tenant)
    trail = queries.tenant_audit_trail(tenant, per_page=20)
    return (
        render_template(
            "admin/tenant.html",
            subject=tenant,
            facts=facts,
            trail=trail,
            errors=errors or {},
            can_book=services.tenant_can_take_bookings(tenant),
        ),
        status,
    )


@bp.route("/tenants/<tenant_id>")
@platform_admin
def tenant(tenant_id: str):
    """One tenant: status, contact, members, venues and the latest audit lines."""
    return _tenant_page(_tenant_or_404(tenant_id))


@bp.route("/tenants/<tenant_id>/audit")
@platform_admin
def audit(tenant_id: str):
    """The tenant's full audit trail, paginated."""
    subject = _tenant_or_404(tenant_id)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    trail = queries.tenant_audit_trail(subject, page=page)
    return render_template("admin/audit.html", subject=subject, trail=trail)


def _change_status(tenant_id: str, change) -> object:
    subject = _tenant_or_404(tenant_id)
    try:
        data = StatusChangeSchema().load(request.form.to_dict())
    except ValidationError as exc:
        return _tenant_page(subject, 422, exc.messages)
    try:
        change(subject, current_user, data["reason"])
    except DomainError as exc:
        return _tenant_page(subject, exc.status, {"reason": [exc.message]})
    return redirect(url_for(".tenant", tenant_id=subject.id))


@bp.route("/tenants/<tenant_id>/suspend", methods=["POST"])
@platform_admin
def suspend(tenant_id: str):
    response = _change_status(tenant_id, services.suspend_tenant)
    if not isinstance(response, tuple):
        flash(_("The organisation is suspended. Its owners were told why."))
    return response


@bp.route("/tenants/<tenant_id>/reactivate", methods=["POST"])
@platform_admin
def reactivate(tenant_id: str):
    response = _change_status(tenant_id, services.reactivate_tenant)
    if not isinstance(response, tuple):
        flash(_("The organisation is reactivated."))
    return response


def _reviewers_page(status: int = 200, form: dict | None = None, errors: dict | None = None):
    return (
        render_template(
            "admin/reviewers.html",
            reviewers=queries.reviewers(),
            form=form or {},
            errors=errors or {},
        ),
        status,
    )


@bp.route("/reviewers", methods=["GET", "POST"])
@platform_admin
def reviewers():
    """Ministry reviewers; create one by email (they choose a password from the link)."""
    if request.method == "GET":
        return _reviewers_page()
    form = request.form.to_dict()
    try:
        data = ReviewerSchema().load(form)
    except ValidationError as exc:
        return _reviewers_page(422, form, exc.messages)
    try:
        services.create_reviewer(current_user, **data)
    except DomainError as exc:
        return _reviewers_page(exc.status, form, {"email": [exc.message]})
    flash(
        _(
            "Reviewer account created; %(email)s got a link to choose a password.",
            email=data["email"],
        )
    )
    return redirect(url_for(".reviewers"))


@bp.route("/reviewers/<user_id>/disable", methods=["POST"])
@platform_admin
def disable_reviewer(user_id: str):
    user = services.disable_reviewer(_reviewer_or_404(user_id), current_user)
    flash(_("%(name)s is disabled and signed out.", name=user.name))
    return redirect(url_for(".reviewers"))


@bp.route("/reviewers/<user_id>/enable", methods=["POST"])
@platform_admin
def enable_reviewer(user_id: str):
    user = services.enable_reviewer(_reviewer_or_404(user_id), current_user)
    flash(_("%(name)s can sign in again.", name=user.name))
    return redirect(url_for(".reviewers"))


@bp.route("/reviewers/<user_id>/resend", methods=["POST"])
@platform_admin
def resend_reviewer_setup(user_id: str):
    user = services.resend_reviewer_setup(_reviewer_or_404(user_id), current_user)
    flash(_("A new link was sent to %(email)s.", email=user.email))
    return redirect(url_for(".reviewers"))
