"""The console home of a tenant, for its members."""

from __future__ import annotations

from flask import g
from flask import render_template

from core.access import require_role
from core.access import tenant_blueprint
from core.models import Role
from onboarding.signup.queries import tenant_checklist

bp = tenant_blueprint("console", __name__, template_folder="templates")


@bp.route("/")
@require_role(Role.CHECKIN)
def dashboard():
    """Where every member lands: the tenant's status and what to do next."""
    return render_template(
        "console/dashboard.html",
        tenant=g.tenant,
        membership=g.membership,
        checklist=tenant_checklist(g.tenant),
    )
