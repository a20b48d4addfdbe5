"""Time-based one-time passwords (RFC 6238) with pyotp, each code accepted once.

Secrets come from ``pyotp.random_base32()`` (a CSPRNG) and are stored encrypted
with :mod:`core.crypto`, bound to the user id. A code is accepted for the current
30-second step and one step either side (``valid_window=1``, for clock drift); the
accepted step is remembered in ``User.totp_last_step`` and no step at or before it
is accepted again, so an observed code cannot be replayed.
"""

from __future__ import annotations

import datetime as dt

import pyotp
from pyotp.utils import strings_equal

from core.crypto import decrypt
from core.crypto import encrypt
from core.db import utcnow
from core.models import User

ISSUER = "Sentra"
VALID_WINDOW = 1


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32()


def _aad(user: User) -> str:
    return f"user:{user.id}:totp"


def seal_secret(user: User, secret: str) -> str:
    """The secret as stored in ``User.totp_secret``."""
    return encrypt(secret, aad=_aad(user))


def open_secret(user: User) -> str | None:
    """The user's plain secret, or None when two-factor is off."""
    if not user.totp_secret:
        return None
    return decrypt(user.totp_secret, aad=_aad(user))


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app imports."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: dt.datetime | None = None) -> int | None:
    """The time step whose code equals ``code`` within the window, or None.

    pyotp's ``verify(code, valid_window=1)`` answers only yes or no; we need the step
    to refuse a second use, so the same window is checked here step by step.
    """
    code = "".join(code.split())
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = now or utcnow()
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if strings_equal(totp.generate_otp(step), code):
            return step
    return None


def accept_code(user: User, secret: str, code: str, now: dt.datetime | None = None) -> bool:
    """Check ``code`` for ``user`` and use it up; False if wrong or already used."""
    step = matching_step(secret, code, now)
    if step is None:
        return False
    if user.totp_last_step is not None and step <= user.totp_last_step:
        return False
    user.totp_last_step = step
    return True
