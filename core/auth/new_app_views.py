"""Moving two-factor sign-in to a new authenticator app (a new phone), self-service.

Registered on the auth blueprint (imported at the end of ``core.auth.views``). The
new secret waits in the session, encrypted, as on the setup page; it replaces the
old one only when the password and a code from the new app are both right.
"""

from __future__ import annotations

from flask import flash
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_login import login_required

from core.auth import services
from core.auth.schemas import FormInvalid
from core.auth.schemas import ReplaceTotpSchema
from core.auth.schemas import load_form
from core.auth.services import AuthError
from core.auth.views import SETUP
from core.auth.views import _by_user
from core.auth.views import _limit
from core.auth.views import _new_session
from core.auth.views import _page
from core.auth.views import _post_limits
from core.auth.views import bp
from core.auth.views import setup_context
from core.auth.views import setup_secret
from core.auth.views import show_recovery_codes
from core.extensions import limiter

#: which form field shows a refusal of the service
_FIELD_OF = {"wrong_password": "password", "code_invalid": "code"}


@bp.route("/account/two-factor/new-app", methods=["GET", "POST"])
@login_required
@_post_limits(
    limiter.limit(
        _limit("AUTH_LIMIT_ACCOUNT_USER", "10/minute"), key_func=_by_user, methods=["POST"]
    )
)
def totp_replace():
    """GET: a new secret for the new app. POST: the password and a code from the new app."""
    user = current_user._get_current_object()
    if not user.totp_secret:
        return redirect(url_for("auth.totp_setup"))
    secret = setup_secret(user)
    context = setup_context(user, secret)
    if request.method == "GET":
        return _page("auth/totp_replace.html", **context)
    try:
        data = load_form(ReplaceTotpSchema(), request.form)
        codes = services.replace_totp(user, data["password"], secret, data["code"])
    except FormInvalid as exc:
        return _page("auth/totp_replace.html", 422, errors=exc.errors, **context)
    except AuthError as exc:
        errors = {_FIELD_OF.get(exc.code, "_schema"): exc.message}
        return _page("auth/totp_replace.html", exc.status, errors=errors, **context)
    session.pop(SETUP, None)
    _new_session(user)  # the new session version: this device stays signed in
    flash(
        _(
            "Your new authenticator app is set up; the old one no longer works. "
            "You were signed out on your other devices."
        ),
        "info",
    )
    return show_recovery_codes(user, codes)
