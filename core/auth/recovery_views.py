"""The recovery-code pages: new codes shown once, and a new set on request.

Registered on the auth blueprint (imported at the end of ``core.auth.views``).
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
from core.auth.schemas import PasswordSchema
from core.auth.schemas import load_form
from core.auth.services import AuthError
from core.auth.views import RECOVERY_CODES
from core.auth.views import _account_page
from core.auth.views import _by_user
from core.auth.views import _limit
from core.auth.views import _page
from core.auth.views import _post_limits
from core.auth.views import bp
from core.auth.views import show_recovery_codes
from core.crypto import decrypt
from core.extensions import limiter


@bp.route("/account/recovery-codes", methods=["GET", "POST"])
@login_required
@_post_limits(
    limiter.limit(
        _limit("AUTH_LIMIT_ACCOUNT_USER", "10/minute"), key_func=_by_user, methods=["POST"]
    )
)
def recovery_codes():
    """GET: the codes just made, shown once. POST: a new set (password asked again)."""
    user = current_user._get_current_object()
    if request.method == "POST":
        try:
            form = {"password": request.form.get("confirm_password")}
            data = load_form(PasswordSchema(), form)
            codes = services.regenerate_recovery_codes(user, data["password"])
        except FormInvalid as exc:
            return _account_page(422, {"confirm_password": exc.errors.get("password", "")})
        except AuthError as exc:
            return _account_page(exc.status, {"confirm_password": exc.message})
        flash(_("New recovery codes are made. The old ones no longer work."), "info")
        return show_recovery_codes(user, codes)
    codes, next_url = _codes_to_show(user.id)
    if codes is None:
        flash(
            _("Recovery codes are shown once, when made. Make a new set if you need them."), "info"
        )
        return redirect(url_for("auth.account"))
    body, status = _page(
        "auth/recovery_codes.html",
        codes=codes,
        next_url=next_url or url_for("auth.account"),
        download="\r\n".join(["Sentra", user.email, "", *codes, ""]),
    )
    # Never from a cache: the page is the only place the codes ever appear.
    return body, status, {"Cache-Control": "no-store"}


def _codes_to_show(user_id) -> tuple[list[str] | None, str | None]:
    """The codes waiting in the session (taken out: they are shown once) and where next."""
    data = session.pop(RECOVERY_CODES, None)
    if not data or data.get("uid") != str(user_id):
        return None, None
    try:
        plain = decrypt(data["codes"], aad=f"user:{user_id}:recovery-codes")
    except Exception:  # a key rotated away, or a tampered cookie: nothing to show
        return None, None
    return plain.split(), data.get("next")
