"""Two-factor sign-in: enrolment, codes used once, required for platform roles."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pyotp
import pytest
import sqlalchemy as sa

from core.auth import recovery
from core.auth import totp
from core.crypto import blind_index
from core.db import utcnow
from core.extensions import db
from core.models import PlatformRole
from core.models import RecoveryCode
from tests.conftest import racing_app
from tests.core.test_auth import audit
from tests.core.test_auth import fresh_limits  # noqa: F401 (autouse)
from tests.core.test_auth import limited  # noqa: F401 (fixture)
from tests.core.test_auth import outbox
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


def codes_on_page(response) -> list[str]:
    """The recovery codes a page shows (none when it does not show them)."""
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", response.text)


def recovery_rows(user) -> list[RecoveryCode]:
    db.session.rollback()
    query = sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id)
    return list(db.session.scalars(query))


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
    assert done.headers["Location"] == "/account/recovery-codes"  # shown once, then on
    assert len(codes_on_page(client.get("/account/recovery-codes"))) == 10
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
    assert done.headers["Location"] == "/account/recovery-codes"
    assert len(codes_on_page(client.get("/account/recovery-codes"))) == 10
    assert totp.open_secret(reload(user)) == secret
    assert signed_in(client)
    assert recovery_rows(user) != []

    refused = client.post("/account/two-factor/disable", data={"disable_password": "nope nope"})
    assert refused.status_code == 422
    assert reload(user).totp_secret is not None
    off = client.post("/account/two-factor/disable", data={"disable_password": PASSWORD})
    assert off.status_code == 302
    assert reload(user).totp_secret is None
    assert recovery_rows(user) == []  # turning two-factor off deletes the recovery codes
    actions = [e.action for e in audit()]
    assert "core.user.totp_enabled" in actions and "core.user.totp_disabled" in actions


def test_reviewer_cannot_turn_totp_off(client, create_user, login):
    reviewer = create_user(platform_role=PlatformRole.REVIEWER)
    login(client, reviewer)
    response = client.post("/account/two-factor/disable", data={"disable_password": PASSWORD})
    assert response.status_code == 403
    assert reload(reviewer).totp_secret is not None


def test_pending_sign_in_expires(client, create_user, monkeypatch):
    import core.auth.web as views

    user = create_user()
    secret = with_totp(user)
    sign_in(client, user.email)
    real = views.time.time
    monkeypatch.setattr(views.time, "time", lambda: real() + views.PENDING_SECONDS + 1)
    response = client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()})
    assert response.headers["Location"] == "/sign-in"
    monkeypatch.undo()
    assert not signed_in(client)


# --- recovery codes -----------------------------------------------------------------------


def with_recovery_codes(user) -> tuple[str, list[str]]:
    """Turn TOTP on for ``user`` with a set of recovery codes: (secret, codes)."""
    secret = with_totp(user)
    codes = recovery.replace_codes(user)
    db.session.commit()
    return secret, codes


def test_recovery_codes_are_random_and_read_loosely(app, create_user):
    codes = {recovery.new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code), code
        assert not set(code) & set("01ilo")  # nothing to misread
    code = next(iter(codes))
    assert recovery.normalise(f"  {code.upper().replace('-', ' - ')} ") == code.replace("-", "")
    assert recovery.looks_like_code(code.upper().replace("-", ""))
    assert not recovery.looks_like_code("123456")
    assert not recovery.looks_like_code(code[:-1] + "0")  # 0 is not in the alphabet


def test_recovery_codes_are_shown_once_and_stored_hashed(client, create_user):
    reviewer = create_user(platform_role=PlatformRole.REVIEWER)
    sign_in(client, reviewer.email, next="/account")
    secret = secret_on_page(client.get("/two-factor/setup").data)
    done = client.post("/two-factor/setup", data={"code": pyotp.TOTP(secret).now()})
    assert done.headers["Location"] == "/account/recovery-codes"

    page = client.get("/account/recovery-codes")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    codes = codes_on_page(page)
    assert len(codes) == len(set(codes)) == 10
    assert 'href="/account"' in page.text  # continue to where the sign-in was going
    assert "sentra-recovery-codes.txt" in page.text  # a download, made on the page itself
    assert re.findall(r'(?:src|href)="(?!/|#|\?|data:text/plain)', page.text) == []

    again = client.get("/account/recovery-codes")  # once only
    assert again.status_code == 302 and again.headers["Location"] == "/account"
    assert codes_on_page(client.get("/account")) == []
    assert b"10 unused recovery codes left." in client.get("/account").data

    rows = recovery_rows(reviewer)
    assert len(rows) == 10 and all(r.used_at is None for r in rows)
    stored = {r.code_hash for r in rows}
    for code in codes:  # a keyed hash of the user and the code, never the code
        assert all(code.replace("-", "") not in h and code not in h for h in stored)
        assert blind_index(f"{reviewer.id}:{code.replace('-', '')}", "recovery-code") in stored


def test_sign_in_with_a_recovery_code_works_once(app, client, create_user):
    user = create_user()
    _secret, codes = with_recovery_codes(user)
    sign_in(client, user.email, next="/account")
    typed = " " + codes[0].upper().replace("-", " ") + " "  # case, spaces and dashes ignored
    done = client.post("/sign-in/code", data={"code": typed, "kind": "recovery"})
    assert done.status_code == 302
    assert done.headers["Location"] == "/account"
    assert signed_in(client)
    assert audit("core.user.signed_in")[-1].data == {"method": "password+recovery_code"}
    assert [r.used_at is not None for r in recovery_rows(user)].count(True) == 1
    assert b"9 unused recovery codes left." in client.get("/account").data

    [message] = [m for m in outbox(app) if m["To"] == user.email]
    assert message["Subject"] == "A recovery code was used to sign in to Sentra"
    text = message.get_body(("plain",)).get_content()
    assert "You have 9 unused recovery codes left." in text
    assert "http://localhost/account" in text

    client.post("/sign-out")
    sign_in(client, user.email)
    replay = client.post("/sign-in/code", data={"code": codes[0], "kind": "recovery"})
    assert replay.status_code == 422
    assert b"That recovery code is not right, or it was already used." in replay.data
    assert b'id="recovery-code-error"' in replay.data  # shown at the field that was used
    assert not signed_in(client)
    assert audit("core.user.sign_in_failed")[-1].data["reason"] == "wrong_code"
    assert len(outbox(app)) == 1  # no mail for a refused code

    other = client.post("/sign-in/code", data={"code": codes[1]})  # the main field takes one too
    assert other.status_code == 302
    assert signed_in(client)


def test_recovery_codes_of_another_user_do_not_work(client, create_user):
    alice, bob = create_user(), create_user()
    _secret, alice_codes = with_recovery_codes(alice)
    with_recovery_codes(bob)
    sign_in(client, bob.email)
    response = client.post("/sign-in/code", data={"code": alice_codes[0]})
    assert response.status_code == 422
    assert not signed_in(client)
    assert all(r.used_at is None for r in recovery_rows(alice))


def test_a_malformed_recovery_code_is_a_form_error(client, create_user):
    user = create_user()
    with_recovery_codes(user)
    sign_in(client, user.email)
    response = client.post("/sign-in/code", data={"code": "abc", "kind": "recovery"})
    assert response.status_code == 422
    assert b"or a recovery code like abcde-fghjk" in response.data
    assert b'id="recovery-code-error"' in response.data
    assert not signed_in(client)


@pytest.mark.usefixtures("limited")
def test_recovery_code_guessing_is_throttled_like_totp(client, create_user):
    user = create_user()
    _secret, codes = with_recovery_codes(user)
    sign_in(client, user.email)
    for n in range(5):
        guess = f"zzzzz-zzzz{n + 2}"
        response = client.post("/sign-in/code", data={"code": guess, "kind": "recovery"})
        assert response.status_code == 422
    assert len(audit("core.user.sign_in_failed")) == 5
    response = client.post("/sign-in/code", data={"code": codes[0], "kind": "recovery"})
    assert response.status_code == 429
    assert not signed_in(client)
    assert all(r.used_at is None for r in recovery_rows(user))


def test_regenerating_replaces_the_set(client, create_user, login):
    user = create_user()
    _secret, old = with_recovery_codes(user)
    login(client, user)
    wrong = client.post("/account/recovery-codes", data={"confirm_password": "not my password"})
    assert wrong.status_code == 422
    assert b"The password is not right." in wrong.data
    assert {r.code_hash for r in recovery_rows(user)} == {
        blind_index(f"{user.id}:{c.replace('-', '')}", "recovery-code") for c in old
    }

    made = client.post("/account/recovery-codes", data={"confirm_password": PASSWORD})
    assert made.headers["Location"] == "/account/recovery-codes"
    new = codes_on_page(client.get("/account/recovery-codes"))
    assert len(new) == 10 and not set(new) & set(old)
    assert len(recovery_rows(user)) == 10
    assert audit("core.user.recovery_codes_regenerated")[-1].data == {"count": 10}

    user = reload(user)
    assert not recovery.use_code(user, old[0])  # the old set stopped working at once
    assert recovery.use_code(user, new[0])


def test_regenerating_needs_two_factor_on(client, create_user, login):
    user = create_user()
    login(client, user)
    response = client.post("/account/recovery-codes", data={"confirm_password": PASSWORD})
    assert response.status_code == 422
    assert recovery_rows(user) == []


# --- a new authenticator app (a new phone) --------------------------------------------------


def move_to_new_app(client, password: str = PASSWORD, code: str | None = None):
    """Open the new-app page and confirm it: (response, the new secret)."""
    page = client.get("/account/two-factor/new-app")
    assert page.status_code == 200
    secret = secret_on_page(page.data)
    data = {"password": password, "code": pyotp.TOTP(secret).now() if code is None else code}
    return client.post("/account/two-factor/new-app", data=data), secret


def next_code(secret: str) -> str:
    """A code of the step after the current one: inside the window, not yet used."""
    return pyotp.TOTP(secret).at(utcnow().timestamp() + 30)


def test_moving_to_a_new_app(app, client, create_user, login):
    user = create_user()
    old_secret, old_codes = with_recovery_codes(user)
    version = user.session_version
    login(client, user)
    other = app.test_client()  # the same person on another device
    login(other, user)
    account = client.get("/account").text
    assert 'href="/account/two-factor/new-app"' in account

    page = client.get("/account/two-factor/new-app")
    new_secret = secret_on_page(page.data)
    assert new_secret != old_secret
    assert f"secret={new_secret}" in page.text  # the otpauth link, as on the setup page
    assert secret_on_page(client.get("/account/two-factor/new-app").data) == new_secret
    assert totp.open_secret(reload(user)) == old_secret  # nothing changes by looking

    done = client.post(
        "/account/two-factor/new-app",
        data={"password": PASSWORD, "code": pyotp.TOTP(new_secret).now()},
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/account/recovery-codes"
    new_codes = codes_on_page(client.get("/account/recovery-codes"))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)

    user = reload(user)
    assert totp.open_secret(user) == new_secret
    assert user.session_version == version + 1
    assert signed_in(client)  # this device stays signed in
    assert not signed_in(other)  # every other session ends
    assert not recovery.use_code(user, old_codes[0])  # the old set died with the old app
    assert recovery.use_code(user, new_codes[0])
    db.session.commit()

    [entry] = audit("core.user.totp_replaced")
    assert entry.object_id == str(user.id) and entry.actor_id == user.id
    assert entry.data == {"recovery_codes": 10}
    [message] = [m for m in outbox(app) if m["To"] == user.email]
    assert message["Subject"] == "Your Sentra authenticator app was changed"
    text = message.get_body(("plain",)).get_content()
    assert "moved to a new authenticator app" in text
    assert "http://localhost/account" in text

    # From now on, only the new app's codes sign in.
    client.post("/sign-out")
    sign_in(client, user.email)
    refused = client.post("/sign-in/code", data={"code": pyotp.TOTP(old_secret).now()})
    assert refused.status_code == 422
    assert not signed_in(client)
    assert client.post("/sign-in/code", data={"code": next_code(new_secret)}).status_code == 302
    assert signed_in(client)


def test_moving_to_a_new_app_right_after_signing_in(client, create_user):
    # The step used by the sign-in belongs to the old secret: the new app's code of the
    # same 30 seconds is still accepted.
    user = create_user()
    old_secret, _codes = with_recovery_codes(user)
    sign_in(client, user.email)
    assert client.post("/sign-in/code", data={"code": next_code(old_secret)}).status_code == 302
    done, new_secret = move_to_new_app(client)
    assert done.status_code == 302
    assert totp.open_secret(reload(user)) == new_secret


@pytest.mark.parametrize(
    ("password", "good_code", "field", "message"),
    [
        ("not my password", True, "password", b"The password is not right."),
        (PASSWORD, False, "code", b"That code is not from the new app"),
        ("", False, "password", b"Enter your password."),
        (PASSWORD, None, "code", b"The code has 6 digits"),
    ],
)
def test_a_wrong_password_or_code_changes_nothing(
    app, client, create_user, login, password, good_code, field, message
):
    user = create_user()
    old_secret, old_codes = with_recovery_codes(user)
    version = user.session_version
    login(client, user)
    page = client.get("/account/two-factor/new-app")
    new_secret = secret_on_page(page.data)
    code = {True: pyotp.TOTP(new_secret).now(), False: wrong_code(new_secret), None: "12ab"}
    response = client.post(
        "/account/two-factor/new-app", data={"password": password, "code": code[good_code]}
    )
    assert response.status_code == 422
    assert message in response.data
    assert f'id="{field}-error"'.encode() in response.data
    assert secret_on_page(response.data) == new_secret  # the same new secret, to try again

    user = reload(user)
    assert totp.open_secret(user) == old_secret
    assert user.session_version == version
    assert signed_in(client)
    assert audit("core.user.totp_replaced") == []
    assert outbox(app) == []
    assert totp.accept_code(user, old_secret, pyotp.TOTP(old_secret).now())  # still works
    assert recovery.use_code(user, old_codes[0])


def test_a_reviewer_moves_to_a_new_app(client, create_user, login):
    reviewer = create_user(platform_role=PlatformRole.REVIEWER)
    login(client, reviewer)  # enrols, as a reviewer's first sign-in does
    old_secret = totp.open_secret(reload(reviewer))
    assert b"cannot be turned off" in client.get("/account").data
    done, new_secret = move_to_new_app(client)
    assert done.headers["Location"] == "/account/recovery-codes"
    assert totp.open_secret(reload(reviewer)) == new_secret != old_secret
    assert client.get("/account").status_code == 200  # signed in, not sent to enrolment
    assert len(audit("core.user.totp_replaced")) == 1


def test_the_new_app_page_needs_two_factor_on(client, create_user, login):
    user = create_user()
    login(client, user)
    assert client.get("/account/two-factor/new-app").headers["Location"] == "/two-factor/setup"
    response = client.post(
        "/account/two-factor/new-app", data={"password": PASSWORD, "code": "123456"}
    )
    assert response.status_code == 302
    assert reload(user).totp_secret is None
    client.post("/sign-out")
    assert client.get("/account/two-factor/new-app").headers["Location"].startswith("/sign-in")


@pytest.mark.usefixtures("limited")
def test_new_app_confirmations_are_throttled(client, create_user, login):
    user = create_user()
    old_secret = with_totp(user)
    login(client, user)
    for _ in range(10):
        response, _secret = move_to_new_app(client, password="not my password")
        assert response.status_code == 422
    response, _secret = move_to_new_app(client)
    assert response.status_code == 429
    assert totp.open_secret(reload(user)) == old_secret


# --- the nudge to make recovery codes ------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "warned"), [(None, True), (0, True), (2, True), (3, False), (10, False)]
)
def test_account_page_warns_when_recovery_codes_run_low(client, create_user, login, left, warned):
    user = create_user()
    if left is None:  # two-factor on from before recovery codes existed: no rows at all
        with_totp(user)
    else:
        _secret, codes = with_recovery_codes(user)
        for code in codes[: 10 - left]:
            assert recovery.use_code(user, code)
        db.session.commit()
    login(client, user)
    page = client.get("/account").text
    assert ('id="recovery-codes-warning"' in page) is warned
    # the button to make a set is on the page once, in the warning when there is one
    assert page.count('action="/account/recovery-codes"') == 1
    if warned:
        warning = page.split('id="recovery-codes-warning"')[1].split("</section>")[0]
        assert 'action="/account/recovery-codes"' in warning
    if not left:
        assert "You have no recovery codes" in page
    elif left == 2:
        assert "Only 2 recovery codes left" in page
    made = client.post("/account/recovery-codes", data={"confirm_password": PASSWORD})
    assert made.headers["Location"] == "/account/recovery-codes"
    client.get("/account/recovery-codes")
    assert 'id="recovery-codes-warning"' not in client.get("/account").text


def test_no_recovery_code_warning_without_two_factor(client, create_user, login):
    user = create_user()
    login(client, user)
    page = client.get("/account").text
    assert 'id="recovery-codes-warning"' not in page
    assert "/account/two-factor/new-app" not in page


def test_operator_resets_two_factor_of_a_reviewer(app, client, runner, create_user):
    reviewer = create_user(platform_role=PlatformRole.REVIEWER)
    with_recovery_codes(reviewer)
    version = reviewer.session_version

    kept = runner.invoke(args=["sentra", "reset-two-factor", reviewer.email], input="n\n")
    assert kept.exit_code != 0  # declined at the prompt: nothing changes
    assert reload(reviewer).totp_secret is not None

    result = runner.invoke(args=["sentra", "reset-two-factor", reviewer.email.upper(), "--yes"])
    assert result.exit_code == 0, result.output
    assert "10 recovery code(s) deleted" in result.output
    assert "set up an authenticator app again at their next sign-in" in result.output
    reviewer = reload(reviewer)
    assert reviewer.totp_secret is None and reviewer.totp_last_step is None
    assert reviewer.session_version == version + 1  # signed out everywhere
    assert recovery_rows(reviewer) == []
    [entry] = audit("core.user.two_factor_reset")
    assert entry.object_id == str(reviewer.id) and entry.actor_id is None
    assert entry.data == {"by": "cli", "had_totp": True, "recovery_codes_deleted": 10}
    [message] = [m for m in outbox(app) if m["To"] == reviewer.email]
    assert "set up your authenticator app again" in message.get_body(("plain",)).get_content()

    # The role requires TOTP: the next sign-in goes to enrolment, not to the code step.
    assert sign_in(client, reviewer.email).headers["Location"] == "/two-factor/setup"


def test_operator_reset_of_an_unknown_email_fails(runner, app):
    result = runner.invoke(args=["sentra", "reset-two-factor", "nobody@example.test", "--yes"])
    assert result.exit_code != 0
    assert "No user with the email nobody@example.test" in result.output


RACERS = 6


@pytest.fixture
def pg_app(postgres, tmp_path):
    """An app on PostgreSQL with a connection for each racing sign-in."""
    yield from racing_app(postgres, tmp_path, RACERS + 2)


@pytest.mark.postgres
def test_racing_sign_ins_use_one_recovery_code_once(pg_app):
    from core.auth import services
    from core.models import User

    user = User(
        email="racer@example.test",
        name="Racer",
        password_hash="unused",
        email_verified_at=utcnow(),
        locale="en",
    )
    db.session.add(user)
    db.session.commit()
    _secret, codes = with_recovery_codes(user)
    user_id = user.id
    barrier = threading.Barrier(RACERS)
    results, errors = [], []

    def race():
        with pg_app.app_context():
            racer = db.session.get(User, user_id)
            try:
                barrier.wait()
                services.check_sign_in_code(racer, codes[0])
                db.session.commit()
                results.append(True)
            except services.AuthError:
                db.session.commit()  # as the view does: keep the failed attempt's audit line
                results.append(False)
            except Exception as exc:  # any other error fails the test
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False] * (RACERS - 1) + [True]
    assert [r.used_at is not None for r in recovery_rows(user)].count(True) == 1
    methods = [e.data.get("method") for e in audit("core.user.signed_in")]
    assert methods == ["password+recovery_code"]
    assert len(audit("core.user.sign_in_failed")) == RACERS - 1


def test_recovery_pages_and_mail_are_in_indonesian(app, client, create_user, indonesian_by_default):
    from tests.core.test_translations import leftovers
    from tests.core.test_translations import translated

    user = create_user(locale="id")
    _secret, codes = with_recovery_codes(user)
    sign_in(client, user.email)
    code_page = client.get("/sign-in/code").text
    assert translated("Sign in with a recovery code") in code_page
    assert not leftovers(code_page, "en")
    assert client.post("/sign-in/code", data={"code": codes[0]}).status_code == 302
    account = client.get("/account").text
    assert "9 kode pemulihan belum terpakai." in account
    assert not leftovers(account, "en")
    client.post("/account/recovery-codes", data={"confirm_password": PASSWORD})
    shown = client.get("/account/recovery-codes").text
    assert translated("Save these codes now. They are shown only this once.") in shown
    assert not leftovers(shown, "en")

    [message] = outbox(app)
    assert message["Subject"] == translated("A recovery code was used to sign in to Sentra")
    assert "Anda masih punya 9 kode pemulihan" in message.get_body(("plain",)).get_content()


def test_new_app_page_nudge_and_mail_are_in_indonesian(
    app, client, create_user, login, indonesian_by_default
):
    from tests.core.test_translations import leftovers
    from tests.core.test_translations import translated

    user = create_user(locale="id")
    with_totp(user)  # on from before recovery codes existed: none left
    login(client, user)
    account = client.get("/account").text
    assert translated("You have no recovery codes") in account
    assert translated("Move to a new authenticator app") in account
    assert not leftovers(account, "en")
    page = client.get("/account/two-factor/new-app").text
    assert translated("Use the new app") in page
    assert not leftovers(page, "en")
    refused = client.post("/account/two-factor/new-app", data={"password": "salah", "code": "1"})
    assert refused.status_code == 422
    assert not leftovers(refused.text, "en")
    done, _secret = move_to_new_app(client)
    assert done.status_code == 302

    [message] = outbox(app)
    assert message["Subject"] == translated("Your Sentra authenticator app was changed")
    assert not leftovers(message.get_body(("plain",)).get_content(), "en")
