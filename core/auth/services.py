"""Account services: sign-up, email verification, sign-in, two-factor, passwords, sign-out.

Each function changes state and records it in the audit trail; it flushes and never
commits (the request commits at the edge). Refusals are :class:`AuthError` with a
``code`` the tests assert and a message safe to show. Nothing here reads ``request``
or ``session``: the views own the browser session, these functions own the rows.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from core.audit import log_action
from core.auth import recovery
from core.auth import totp
from core.auth.passwords import hash_password
from core.auth.passwords import needs_rehash
from core.auth.passwords import verify_password
from core.auth.schemas import LOCALES
from core.auth.schemas import normalise_email
from core.auth.tokens import RESET_PASSWORD_MAX_AGE
from core.auth.tokens import VERIFY_EMAIL_MAX_AGE
from core.auth.tokens import TokenExpired
from core.auth.tokens import TokenInvalid
from core.auth.tokens import external_url
from core.auth.tokens import fingerprint
from core.auth.tokens import load_token
from core.auth.tokens import make_token
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.mail import send_mail
from core.models import User
from core.signals import user_signed_in

VERIFY_PURPOSE = "verify-email"
RESET_PURPOSE = "reset-password"


class AuthError(DomainError):
    """An account action was refused; ``code`` says why."""

    status = 422
    code = "auth_error"


class SecondFactor(enum.StrEnum):
    NONE = "none"  # signed in with the password alone
    CODE = "code"  # must enter a TOTP code
    ENROLL = "enroll"  # must set up TOTP first (reviewers, platform admins)


@dataclasses.dataclass(frozen=True)
class PasswordChecked:
    """The outcome of a correct password: who, and what the sign-in still needs."""

    user: User
    second_factor: SecondFactor


def find_user(email: str) -> User | None:
    """The account with this email (compared normalised), if any."""
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def get_user(user_id: str | uuid.UUID) -> User | None:
    """The account with this id, or None for a malformed or unknown id."""
    try:
        uid = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
    except ValueError:
        return None
    return db.session.get(User, uid)


# --- sign-up and email verification ---------------------------------------------------


def sign_up(
    name: str, email: str, password: str, *, locale: str = "id", next_path: str | None = None
) -> User:
    """Create an unverified account and email it a verification link.

    ``next_path``: where to go after verifying and signing in (a checked local path).
    """
    email = normalise_email(email)
    taken = AuthError(
        _("An account with this email address already exists. Sign in, or reset the password."),
        code="email_taken",
        status=409,
    )
    if find_user(email) is not None:
        raise taken
    user = User(
        name=name,
        email=email,
        password_hash=hash_password(password),
        locale=locale if locale in LOCALES else "id",
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # Lost a race with a concurrent sign-up for the same address. The transaction
        # is dead; the caller's error path rolls it back.
        raise taken from None
    log_action(user, "core.user.signed_up", user, {"email": email})
    send_verification_email(user, next_path=next_path)
    return user


def send_verification_email(user: User, *, next_path: str | None = None) -> None:
    """Queue the email with a link that proves the person reads this address."""
    payload = {"uid": str(user.id), "email": user.email}
    if next_path:
        payload["next"] = next_path
    token = make_token(VERIFY_PURPOSE, payload)
    send_mail(
        user.email,
        "core/verify_email",
        {"name": user.name, "url": external_url("auth.verify_email", token=token)},
        locale=user.locale,
    )


def resend_verification(email: str) -> None:
    """Send the link again if the account exists and still needs it; silent otherwise.

    Whether anything was sent is not returned: the page says the same either way.
    """
    user = find_user(email)
    if user is None or user.email_verified_at is not None or user.disabled_at is not None:
        return
    send_verification_email(user)


def verify_email(token: str) -> tuple[User, str | None]:
    """Mark the account of a verification link as verified (again is harmless).

    Returns the user and the page the person was on their way to when signing up.
    """
    try:
        payload = load_token(VERIFY_PURPOSE, token, VERIFY_EMAIL_MAX_AGE)
    except TokenExpired:
        raise AuthError(
            _("This link has expired. Sign in to get a new one."), code="link_expired", status=400
        ) from None
    except TokenInvalid:
        raise _bad_link() from None
    user = get_user(payload.get("uid", ""))
    if user is None or user.email != payload.get("email"):
        raise _bad_link()
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        log_action(user, "core.user.email_verified", user, {"email": user.email})
        db.session.flush()
    return user, payload.get("next")


def _bad_link() -> AuthError:
    return AuthError(
        _("This link is not valid. Check that you copied all of it."),
        code="link_invalid",
        status=400,
    )


# --- sign-in ------------------------------------------------------------------------------


def check_password(email: str, password: str) -> PasswordChecked:
    """First step of sign-in. Unknown email and wrong password get the same answer.

    Both cost one argon2 verification (against a dummy hash when there is no account)
    and one audit line, so neither the message nor the time tells them apart. Only a
    correct password learns that the account is unverified or disabled.
    """
    email = normalise_email(email)
    user = find_user(email)
    if not verify_password(user.password_hash if user else None, password):
        _sign_in_failed(user, email, "unknown_email" if user is None else "wrong_password")
        raise AuthError(_("The email or password is not right."), code="bad_credentials")
    if user.disabled_at is not None:
        _sign_in_failed(user, email, "disabled")
        raise AuthError(
            _("This account is disabled. Contact your organisation or Sentra support."),
            code="account_disabled",
            status=403,
        )
    if user.email_verified_at is None:
        _sign_in_failed(user, email, "email_unverified")
        raise AuthError(
            _("Please confirm your email address first: open the link we emailed you."),
            code="email_unverified",
            status=403,
        )
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.totp_secret:
        step = SecondFactor.CODE
    elif user.needs_totp:
        step = SecondFactor.ENROLL
    else:
        step = SecondFactor.NONE
        record_sign_in(user, method="password")
    db.session.flush()
    return PasswordChecked(user, step)


def _sign_in_failed(user: User | None, email: str, reason: str) -> None:
    # The typed email is kept only when it looks like one: people paste passwords
    # into the wrong field, and the audit log must never hold a password.
    shown = email if "@" in email and len(email) <= 254 else None
    log_action(user, "core.user.sign_in_failed", None, {"email": shown, "reason": reason})
    db.session.flush()


def record_sign_in(user: User, *, method: str) -> None:
    """The sign-in is complete: remember when, and record it."""
    user.last_login_at = utcnow()
    log_action(user, "core.user.signed_in", user, {"method": method})
    db.session.flush()
    user_signed_in.send(user, tenant=None)


def check_sign_in_code(user: User, code: str) -> None:
    """Second step of sign-in for a user with TOTP: a code from the app or a recovery
    code, each used once. A wrong code of either kind is one failed sign-in."""
    secret = totp.open_secret(user)
    if secret is not None and totp.accept_code(user, secret, code):
        record_sign_in(user, method="password+totp")
    elif secret is not None and recovery.use_code(user, code):
        record_sign_in(user, method="password+recovery_code")
        send_recovery_code_used_email(user)
    else:
        _sign_in_failed(user, user.email, "wrong_code")
        if recovery.looks_like_code(code):
            raise AuthError(
                _("That recovery code is not right, or it was already used."),
                code="code_invalid",
            )
        raise _bad_code()


def send_recovery_code_used_email(user: User) -> None:
    """Tell the person a recovery code was used (someone else may hold their codes)."""
    send_mail(
        user.email,
        "core/recovery_code_used",
        {
            "name": user.name,
            "remaining": recovery.remaining(user),
            "url": external_url("auth.account"),
        },
        locale=user.locale,
    )


def _bad_code() -> AuthError:
    return AuthError(
        _("That code is not right, or it was already used. Wait for the next code."),
        code="code_invalid",
    )


# --- two-factor ---------------------------------------------------------------------------


def enable_totp(user: User, secret: str, code: str, *, signing_in: bool = False) -> list[str]:
    """Turn on TOTP with ``secret`` once the person shows a code made from it.

    Returns a new set of recovery codes, to be shown once. ``signing_in``: this
    happens during sign-in (a reviewer's first), which it completes.
    """
    if user.totp_secret:
        raise AuthError(_("Two-factor sign-in is already on."), code="totp_already_on")
    if not totp.accept_code(user, secret, code):
        raise _bad_code()
    user.totp_secret = totp.seal_secret(user, secret)
    codes = recovery.replace_codes(user)
    log_action(user, "core.user.totp_enabled", user, {"recovery_codes": len(codes)})
    db.session.flush()
    if signing_in:
        record_sign_in(user, method="password+totp")
    return codes


def regenerate_recovery_codes(user: User, password: str) -> list[str]:
    """A new set of recovery codes (password asked again); the old set stops working."""
    confirm_password(user, password)
    if not user.totp_secret:
        raise AuthError(
            _("Turn on two-factor sign-in first: recovery codes come with it."),
            code="totp_off",
        )
    codes = recovery.replace_codes(user)
    log_action(user, "core.user.recovery_codes_regenerated", user, {"count": len(codes)})
    db.session.flush()
    return codes


def replace_totp(user: User, password: str, secret: str, code: str) -> list[str]:
    """Move two-factor sign-in to a new authenticator app (a new phone), self-service.

    Needs the password again and a code made from the new ``secret``; until both are
    right nothing changes, so the old app keeps working. Then the old secret and the
    old recovery codes stop working at once, every session of the user ends (the
    caller renews its own, as after a password change) and the person is told by
    email. Allowed for every role with TOTP on, including those that require it.
    Returns the new recovery codes, to be shown once.
    """
    confirm_password(user, password)
    if not user.totp_secret:
        raise AuthError(
            _("Two-factor sign-in is off: turn it on to set up an authenticator app."),
            code="totp_off",
        )
    # The step remembered against replay belongs to the old secret: a code from the
    # new app in the same 30 seconds as the last sign-in must not be refused for it.
    step = totp.matching_step(secret, code)
    if step is None:
        raise AuthError(
            _("That code is not from the new app, or it is not right. Try the next code."),
            code="code_invalid",
        )
    user.totp_secret = totp.seal_secret(user, secret)
    user.totp_last_step = step
    user.session_version += 1
    codes = recovery.replace_codes(user)
    log_action(user, "core.user.totp_replaced", user, {"recovery_codes": len(codes)})
    db.session.flush()
    send_mail(
        user.email,
        "core/totp_replaced",
        {"name": user.name, "url": external_url("auth.account")},
        locale=user.locale,
    )
    return codes


def reset_two_factor(user: User) -> int:
    """Operator reset for a person who lost both phone and recovery codes.

    Clears the TOTP secret and every recovery code and signs the user out everywhere;
    a role that requires TOTP is sent to enrolment at the next sign-in. The person is
    told by email. Returns how many recovery codes were deleted.
    """
    deleted = recovery.delete_codes(user)
    had_totp = bool(user.totp_secret)
    user.totp_secret = None
    user.totp_last_step = None
    user.session_version += 1
    log_action(
        user,
        "core.user.two_factor_reset",
        None,  # an operator at the command line, not a signed-in user
        {"by": "cli", "had_totp": had_totp, "recovery_codes_deleted": deleted},
    )
    db.session.flush()
    send_mail(
        user.email,
        "core/two_factor_reset",
        {
            "name": user.name,
            "enrol_again": user.needs_totp,
            "url": external_url("auth.sign_in"),
        },
        locale=user.locale,
    )
    return deleted


def disable_totp(user: User, password: str) -> None:
    """Turn off TOTP (password asked again); refused where the role requires it."""
    check_totp_optional(user)
    confirm_password(user, password)
    if not user.totp_secret:
        return
    user.totp_secret = None
    deleted = recovery.delete_codes(user)
    log_action(user, "core.user.totp_disabled", user, {"recovery_codes_deleted": deleted})
    db.session.flush()


def check_totp_optional(user: User) -> None:
    """Refuse (403) to turn TOTP off for reviewers and platform admins."""
    if user.needs_totp:
        raise AuthError(
            _("Your role requires two-factor sign-in; it cannot be turned off."),
            code="totp_required",
            status=403,
        )


def confirm_password(user: User, password: str) -> None:
    """Ask a signed-in person for their password again before a sensitive change."""
    if not verify_password(user.password_hash, password):
        raise AuthError(_("The password is not right."), code="wrong_password")


# --- passwords and sessions ---------------------------------------------------------------


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change the password; every session of the user ends (the caller renews its own)."""
    confirm_password(user, current_password)
    _set_password(user, new_password)
    log_action(user, "core.user.password_changed", user)
    db.session.flush()


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_version += 1


def request_password_reset(email: str) -> None:
    """Email a reset link if the account exists; the caller answers the same either way."""
    user = find_user(email)
    if user is None or user.disabled_at is not None:
        return
    token = make_token(RESET_PURPOSE, {"uid": str(user.id), "fp": fingerprint(user.password_hash)})
    send_mail(
        user.email,
        "core/reset_password",
        {"name": user.name, "url": external_url("auth.reset_password", token=token)},
        locale=user.locale,
    )


def user_for_reset(token: str) -> User:
    """The account a reset link is for, while the link is still good.

    The link is bound to a fingerprint of the password hash, so it stops working
    as soon as the password changes: in particular, once it has been used.
    """
    try:
        payload = load_token(RESET_PURPOSE, token, RESET_PASSWORD_MAX_AGE)
    except TokenExpired:
        raise AuthError(
            _("This link has expired. Ask for a new one."), code="link_expired", status=400
        ) from None
    except TokenInvalid:
        raise _bad_link() from None
    user = get_user(payload.get("uid", ""))
    if user is None or user.disabled_at is not None:
        raise _bad_link()
    if payload.get("fp") != fingerprint(user.password_hash):
        raise AuthError(
            _("This link was already used. Ask for a new one if you need it."),
            code="link_used",
            status=400,
        )
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; signs the account out everywhere."""
    user = user_for_reset(token)
    _set_password(user, new_password)
    if user.email_verified_at is None:  # the link reached the inbox: the address works
        user.email_verified_at = utcnow()
    log_action(user, "core.user.password_reset", user)
    db.session.flush()
    return user


def sign_out(user: User) -> None:
    """End every session of the user, on every device."""
    user.session_version += 1
    log_action(user, "core.user.signed_out", user)
    db.session.flush()


def set_locale(user: User, locale: str) -> None:
    """The language of the user's pages and emails."""
    if locale not in LOCALES:
        raise AuthError(_("Choose a language from the list."), code="invalid_locale")
    if user.locale != locale:
        user.locale = locale
        log_action(user, "core.user.locale_changed", user, {"locale": locale})
        db.session.flush()
