"""The account page and its forms: confirm the password, change it, choose the language.

The two-factor forms on the account page are in ``core.auth.two_factor_views``; what the
auth pages share is in ``core.auth.web``.
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
from flask_login import login_user

from core.auth import services
from core.auth.schemas import ChangePasswordSchema
from core.auth.schemas import FormInvalid
from core.auth.schemas import LanguageSchema
from core.auth.schemas import PasswordSchema
from core.auth.schemas import load_form
from core.auth.services import AuthError
from core.auth.web import REAUTH
from core.auth.web import REAUTH_SECONDS
from core.auth.web import account_form_limits
from core.auth.web import account_page
from core.auth.web import bp
from core.auth.web import page
from core.auth.web import safe_next


@bp.route("/account")
@login_required
def account():
    """Password, two-factor and language."""
    return account_page()


@bp.route("/account/password", methods=["POST"])
@login_required
@account_form_limits()
def change_password():
    """Change the password; other devices are signed out, this one stays signed in."""
    user = current_user._get_current_object()
    try:
        data = load_form(ChangePasswordSchema(email=user.email), request.form)
        services.change_password(user, data["current_password"], data["new_password"])
    except FormInvalid as exc:
        return account_page(422, exc.errors)
    except AuthError as exc:
        return account_page(422, {"current_password": exc.message})
    session.clear()
    login_user(user)  # the new session version
    flash(_("Your password is changed. You were signed out on your other devices."), "info")
    return redirect(url_for("auth.account"))


@bp.route("/account/confirm-password", methods=["GET", "POST"])
@login_required
@account_form_limits()
def confirm_password():
    """Ask for the password again before changing two-factor settings."""
    next_url = safe_next(request.values.get("next")) or url_for("auth.account")
    if request.method == "GET":
        return page("auth/confirm_password.html", values={"next": next_url})
    try:
        data = load_form(PasswordSchema(), request.form)
        services.confirm_password(current_user._get_current_object(), data["password"])
    except (FormInvalid, AuthError) as exc:
        errors = exc.errors if isinstance(exc, FormInvalid) else {"password": exc.message}
        return page("auth/confirm_password.html", 422, errors=errors, values={"next": next_url})
    session[REAUTH] = int(time.time()) + REAUTH_SECONDS
    return redirect(next_url)


@bp.route("/account/language", methods=["POST"])
@login_required
def change_language():
    """The language of pages and emails."""
    try:
        data = load_form(LanguageSchema(), request.form)
        services.set_locale(current_user._get_current_object(), data["locale"])
    except FormInvalid as exc:
        return account_page(422, exc.errors)
    response = redirect(url_for("auth.account"))
    # The language cookie (from ?lang=) wins over the account setting: keep them in step.
    response.set_cookie(
        "lang", data["locale"], max_age=365 * 24 * 3600, samesite="Lax", httponly=True
    )
    return response
