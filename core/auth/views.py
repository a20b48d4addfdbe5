"""The auth pages: sign-up, email verification, sign-in with two-factor, passwords, account.

Views are thin: validate the form (marshmallow), call one service, then handle what
only a view may touch, the browser session. Sign-in happens in steps; between the
password and the second factor the session holds a *pending* user id, not a signed-in
user, so nothing else is reachable until the sign-in is complete.

The session id given to Flask-Login is "user id:session version" (see
``User.get_id``): bumping the version on sign-out, password change or reset ends
every session of that user everywhere, and the loader refuses disabled users.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_login import logout_user

from core.auth import recovery
from core.auth import services
from core.auth import totp
from core.auth.schemas import ChangePasswordSchema
from core.auth.schemas import EmailSchema
from core.auth.schemas import FormInvalid
from core.auth.schemas import LanguageSchema
from core.auth.schemas import NewPasswordSchema
from core.auth.schemas import PasswordSchema
from core.auth.schemas import SignInCodeSchema
from core.auth.schemas import SignInSchema
from core.auth.schemas import SignUpSchema
from core.auth.schemas import TotpCodeSchema
from core.auth.schemas import load_form
from core.auth.schemas import normalise_email
from core.auth.services import AuthError
from core.auth.services import SecondFactor
from core.crypto import decrypt
from core.crypto import encrypt
from core.extensions import db
from core.extensions import limiter
from core.extensions import login_manager
from core.models import User

bp = Blueprint("auth", __name__, template_folder="templates")

login_manager.login_view = "auth.sign_in"
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "warning"
# Flask-Login flashes localize_callback(login_message): the lazy string, translated in
# the visitor's language at that moment (and a plain str, as the session must hold).
login_manager.localize_callback = str

#: session keys
PENDING = "auth_pending"  # a user who passed the password step but not the second factor
SETUP = "auth_totp_setup"  # the TOTP secret being set up, encrypted
REAUTH = "auth_reauth_until"  # the password was asked again, valid until this time
SIGNUP_EMAIL = "auth_signup_email"  # to prefill "send the link again"
RECOVERY_CODES = "auth_recovery_codes"  # new recovery codes until shown, encrypted

PENDING_SECONDS = 5 * 60
REAUTH_SECONDS = 10 * 60


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Resolve the session's "user id:session version"; an old version is signed out."""
    user_id, _sep, version = session_id.partition(":")
    try:
        user = db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    if user is None or str(user.session_version) != version or not user.is_active:
        return None
    return user


# --- rate limits (Flask-Limiter; storage from RATELIMIT_STORAGE_URI) ------------------------


def _limit(setting: str, default: str):
    """A limit operators can tune with a setting, e.g. AUTH_LIMIT_SIGN_IN_IP="20/minute"."""
    return lambda: current_app.config.get(setting, default)


def _by_email() -> str:
    return "email:" + normalise_email(request.form.get("email", ""))


def _by_pending_user() -> str:
    """The user a code is being tried for (pending sign-in or signed in), else the address."""
    pending = session.get(PENDING) or {}
    if pending.get("uid"):
        return "user:" + str(pending["uid"])
    if current_user.is_authenticated:
        return "user:" + str(current_user.id)
    return "ip:" + get_remote_address()


def _by_user() -> str:
    return "user:" + (str(current_user.id) if current_user.is_authenticated else "anon")


def _post_limits(*limits):
    """Apply several POST-only limits to a view."""

    def decorator(view):
        for limit in reversed(limits):
            view = limit(view)
        return view

    return decorator


# --- helpers --------------------------------------------------------------------------------


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _page(template: str, status: int = 200, **context):
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render_template(template, **context), status


def _values(*names: str) -> dict:
    """What the person typed, to show again (never passwords)."""
    return {n: request.form.get(n, "") for n in names}


def _start_pending(user: User, step: SecondFactor, next_url: str | None):
    session.clear()  # a fresh session from the first step on
    session[PENDING] = {
        "uid": str(user.id),
        "v": user.session_version,
        "step": str(step),
        "next": safe_next(next_url),
        "until": int(time.time()) + PENDING_SECONDS,
    }
    endpoint = "auth.sign_in_code" if step == SecondFactor.CODE else "auth.totp_setup"
    return redirect(url_for(endpoint))


def _pending_user(step: SecondFactor) -> User | None:
    data = session.get(PENDING)
    if not data or data.get("step") != str(step) or data.get("until", 0) < time.time():
        return None
    user = services.get_user(data.get("uid", ""))
    if user is None or user.session_version != data.get("v") or not user.is_active:
        return None
    return user


