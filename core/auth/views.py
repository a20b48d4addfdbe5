"""The way in: sign-up, email verification, sign-in and its code step, sign-out, password reset.

Views are thin: validate the form (marshmallow), call one service, then handle what
only a view may touch, the browser session. What the auth pages share (the blueprint,
session keys, rate limits, the steps of a pending sign-in) is in ``core.auth.web``.
"""

from __future__ import annotations

from flask import flash
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_login import logout_user

from core.auth import services
from core.auth.schemas import EmailSchema
from core.auth.schemas import FormInvalid
from core.auth.schemas import NewPasswordSchema
from core.auth.schemas import SignInCodeSchema
from core.auth.schemas import SignInSchema
from core.auth.schemas import SignUpSchema
from core.auth.schemas import load_form
from core.auth.services import AuthError
from core.auth.services import SecondFactor
from core.auth.web import PENDING
from core.auth.web import SIGNUP_EMAIL
from core.auth.web import bp
from core.auth.web import by_email
from core.auth.web import code_limits
from core.auth.web import complete_sign_in
from core.auth.web import configured_limit
from core.auth.web import form_values
from core.auth.web import page
from core.auth.web import pending_user
from core.auth.web import post_limits
from core.auth.web import safe_next
from core.auth.web import sign_in_again
from core.auth.web import start_pending
from core.extensions import db
from core.extensions import limiter

# --- sign-up and email verification ---------------------------------------------------------


@bp.route("/sign-up", methods=["GET", "POST"])
@post_limits(limiter.limit(configured_limit("AUTH_LIMIT_SIGN_UP_IP", "20/hour"), methods=["POST"]))
def sign_up():
    """Create an account; a verification link is emailed."""
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("core.home"))
    if request.method == "GET":
        return page("auth/sign_up.html", values={"next": next_url or ""})
    values = {**form_values("name", "email"), "next": next_url or ""}
    try:
        data = load_form(SignUpSchema(), request.form)
        user = services.sign_up(
            data["name"],
            data["email"],
            data["password"],
            locale=str(get_locale()),
            next_path=next_url,
        )
    except FormInvalid as exc:
        return page("auth/sign_up.html", 422, errors=exc.errors, values=values)
    except AuthError as exc:
        db.session.rollback()
        return page("auth/sign_up.html", 422, errors={"email": exc.message}, values=values)
    session[SIGNUP_EMAIL] = user.email
    return redirect(url_for("auth.check_email"))


@bp.route("/sign-up/check-email")
def check_email():
    """After sign-up: look in your inbox (and a way to get the link again)."""
    return page("auth/check_email.html", values={"email": session.get(SIGNUP_EMAIL, "")})


@bp.route("/verify-email/resend", methods=["GET", "POST"])
@post_limits(
    limiter.limit(configured_limit("AUTH_LIMIT_RESEND_IP", "10/hour"), methods=["POST"]),
    limiter.limit(
        configured_limit("AUTH_LIMIT_RESEND_EMAIL", "3/hour"), key_func=by_email, methods=["POST"]
    ),
)
def resend_verification():
    """Send the verification link again; the answer does not say whether an account exists."""
    if request.method == "GET":
        return redirect(url_for("auth.check_email"))
    try:
        data = load_form(EmailSchema(), request.form)
    except FormInvalid as exc:
        return page("auth/check_email.html", 422, errors=exc.errors, values=form_values("email"))
    services.resend_verification(data["email"])
    session[SIGNUP_EMAIL] = data["email"]
    flash(
        _("If that address has an account waiting for confirmation, we sent a new link."),
        "info",
    )
    return redirect(url_for("auth.check_email"))


@bp.route("/verify-email/<token>")
def verify_email(token: str):
    """The link from the verification email."""
    try:
        _user, next_url = services.verify_email(token)
    except AuthError as exc:
        return page("auth/link_problem.html", exc.status, message=exc.message, kind="verify")
    flash(_("Your email address is confirmed. You can sign in now."), "info")
    next_url = safe_next(next_url)
    if current_user.is_authenticated:
        return redirect(next_url or url_for("core.home"))
    return redirect(url_for("auth.sign_in", next=next_url))


