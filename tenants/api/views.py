"""The console's API keys page: create (the token is shown once), list, revoke.

Owners and admins only: a key acts for the whole tenant.
"""

from __future__ import annotations

import uuid

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from core.access import get_or_404
from core.access import require_role
from core.access import tenant_blueprint
from core.api.models import ApiKey
from core.api.models import ApiScope
from core.api.services import create_api_key
from core.api.services import list_api_keys
from core.api.services import revoke_api_key
from core.errors import DomainError
from core.models import Role

bp = tenant_blueprint("api_keys", __name__, url_prefix="/api-keys", template_folder="templates")

SCOPE_LABELS = {
    ApiScope.READ: _l("Read everything (GET)"),
    ApiScope.BOOKINGS: _l("Create, cancel and reschedule bookings; check-ins"),
    ApiScope.ROSTER: _l("Upload employee rosters"),
    ApiScope.REPORTS: _l("Start exports and download them"),
}


@bp.route("/", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def index():
    """List the tenant's keys; POST creates one and shows its token this once."""
    form, error, issued = {"name": "", "scopes": [ApiScope.READ.value]}, None, None
    if request.method == "POST":
        form = {"name": request.form.get("name", ""), "scopes": request.form.getlist("scopes")}
        try:
            issued = create_api_key(form["name"], form["scopes"], current_user)
        except DomainError as exc:
            error = exc.message
    response = render_template(
        "api/keys.html",
        keys=list_api_keys(),
        issued=issued,
        form=form,
        error=error,
        scopes=[(s.value, str(label)) for s, label in SCOPE_LABELS.items()],
    )
    # The token is in this page only: keep it out of every cache.
    status = 422 if error else (201 if issued else 200)
    return response, status, {"Cache-Control": "no-store"}


@bp.route("/<uuid:key_id>/revoke", methods=["POST"])
@require_role(Role.ADMIN)
def revoke(key_id: uuid.UUID):
    """Revoke a key: requests with it are refused from now on."""
    key = get_or_404(ApiKey, key_id)
    try:
        revoke_api_key(key, current_user)
        flash(_("The key “%(name)s” is revoked.", name=key.name), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for(".index"))