def _complete_sign_in(user: User, next_url: str | None):
    """A new session for the signed-in user, then on to where they were going."""
    _new_session(user)
    return redirect(safe_next(next_url) or url_for("core.home"))


def _new_session(user: User) -> None:
    session.clear()  # no id carried over from before sign-in
    login_user(user)


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


def _sign_in_again():
    session.pop(PENDING, None)
    session.pop(SETUP, None)
    flash(_("Your sign-in took too long or was interrupted. Please sign in again."), "warning")
    return redirect(url_for("auth.sign_in"))


#: where a signed-in user who must set up two-factor may still go
_ENROLLMENT_OPEN = {
    "auth.totp_setup",
    "auth.confirm_password",
    "auth.sign_out",
    "core.static",
    "core.healthz",
    "core.readyz",
    "static",
}


@bp.before_app_request
def require_totp_enrollment():
    """A reviewer or platform admin without two-factor sees the setup page, nothing else.

    Sign-in already sends them there before signing them in; this also catches a
    user given such a role while signed in.
    """
    if request.endpoint in _ENROLLMENT_OPEN:
        return None
    if current_user.is_authenticated and current_user.needs_totp and not current_user.totp_secret:
        return redirect(url_for("auth.totp_setup"))
    return None


# --- sign-up and email verification ---------------------------------------------------------


@bp.route("/sign-up", methods=["GET", "POST"])
@_post_limits(limiter.limit(_limit("AUTH_LIMIT_SIGN_UP_IP", "20/hour"), methods=["POST"]))
def sign_up():
    """Create an account; a verification link is emailed."""
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("core.home"))
    if request.method == "GET":
        return _page("auth/sign_up.html", values={"next": next_url or ""})
    values = {**_values("name", "email"), "next": next_url or ""}
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
        return _page("auth/sign_up.html", 422, errors=exc.errors, values=values)
    except AuthError as exc:
        db.session.rollback()
        return _page("auth/sign_up.html", 422, errors={"email": exc.message}, values=values)
    session[SIGNUP_EMAIL] = user.email
    return redirect(url_for("auth.check_email"))


@bp.route("/sign-up/check-email")
def check_email():
    """After sign-up: look in your inbox (and a way to get the link again)."""
    return _page("auth/check_email.html", values={"email": session.get(SIGNUP_EMAIL, "")})


@bp.route("/verify-email/resend", methods=["GET", "POST"])
@_post_limits(
    limiter.limit(_limit("AUTH_LIMIT_RESEND_IP", "10/hour"), methods=["POST"]),
    limiter.limit(
        _limit("AUTH_LIMIT_RESEND_EMAIL", "3/hour"), key_func=_by_email, methods=["POST"]
    ),
)
def resend_verification():
    """Send the verification link again; the answer does not say whether an account exists."""
    if request.method == "GET":
        return redirect(url_for("auth.check_email"))
    try:
        data = load_form(EmailSchema(), request.form)
    except FormInvalid as exc:
        return _page("auth/check_email.html", 422, errors=exc.errors, values=_values("email"))
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
        return _page("auth/link_problem.html", exc.status, message=exc.message, kind="verify")
    flash(_("Your email address is confirmed. You can sign in now."), "info")
    next_url = safe_next(next_url)
    if current_user.is_authenticated:
        return redirect(next_url or url_for("core.home"))
    return redirect(url_for("auth.sign_in", next=next_url))


# --- sign-in ---------------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
@_post_limits(
    limiter.limit(_limit("AUTH_LIMIT_SIGN_IN_IP", "20/minute"), methods=["POST"]),
    limiter.limit(
        _limit("AUTH_LIMIT_SIGN_IN_EMAIL", "5/minute"), key_func=_by_email, methods=["POST"]
    ),
)
def sign_in():
    """Email and password; then a code for accounts with two-factor."""
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("core.home"))
    if request.method == "GET":
        return _page("auth/sign_in.html", values={"next": next_url or ""})
    values = {**_values("email"), "next": next_url or ""}
    try:
        data = load_form(SignInSchema(), request.form)
        checked = services.check_password(data["email"], data["password"])
    except FormInvalid as exc:
        return _page("auth/sign_in.html", 422, errors=exc.errors, values=values)
    except AuthError as exc:
        # The failed attempt is audited even though the answer is an error (and errors
        # roll back): commit just that line here, at the edge.
        db.session.commit()
        return _page(
            "auth/sign_in.html",
            exc.status,
            errors={"_schema": exc.message},
            values=values,
            unverified=exc.code == "email_unverified",
        )
    if checked.second_factor == SecondFactor.NONE:
        return _complete_sign_in(checked.user, next_url)
    return _start_pending(checked.user, checked.second_factor, next_url)


