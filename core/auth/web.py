"""What the auth pages share: the blueprint, the session, rate limits and page helpers.

The pages themselves are in ``views`` (sign-up, verification, sign-in, sign-out,
password reset), ``account_views`` (the account page and its forms) and
``two_factor_views`` (authenticator app and recovery codes); ``blueprint`` imports
them all, and the app registers ``bp`` from there.

Sign-in happens in steps; between the password and the second factor the session
holds a *pending* user id, not a signed-in user, so nothing else is reachable until
the sign-in is complete.

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
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_login import login_user

from core.auth import recovery
from core.auth import services
from core.auth.schemas import normalise_email
from core.auth.services import SecondFactor
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


def configured_limit(setting: str, default: str):
    """A limit operators can tune with a setting, e.g. AUTH_LIMIT_SIGN_IN_IP="20/minute"."""
    return lambda: current_app.config.get(setting, default)


def by_email() -> str:
    """Rate-limit key: the address typed in the form."""
    return "email:" + normalise_email(request.form.get("email", ""))


def by_pending_user() -> str:
    """The user a code is being tried for (pending sign-in or signed in), else the address."""
    pending = session.get(PENDING) or {}
    if pending.get("uid"):
        return "user:" + str(pending["uid"])
    if current_user.is_authenticated:
        return "user:" + str(current_user.id)
    return "ip:" + get_remote_address()


def by_user() -> str:
    """Rate-limit key: the signed-in user."""
    return "user:" + (str(current_user.id) if current_user.is_authenticated else "anon")


def post_limits(*limits):
    """Apply several POST-only limits to a view."""

    def decorator(view):
        for limit in reversed(limits):
            view = limit(view)
        return view

    return decorator


def code_limits():
    """The limits on trying a second-factor code (the sign-in step, setting up an app):
    per address, and per user a minute and an hour."""
    return post_limits(
        limiter.limit(configured_limit("AUTH_LIMIT_CODE_IP", "20/minute"), methods=["POST"]),
        limiter.limit(
            configured_limit("AUTH_LIMIT_CODE_USER", "5/minute"),
            key_func=by_pending_user,
            methods=["POST"],
        ),
        # and per hour: about 3 in a million guesses succeed, so bound the guesses per day
        limiter.limit(
            configured_limit("AUTH_LIMIT_CODE_USER_HOURLY", "20/hour"),
            key_func=by_pending_user,
            methods=["POST"],
        ),
    )


def account_form_limits():
    """The limit on the account page's forms (each asks for the password): per user."""
    return post_limits(
        limiter.limit(
            configured_limit("AUTH_LIMIT_ACCOUNT_USER", "10/minute"),
            key_func=by_user,
            methods=["POST"],
        )
    )


# --- pages ----------------------------------------------------------------------------------


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


def page(template: str, status: int = 200, **context):
    """Render an auth page; ``errors`` and ``values`` default to empty."""
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render_template(template, **context), status


def form_values(*names: str) -> dict:
    """What the person typed, to show again (never passwords)."""
    return {n: request.form.get(n, "") for n in names}


def account_page(status: int = 200, errors: dict | None = None):
    """The account page, also shown again with the errors of any of its forms."""
    user = current_user._get_current_object()
    return page(
        "auth/account.html",
        status,
        errors=errors or {},
        user=user,
        totp_on=bool(user.totp_secret),
        totp_required=user.needs_totp,
        recovery_codes_left=recovery.remaining(user) if user.totp_secret else 0,
    )


# --- sign-in in steps -----------------------------------------------------------------------


def start_pending(user: User, step: SecondFactor, next_url: str | None):
    """The password was right: hold the user as pending and go to the second step."""
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


def pending_user(step: SecondFactor) -> User | None:
    """The user of a sign-in waiting at ``step``, if not expired or signed out since."""
    data = session.get(PENDING)
    if not data or data.get("step") != str(step) or data.get("until", 0) < time.time():
        return None
    user = services.get_user(data.get("uid", ""))
    if user is None or user.session_version != data.get("v") or not user.is_active:
        return None
    return user


def complete_sign_in(user: User, next_url: str | None):
    """A new session for the signed-in user, then on to where they were going."""
    new_session(user)
    return redirect(safe_next(next_url) or url_for("core.home"))


def new_session(user: User) -> None:
    """Sign ``user`` in on a fresh session, with nothing carried over from before."""
    session.clear()  # no id carried over from before sign-in
    login_user(user)


def sign_in_again():
    """A pending sign-in is gone or too old: back to the first step."""
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