# --- sign-in ---------------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
@post_limits(
    limiter.limit(configured_limit("AUTH_LIMIT_SIGN_IN_IP", "20/minute"), methods=["POST"]),
    limiter.limit(
        configured_limit("AUTH_LIMIT_SIGN_IN_EMAIL", "5/minute"),
        key_func=by_email,
        methods=["POST"],
    ),
)
def sign_in():
    """Email and password; then a code for accounts with two-factor."""
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("core.home"))
    if request.method == "GET":
        return page("auth/sign_in.html", values={"next": next_url or ""})
    values = {**form_values("email"), "next": next_url or ""}
    try:
        data = load_form(SignInSchema(), request.form)
        checked = services.check_password(data["email"], data["password"])
    except FormInvalid as exc:
        return page("auth/sign_in.html", 422, errors=exc.errors, values=values)
    except AuthError as exc:
        # The failed attempt is audited even though the answer is an error (and errors
        # roll back): commit just that line here, at the edge.
        db.session.commit()
        return page(
            "auth/sign_in.html",
            exc.status,
            errors={"_schema": exc.message},
            values=values,
            unverified=exc.code == "email_unverified",
        )
    if checked.second_factor == SecondFactor.NONE:
        return complete_sign_in(checked.user, next_url)
    return start_pending(checked.user, checked.second_factor, next_url)


@bp.route("/sign-in/code", methods=["GET", "POST"])
@code_limits()
def sign_in_code():
    """Second step: the code from the authenticator app, or a recovery code."""
    user = pending_user(SecondFactor.CODE)
    if user is None:
        return sign_in_again()
    if request.method == "GET":
        return page("auth/sign_in_code.html")
    # Which of the page's two forms was sent: its field shows the error.
    field = "recovery-code" if request.form.get("kind") == "recovery" else "code"
    try:
        data = load_form(SignInCodeSchema(), request.form)
        services.check_sign_in_code(user, data["code"])
    except FormInvalid as exc:
        return page(
            "auth/sign_in_code.html", 422, errors={field: exc.errors.get("code", exc.message)}
        )
    except AuthError as exc:
        db.session.commit()  # keep the audit line of the failed attempt
        return page("auth/sign_in_code.html", 422, errors={field: exc.message})
    return complete_sign_in(user, session[PENDING].get("next"))


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    """Sign out here and on every other device."""
    if current_user.is_authenticated:
        services.sign_out(current_user._get_current_object())
        logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("core.home"))


# --- password reset ------------------------------------------------------------------------


@bp.route("/reset-password", methods=["GET", "POST"])
@post_limits(
    limiter.limit(configured_limit("AUTH_LIMIT_RESET_IP", "10/hour"), methods=["POST"]),
    limiter.limit(
        configured_limit("AUTH_LIMIT_RESET_EMAIL", "3/hour"), key_func=by_email, methods=["POST"]
    ),
)
def reset_request():
    """Ask for a reset link; the answer is the same whether or not the account exists."""
    if request.method == "GET":
        return page("auth/reset_request.html")
    try:
        data = load_form(EmailSchema(), request.form)
    except FormInvalid as exc:
        return page("auth/reset_request.html", 422, errors=exc.errors, values=form_values("email"))
    services.request_password_reset(data["email"])
    return page("auth/reset_request_sent.html", email=data["email"])


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@post_limits(limiter.limit(configured_limit("AUTH_LIMIT_RESET_IP", "10/hour"), methods=["POST"]))
def reset_password(token: str):
    """The link from the reset email: choose a new password."""
    try:
        user = services.user_for_reset(token)
    except AuthError as exc:
        return page("auth/link_problem.html", exc.status, message=exc.message, kind="reset")
    if request.method == "GET":
        return page("auth/reset_password.html", token=token)
    try:
        data = load_form(NewPasswordSchema(email=user.email), request.form)
        services.reset_password(token, data["password"])
    except FormInvalid as exc:
        return page("auth/reset_password.html", 422, errors=exc.errors, token=token)
    except AuthError as exc:
        return page("auth/link_problem.html", exc.status, message=exc.message, kind="reset")
    session.clear()
    flash(_("Your password is changed. Sign in with the new password."), "info")
    return redirect(url_for("auth.sign_in"))