@bp.route("/sign-in/code", methods=["GET", "POST"])
@_post_limits(
    limiter.limit(_limit("AUTH_LIMIT_CODE_IP", "20/minute"), methods=["POST"]),
    limiter.limit(
        _limit("AUTH_LIMIT_CODE_USER", "5/minute"), key_func=_by_pending_user, methods=["POST"]
    ),
    # and per hour: about 3 in a million guesses succeed, so bound the guesses per day
    limiter.limit(
        _limit("AUTH_LIMIT_CODE_USER_HOURLY", "20/hour"),
        key_func=_by_pending_user,
        methods=["POST"],
    ),
)
def sign_in_code():
    """Second step: the code from the authenticator app, or a recovery code."""
    user = _pending_user(SecondFactor.CODE)
    if user is None:
        return _sign_in_again()
    if request.method == "GET":
        return _page("auth/sign_in_code.html")
    # Which of the page's two forms was sent: its field shows the error.
    field = "recovery-code" if request.form.get("kind") == "recovery" else "code"
    try:
        data = load_form(SignInCodeSchema(), request.form)
        services.check_sign_in_code(user, data["code"])
    except FormInvalid as exc:
        return _page(
            "auth/sign_in_code.html", 422, errors={field: exc.errors.get("code", exc.message)}
        )
    except AuthError as exc:
        db.session.commit()  # keep the audit line of the failed attempt
        return _page("auth/sign_in_code.html", 422, errors={field: exc.message})
    return _complete_sign_in(user, session[PENDING].get("next"))


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    """Sign out here and on every other device."""
    if current_user.is_authenticated:
        services.sign_out(current_user._get_current_object())
        logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("core.home"))


# --- two-factor ----------------------------------------------------------------------------


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


@bp.route("/two-factor/setup", methods=["GET", "POST"])
@_post_limits(
    limiter.limit(_limit("AUTH_LIMIT_CODE_IP", "20/minute"), methods=["POST"]),
    limiter.limit(
        _limit("AUTH_LIMIT_CODE_USER", "5/minute"), key_func=_by_pending_user, methods=["POST"]
    ),
    # and per hour: about 3 in a million guesses succeed, so bound the guesses per day
    limiter.limit(
        _limit("AUTH_LIMIT_CODE_USER_HOURLY", "20/hour"),
        key_func=_by_pending_user,
        methods=["POST"],
    ),
)
def totp_setup():
    """Set up an authenticator app: during a first sign-in, or from the account page."""
    pending = _pending_user(SecondFactor.ENROLL)
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
        return _sign_in_again()
    secret = setup_secret(user)
    context = {**setup_context(user, secret), "signing_in": pending is not None}
    if request.method == "GET":
        return _page("auth/totp_setup.html", **context)
    try:
        data = load_form(TotpCodeSchema(), request.form)
        codes = services.enable_totp(user, secret, data["code"], signing_in=pending is not None)
    except (FormInvalid, AuthError) as exc:
        errors = exc.errors if isinstance(exc, FormInvalid) else {"code": exc.message}
        return _page("auth/totp_setup.html", 422, errors=errors, **context)
    session.pop(SETUP, None)
    if pending is not None:
        next_url = session[PENDING].get("next")
        _new_session(user)
        return show_recovery_codes(user, codes, next_url)
    flash(_("Two-factor sign-in is on. You will need a code each time you sign in."), "info")
    return show_recovery_codes(user, codes)


@bp.route("/account/confirm-password", methods=["GET", "POST"])
@login_required
@_post_limits(
    limiter.limit(
        _limit("AUTH_LIMIT_ACCOUNT_USER", "10/minute"), key_func=_by_user, methods=["POST"]
    )
)
def confirm_password():
    """Ask for the password again before changing two-factor settings."""
    next_url = safe_next(request.values.get("next")) or url_for("auth.account")
    if request.method == "GET":
        return _page("auth/confirm_password.html", values={"next": next_url})
    try:
        data = load_form(PasswordSchema(), request.form)
        services.confirm_password(current_user._get_current_object(), data["password"])
    except (FormInvalid, AuthError) as exc:
        errors = exc.errors if isinstance(exc, FormInvalid) else {"password": exc.message}
        return _page("auth/confirm_password.html", 422, errors=errors, values={"next": next_url})
    session[REAUTH] = int(time.time()) + REAUTH_SECONDS
    return redirect(next_url)


# --- account -------------------------------------------------------------------------------


