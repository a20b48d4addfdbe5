"""Organisation sign-up: ``/signup/organisation`` for a signed-in user."""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from core.errors import DomainError
from core.models import TenantKind
from onboarding.signup.schemas import OrganisationSchema
from onboarding.signup.services import create_tenant

bp = Blueprint("signup", __name__, url_prefix="/signup", template_folder="templates")


@bp.route("/organisation", methods=["GET", "POST"])
def organisation():
    """Create an organisation; a visitor signs up (or in) first and comes back here."""
    if not current_user.is_authenticated:
        # An organisation needs a person to own it: a visitor first creates an account
        # or signs in, and both links bring them back here (``next``).
        if request.method == "POST":
            return redirect(url_for("auth.sign_in", next=request.path))
        return render_template("signup/account_first.html", next_path=request.path)
    form, errors = {}, {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = OrganisationSchema().load(form)
        except ValidationError as exc:
            errors = exc.messages
        else:
            try:
                tenant = create_tenant(current_user, **data)
            except DomainError as exc:
                if exc.code not in ("slug_taken", "slug_invalid"):
                    raise
                errors = {"slug": [exc.message]}
            else:
                flash(_("%(name)s is signed up. Here is what to do next.", name=tenant.name))
                return redirect(url_for("console.dashboard", tenant_slug=tenant.slug))
    status = 422 if errors else 200
    return (
        render_template(
            "signup/organisation.html", form=form, errors=errors, kinds=list(TenantKind)
        ),
        status,
    )
