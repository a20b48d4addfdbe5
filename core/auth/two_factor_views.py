"""Two-factor pages: set up an authenticator app, move to a new one, turn it off, recovery codes.

New recovery codes are shown once; a new set can be made on request.

A secret being set up waits in the session, encrypted, until a code from the app
proves it was added; when replacing an app, it replaces the old secret only when the
password and a code from the new app are both right. Recovery codes cross one
redirect in the session the same way, to the page that shows them once.
"""

from __future__ import annotations

import time

from flask import flash
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_login import login_required

from core.auth import services
from core.auth import totp
from core.auth.schemas import FormInvalid
from core.auth.schemas import PasswordSchema
from core.auth.schemas import ReplaceTotpSchema
from core.auth.schemas import TotpCodeSchema
from core.auth.schemas import load_form
from core.auth.services import AuthError
from core.auth.services import SecondFactor
from core.auth.web import PENDING
from core.auth.web import REAUTH
from core.auth.web import RECOVERY_CODES
from core.auth.web import SETUP
from core.auth.web import account_form_limits
from core.auth.web import account_page
from core.auth.web import bp
from core.auth.web import code_limits
from core.auth.web import new_session
from core.auth.web import page
from core.auth.web import pending_user
from core.auth.web import safe_next
from core.auth.web import sign_in_again
from core.crypto import decrypt
from core.crypto import encrypt
from core.models import User

#: which form field of the new-app page shows a refusal of the service
_FIELD_OF = {"wrong_password": "password", "code_invalid": "code"}


def setup_secret(user: User) -> str:
    """The secret being set up, kept across reloads of the page (encrypted in the cookie)."""
    aad = f"user:{user.id}:totp-setup"
    data = session.get(SETUP)
    if data and data.get("uid") == str(user.id):
        try:
            return decrypt(data["secret"], aad=aad)
        except Exception:  # a key rotated away, or a tampered cookie: start over
            session.pop(SETUP, None)
    secret = totp.new_secret()
    session[SETUP] = {"uid": str(user.id), "secret": encrypt(secret, aad=aad)}
    return secret


def setup_context(user: User, secret: str) -> dict:
    """What a page needs to show a secret to add to an authenticator app."""
    return {
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": totp.provisioning_uri(secret, user.email),
    }


def show_recovery_codes(user: User, codes: list[str], next_url: str | None = None):
    """Redirect to the page that shows new recovery codes, once.

    The codes cross one redirect in the session cookie, encrypted and bound to the
    user; that page removes them as it shows them.
    """
    session[RECOVERY_CODES] = {
        "uid": str(user.id),
        "codes": encrypt(" ".join(codes), aad=f"user:{user.id}:recovery-codes"),
        "next": safe_next(next_url),
    }
    return redirect(url_for("auth.recovery_codes"))


# --- authenticator app ---------------------------------------------------------------------


@bp.route("/two-factor/setup", methods=["GET", "POST"])
@code_limits()
def totp_setup():
    """Set up an authenticator app: during a first sign-in, or from the account page."""
    pending = pending_user(SecondFactor.ENROLL)
    if pending is not None:
        user = pending
    elif current_user.is_authenticated:
        if current_user.totp_secret:
            flash(_("Two-factor sign-in is already on."), "info")
            return redirect(url_for("auth.account"))
        if session.get(REAUTH, 0) < time.time():
            return redirect(url_for("auth.confirm_password", next=url_for("auth.totp_setup")))
        user = current_user._get_current_object()
    else:
        return sign_in_again()
    secret = setup_secret(user)
    context = {**setup_context(user, secret), "signing_in": pending is not None}
    if request.method == "GET":
        return page("auth/totp_setup.html", **context)
    try:
        data = load_form(TotpCodeSchema(), request.form)
        codes = services.enable_totp(user, secret, data["code"], signing_in=pending is not None)
    except (FormInvalid, AuthError) as exc:
        errors = exc.errors if isinstance(exc, FormInvalid) else {"code": exc.message}
        return page("auth/totp_setup.html", 422, errors=errors, **context)
    session.pop(SETUP, None)
    if pending is not None:
        next_url = session[PENDING].get("next")
        new_session(user)
        return show_recovery_codes(user, codes, next_url)
    flash(_("Two-factor sign-in is on. You will need a code each time you sign in."), "info")
    return show_recovery_codes(user, codes)


@bp.route("/account/two-factor/disable", methods=["POST"])
@login_required
@account_form_limits()
def totp_disable():
    """Turn two-factor off (password asked again)."""
    user = current_user._get_current_object()
    try:
        services.check_totp_optional(user)  # the role decides before the form does
        data = load_form(PasswordSchema(), {"password": request.form.get("disable_password")})
        services.disable_totp(user, data["password"])
    except FormInvalid as exc:
        return account_page(422, {"disable_password": exc.errors.get("password", exc.message)})
    except AuthError as exc:
        return account_page(exc.status, {"disable_password": exc.message})
    flash(_("Two-factor sign-in is off."), "info")
    return redirect(url_for("auth.account"))


@bp.route("/account/two-factor/new-app", methods=["GET", "POST"])
@login_required
@account_form_limits()
def totp_replace():
    """GET: a new secret for the new app. POST: the password and a code from the new app."""
    user = current_user._get_current_object()
    if not user.totp_secret:
        return redirect(url_for("auth.totp_setup"))
    secret = setup_secret(user)
    context = setup_context(user, secret)
    if request.method == "GET":
        return page("auth/totp_replace.html", **context)
    try:
        data = load_form(ReplaceTotpSchema(), request.form)
        codes = services.replace_totp(user, data["password"], secret, data["code"])
    except FormInvalid as exc:
        return page("auth/totp_replace.html", 422, errors=exc.errors, **context)
    except AuthError as exc:
        errors = {_FIELD_OF.get(exc.code, "_schema"): exc.message}
        return page("auth/totp_replace.html", exc.status, errors=errors, **context)
    session.pop(SETUP, None)
    new_session(user)  # the new session version: this device stays signed in
    flash(
        _(
            "Your new authenticator app is set up; the old one no longer works. "
            "You were signed out on your other devices."
        ),
        "info",
    )
    return show_recovery_codes(user, codes)


# --- recovery codes ------------------------------------------------------------------------


@bp.route("/account/recovery-codes", methods=["GET", "POST"])
@login_required
@account_form_limits()
def recovery_codes():
    """GET: the codes just made, shown once. POST: a new set (password asked again)."""
    user = current_user._get_current_object()
    if request.method == "POST":
        try:
            form = {"password": request.form.get("confirm_password")}
            data = load_form(PasswordSchema(), form)
            codes = services.regenerate_recovery_codes(user, data["password"])
        except FormInvalid as exc:
            return account_page(422, {"confirm_password": exc.errors.get("password", "")})
        except AuthError as exc:
            return account_page(exc.status, {"confirm_password": exc.message})
        flash(_("New recovery codes are made. The old ones no longer work."), "info")
        return show_recovery_codes(user, codes)
    codes, next_url = _codes_to_show(user.id)
    if codes is None:
        flash(
            _("Recovery codes are shown once, when made. Make a new set if you need them."), "info"
        )
        return redirect(url_for("auth.account"))
    body, status = page(
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