def _account_page(status: int = 200, errors: dict | None = None):
    user = current_user._get_current_object()
    return _page(
        "auth/account.html",
        status,
        errors=errors or {},
        user=user,
        totp_on=bool(user.totp_secret),
        totp_required=user.needs_totp,
        recovery_codes_left=recovery.remaining(user) if user.totp_secret else 0,
    )


@bp.route("/account")
@login_required
def account():
    """Password, two-factor and language."""
    return _account_page()


@bp.route("/account/password", methods=["POST"])
@login_required
@_post_limits(
    limiter.limit(
        _limit("AUTH_LIMIT_ACCOUNT_USER", "10/minute"), key_func=_by_user, methods=["POST"]
    )
)
def change_password():
    """Change the password; other devices are signed out, this one stays signed in."""
    user = current_user._get_current_object()
    try:
        data = load_form(ChangePasswordSchema(email=user.email), request.form)
        services.change_password(user, data["current_password"], data["new_password"])
    except FormInvalid as exc:
        return _account_page(422, exc.errors)
    except AuthError as exc:
        return _account_page(422, {"current_password": exc.message})
    session.clear()
    login_user(user)  # the new session version
    flash(_("Your password is changed. You were signed out on your other devices."), "info")
    return redirect(url_for("auth.account"))


@bp.route("/account/two-factor/disable", methods=["POST"])
@login_required
@_post_limits(
    limiter.limit(
        _limit("AUTH_LIMIT_ACCOUNT_USER", "10/minute"), key_func=_by_user, methods=["POST"]
    )
)
def totp_disable():
    """Turn two-factor off (password asked again)."""
    user = current_user._get_current_object()
    try:
        services.check_totp_optional(user)  # the role decides before the form does
        data = load_form(PasswordSchema(), {"password": request.form.get("disable_password")})
        services.disable_totp(user, data["password"])
    except FormInvalid as exc:
        return _account_page(422, {"disable_password": exc.errors.get("password", exc.message)})
    except AuthError as exc:
        return _account_page(exc.status, {"disable_password": exc.message})
    flash(_("Two-factor sign-in is off."), "info")
    return redirect(url_for("auth.account"))


@bp.route("/account/language", methods=["POST"])
@login_required
def change_language():
    """The language of pages and emails."""
    try:
        data = load_form(LanguageSchema(), request.form)
        services.set_locale(current_user._get_current_object(), data["locale"])
    except FormInvalid as exc:
        return _account_page(422, exc.errors)
    response = redirect(url_for("auth.account"))
    # The language cookie (from ?lang=) wins over the account setting: keep them in step.
    response.set_cookie(
        "lang", data["locale"], max_age=365 * 24 * 3600, samesite="Lax", httponly=True
    )
    return response


# --- password reset ------------------------------------------------------------------------


@bp.route("/reset-password", methods=["GET", "POST"])
@_post_limits(
    limiter.limit(_limit("AUTH_LIMIT_RESET_IP", "10/hour"), methods=["POST"]),
    limiter.limit(_limit("AUTH_LIMIT_RESET_EMAIL", "3/hour"), key_func=_by_email, methods=["POST"]),
)
def reset_request():
    """Ask for a reset link; the answer is the same whether or not the account exists."""
    if request.method == "GET":
        return _page("auth/reset_request.html")
    try:
        data = load_form(EmailSchema(), request.form)
    except FormInvalid as exc:
        return _page("auth/reset_request.html", 422, errors=exc.errors, values=_values("email"))
    services.request_password_reset(data["email"])
    return _page("auth/reset_request_sent.html", email=data["email"])


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@_post_limits(limiter.limit(_limit("AUTH_LIMIT_RESET_IP", "10/hour"), methods=["POST"]))
def reset_password(token: str):
    """The link from the reset email: choose a new password."""
    try:
        user = services.user_for_reset(token)
    except AuthError as exc:
        return _page("auth/link_problem.html", exc.status, message=exc.message, kind="reset")
    if request.method == "GET":
        return _page("auth/reset_password.html", token=token)
    try:
        data = load_form(NewPasswordSchema(email=user.email), request.form)
        services.reset_password(token, data["password"])
    except FormInvalid as exc:
        return _page("auth/reset_password.html", 422, errors=exc.errors, token=token)
    except AuthError as exc:
        return _page("auth/link_problem.html", exc.status, message=exc.message, kind="reset")
    session.clear()
    flash(_("Your password is changed. Sign in with the new password."), "info")
    return redirect(url_for("auth.sign_in"))


from core.auth import new_app_views  # noqa: E402,F401 (its routes are on bp)
from core.auth import recovery_views  # noqa: E402,F401 (its routes are on bp)
