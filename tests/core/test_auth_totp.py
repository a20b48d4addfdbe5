"""Two-factor sign-in: enrolment, codes used once, required for platform roles."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest

from core.auth import totp
from core.db import utcnow
from core.models import PlatformRole
from tests.core.test_auth import audit
from tests.core.test_auth import fresh_limits  # noqa: F401 (autouse)
from tests.core.test_auth import limited  # noqa: F401 (fixture)
from tests.core.test_auth import reload
from tests.core.test_auth import sign_in
from tests.core.test_auth import signed_in
from tests.fixtures import PASSWORD


def wrong_code(secret: str) -> str:
    """A well-formed code that is not valid anywhere in the accepted window."""
    now = utcnow().timestamp()
    valid = {pyotp.TOTP(secret).at(now + d * 30) for d in (-2, -1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in valid)


def with_totp(user, secret: str | None = None) -> str:
    from core.extensions import db

    secret = secret or totp.new_secret()
    user.totp_secret = totp.seal_secret(user, secret)
    db.session.commit()
    return secret


def secret_on_page(html: bytes) -> str:
    found = re.search(rb'<code id="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert found, html
    return found.group(1).decode().replace(" ", "")


# --- the TOTP module --------------------------------------------------------------------------


def test_codes_are_accepted_in_the_window_once(app, create_user):
    user = create_user()
    secret = totp.new_secret()
    assert len(secret) == 32  # 160 bits, base32
    t0 = dt.datetime(2026, 11, 23, 12, 0, 15, tzinfo=dt.UTC)
    code_now = pyotp.TOTP(secret).at(t0)
    code_prev = pyotp.TOTP(secret).at(t0 - dt.timedelta(seconds=30))
    code_old = pyotp.TOTP(secret).at(t0 - dt.timedelta(seconds=60))
    assert totp.matching_step(secret, code_old, t0) is None  # outside valid_window=1
    assert totp.accept_code(user, secret, code_now, t0)
    assert not totp.accept_code(user, secret, code_now, t0)  # used
    assert not totp.accept_code(user, secret, code_prev, t0)  # older than the used one
    later = t0 + dt.timedelta(seconds=30)
    assert totp.accept_code(user, secret, pyotp.TOTP(secret).at(later), later)
    assert not totp.accept_code(user, secret, "12345", later)
    assert not totp.accept_code(user, secret, "abcdef", later)


def test_secret_is_stored_encrypted_and_bound_to_the_user(app, create_user):
    alice, bob = create_user(), create_user()
    secret = with_totp(alice)
    assert secret not in alice.totp_secret
    assert totp.open_secret(alice) == secret
    bob.totp_secret = alice.totp_secret  # copied into another row: does not decrypt
    with pytest.raises(Exception):  # noqa: B017 - AESGCM's InvalidTag
        totp.open_secret(bob)
    uri = totp.provisioning_uri(secret, alice.email)
    assert uri.startswith("otpauth://totp/Sentra:") and f"secret={secret}" in uri


# --- sign-in with a code ------------------------------------------------------------------


def test_sign_in_with_code_and_no_reuse(client, create_user):
    user = create_user()
    secret = with_totp(user)
    first = sign_in(client, user.email)
    assert first.status_code == 302
    assert first.headers["Location"] == "/sign-in/code"
    assert not signed_in(client)  # password alone is not enough
    assert client.get("/sign-in/code").status_code == 200

    bad = client.post("/sign-in/code", data={"code": wrong_code(secret)})
    assert bad.status_code == 422
    assert b"not right" in bad.data
    assert not signed_in(client)
    assert audit("core.user.sign_in_failed")[-1].data["reason"] == "wrong_code"

    code = pyotp.TOTP(secret).now()
    good = client.post("/sign-in/code", data={"code": code})
    assert good.status_code == 302
    assert signed_in(client)
    assert audit("core.user.signed_in")[-1].data == {"method": "password+totp"}
    assert reload(user).totp_last_step is not None

    client.post("/sign-out")
    sign_in(client, user.email)
    replay = client.post("/sign-in/code", data={"code": code})
    assert replay.status_code == 422
    assert not signed_in(client)


def test_code_step_needs_the_password_step_first(client, create_user):
    user = create_user()
    secret = with_totp(user)
    response = client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    assert not signed_in(client)


def test_next_survives_the_code_step(client, create_user):
    user = create_user()
    secret = with_totp(user)
    sign_in(client, user.email, next="/account")
    done = client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()})
    assert done.headers["Location"] == "/account"


@pytest.mark.usefixtures("limited")
def test_code_guessing_is_throttled(client, create_user):
    user = create_user()
    secret = with_totp(user)
    sign_in(client, user.email)
    for _ in range(5):
        assert client.post("/sign-in/code", data={"code": wrong_code(secret)}).status_code == 422
    response = client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 429
    assert not signed_in(client)


# --- reviewers must enrol -----------------------------------------------------------------


def test_reviewer_enrols_before_anything_else(client, create_user):
    reviewer = create_user(platform_role=PlatformRole.REVIEWER)
    response = sign_in(client, reviewer.email, next="/account")
    assert response.headers["Location"] == "/two-factor/setup"
    # not signed in yet: nothing behind sign-in is reachable
    assert client.get("/account").status_code == 302
    page = client.get("/two-factor/setup")
    assert page.status_code == 200
    secret = secret_on_page(page.data)
    assert f"secret={secret}".encode() in page.data  # the otpauth URI, as text
    # nothing is loaded from elsewhere (no QR service, no CDN): every link is local
    assert re.findall(rb'(?:src|href)="(?!/|#|\?|otpauth:)', page.data) == []
    assert secret_on_page(client.get("/two-factor/setup").data) == secret  # stable on reload

    bad = client.post("/two-factor/setup", data={"code": wrong_code(secret)})
    assert bad.status_code == 422
    assert reload(reviewer).totp_secret is None
    done = client.post("/two-factor/setup", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302
    assert done.headers["Location"] == "/account"
    assert signed_in(client)
    assert totp.open_secret(reload(reviewer)) == secret
    assert [e.action for e in audit()][-2:] == ["core.user.totp_enabled", "core.user.signed_in"]

    # from now on the reviewer signs in with a code
    client.post("/sign-out")
    assert sign_in(client, reviewer.email).headers["Location"] == "/sign-in/code"


def test_signed_in_reviewer_without_totp_is_sent_to_setup(client, create_user):
    # e.g. given the role while signed in; the login fixture would enrol, so set the cookie
    admin = create_user(platform_role=PlatformRole.PLATFORM_ADMIN)
    with client.session_transaction() as session:
        session["_user_id"] = admin.get_id()
    for path in ("/", "/account", "/o/any/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/two-factor/setup"
    # the setup page asks for the password again first
    assert (
        client.get("/two-factor/setup").headers["Location"].startswith("/account/confirm-password")
    )
    assert client.get("/healthz").status_code == 200


def test_login_fixture_enrols_reviewers(client, create_user, login):
    reviewer = create_user(platform_role=PlatformRole.REVIEWER)
    login(client, reviewer)
    assert totp.open_secret(reload(reviewer))
    assert signed_in(client)


# --- optional TOTP from the account page -------------------------------------------------


def test_member_turns_totp_on_and_off_with_password(client, create_user, login):
    user = create_user()
    login(client, user)
    assert b"Turn on two-factor" in client.get("/account").data
    ask = client.get("/two-factor/setup")
    assert ask.headers["Location"].startswith("/account/confirm-password")
    wrong = client.post(
        "/account/confirm-password",
        data={"password": "not my password", "next": "/two-factor/setup"},
    )
    assert wrong.status_code == 422
    assert client.get("/two-factor/setup").status_code == 302
    ok = client.post(
        "/account/confirm-password", data={"password": PASSWORD, "next": "/two-factor/setup"}
    )
    assert ok.headers["Location"] == "/two-factor/setup"
    secret = secret_on_page(client.get("/two-factor/setup").data)
    done = client.post("/two-factor/setup", data={"code": pyotp.TOTP(secret).now()})
    assert done.headers["Location"] == "/account"
    assert totp.open_secret(reload(user)) == secret
    assert signed_in(client)

    refused = client.post("/account/two-factor/disable", data={"disable_password": "nope nope"})
    assert refused.status_code == 422
    assert reload(user).totp_secret is not None
    off = client.post("/account/two-factor/disable", data={"disable_password": PASSWORD})
    assert off.status_code == 302
    assert reload(user).totp_secret is None
    actions = [e.action for e in audit()]
    assert "core.user.totp_enabled" in actions and "core.user.totp_disabled" in actions


def test_reviewer_cannot_turn_totp_off(client, create_user, login):
    reviewer = create_user(platform_role=PlatformRole.REVIEWER)
    login(client, reviewer)
    response = client.post("/account/two-factor/disable", data={"disable_password": PASSWORD})
    assert response.status_code == 403
    assert reload(reviewer).totp_secret is not None


def test_pending_sign_in_expires(client, create_user, monkeypatch):
    import core.auth.views as views

    user = create_user()
    secret = with_totp(user)
    sign_in(client, user.email)
    real = views.time.time
    monkeypatch.setattr(views.time, "time", lambda: real() + views.PENDING_SECONDS + 1)
    response = client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()})
    assert response.headers["Location"] == "/sign-in"
    monkeypatch.undo()
    assert not signed_in(client)
