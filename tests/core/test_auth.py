"""Sign-up, email verification, sign-in, throttling, sessions, CSRF (through the client).

Helpers here are shared by the other ``test_auth_*`` modules.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from urllib.parse import unquote
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from core.auth.passwords import needs_rehash
from core.auth.web import safe_next
from core.db import utcnow
from core.extensions import db
from core.extensions import limiter
from core.models import AuditEntry
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant
from tests.fixtures import PASSWORD

NEW_PASSWORD = "a brand new long passphrase"


@pytest.fixture(autouse=True)
def fresh_limits():
    """Rate-limit counters must not leak from one test into the next.

    (Deliberately not depending on ``app``: autouse fixtures are set up first, and
    tests must still be able to change ``app_config`` before the app is built.)
    """
    yield
    if limiter.enabled:  # a disabled limiter has no storage
        limiter.reset()


@pytest.fixture
def limited(app_config):
    """Turn rate limiting on for this test (ask for it before ``client``)."""
    app_config["RATELIMIT_ENABLED"] = True
    return app_config


# --- helpers ------------------------------------------------------------------------------


def outbox(app) -> list[email.message.EmailMessage]:
    """Messages the file mail backend wrote, oldest first."""
    directory = Path(unquote(urlparse(app.config["MAIL_URL"]).path))
    if not directory.exists():
        return []
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]


def link_in(message, path_prefix: str) -> str:
    """The path of the first link to ``path_prefix`` in a message's text part."""
    text = message.get_body(("plain",)).get_content()
    found = re.search(r"http://localhost(" + re.escape(path_prefix) + r"[^\s]+)", text)
    assert found, text
    return found.group(1)


def audit(action: str | None = None) -> list[AuditEntry]:
    """Audit lines (optionally of one action), read as a platform operator would."""
    db.session.rollback()
    with cross_tenant(Scope.PLATFORM):
        query = sa.select(AuditEntry).order_by(AuditEntry.at)
        if action:
            query = query.where(AuditEntry.action == action)
        return list(db.session.scalars(query))


def reload(user: User) -> User:
    db.session.rollback()
    return db.session.get(User, user.id)


def sign_in(client, email_address: str, password: str = PASSWORD, **extra):
    return client.post("/sign-in", data={"email": email_address, "password": password, **extra})


def signed_in(client) -> bool:
    """Whether the client's session reaches a page that needs sign-in."""
    return client.get("/account").status_code == 200


def without_tokens(html: bytes) -> bytes:
    return re.sub(rb'name="csrf_token" value="[^"]*"', b"", html)


# --- sign-up and verification ---------------------------------------------------------------


def test_sign_up_verify_then_sign_in(app, client):
    assert client.get("/sign-up").status_code == 200
    response = client.post(
        "/sign-up",
        data={"name": "Dewi Lestari", "email": "  Dewi@Example.TEST ", "password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/sign-up/check-email")
    user = db.session.scalar(sa.select(User).where(User.email == "dewi@example.test"))
    assert user is not None and user.email_verified_at is None
    assert user.password_hash != NEW_PASSWORD
    assert [e.object_id for e in audit("core.user.signed_up")] == [str(user.id)]

    [message] = outbox(app)
    assert message["To"] == "dewi@example.test"
    link = link_in(message, "/verify-email/")
    assert link in message.get_body(("html",)).get_content()

    refused = sign_in(client, "dewi@example.test", NEW_PASSWORD)
    assert refused.status_code == 403
    assert b"Send the link again" in refused.data
    assert not signed_in(client)

    verified = client.get(link)
    assert verified.status_code == 302
    assert reload(user).email_verified_at is not None
    assert len(audit("core.user.email_verified")) == 1
    assert client.get(link).status_code == 302  # a second click is harmless
    assert len(audit("core.user.email_verified")) == 1

    response = sign_in(client, "DEWI@example.test", NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in(client)
    assert reload(user).last_login_at is not None
    [line] = audit("core.user.signed_in")
    assert line.actor_id == user.id


def test_sign_up_form_errors_keep_values_but_not_password(client):
    response = client.post(
        "/sign-up", data={"name": "Budi", "email": "not-an-email", "password": "short"}
    )
    assert response.status_code == 422
    page = response.data.decode()
    assert 'class="error-summary"' in page
    assert 'href="#email"' in page and 'href="#password"' in page
    assert 'value="Budi"' in page and 'value="not-an-email"' in page
    assert "short" not in page.replace("shortly", "")
    assert 'aria-invalid="true"' in page

    same = client.post(
        "/sign-up",
        data={
            "name": "Budi",
            "email": "budi.santoso@example.test",
            "password": "Budi.Santoso@example.test",
        },
    )
    assert same.status_code == 422
    assert b"not your email address" in same.data
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_empty_forms_point_at_each_field(client):
    for path, fields in (
        ("/sign-in", ("email", "password")),
        ("/sign-up", ("name", "email", "password")),
    ):
        response = client.post(path, data={})
        assert response.status_code == 422
        for field in fields:
            assert f'href="#{field}"'.encode() in response.data, (path, field)
        assert b"The email or password is not right." not in response.data
    assert audit("core.user.sign_in_failed") == []


def test_sign_up_with_a_taken_email_says_so(app, client, create_user):
    create_user("taken@example.test")
    response = client.post(
        "/sign-up", data={"name": "X", "email": "Taken@Example.test", "password": NEW_PASSWORD}
    )
    assert response.status_code == 422
    assert b"already exists" in response.data
    assert outbox(app) == []


def test_verification_link_tampered_or_expired_is_refused(app, client, create_user, monkeypatch):
    from itsdangerous import TimestampSigner

    from core.auth import services

    user = create_user(verified=False)
    with app.test_request_context():
        services.send_verification_email(user)
        db.session.commit()
    good = link_in(outbox(app)[-1], "/verify-email/")
    tampered = client.get(good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"))
    assert tampered.status_code == 400
    assert reload(user).email_verified_at is None

    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 4 * 24 * 3600)
    with app.test_request_context():
        services.send_verification_email(user)
        db.session.commit()
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    old = link_in(outbox(app)[-1], "/verify-email/")
    response = client.get(old)
    assert response.status_code == 400
    assert b"expired" in response.data
    assert reload(user).email_verified_at is None
    assert client.get(good).status_code == 302
    assert reload(user).email_verified_at is not None


def test_resend_verification_answers_the_same_for_anyone(app, client, create_user):
    create_user("waiting@example.test", verified=False)
    create_user("done@example.test")
    pages = []
    for address in ("waiting@example.test", "nobody@example.test", "done@example.test"):
        response = client.post("/verify-email/resend", data={"email": address})
        assert response.status_code == 302
        pages.append(without_tokens(client.get(response.headers["Location"]).data))
    assert len(outbox(app)) == 1
    assert outbox(app)[0]["To"] == "waiting@example.test"
    # the page only ever echoes what was typed
    assert pages[1].replace(b"nobody", b"waiting") == pages[0]


# --- sign-in --------------------------------------------------------------------------------


def test_wrong_password_and_unknown_email_get_the_same_answer(client, create_user):
    user = create_user("known@example.test")
    wrong = sign_in(client, "known@example.test", "not the password at all")
    unknown = sign_in(client, "unknown@example.test", "not the password at all")
    assert wrong.status_code == unknown.status_code == 422
    assert b"The email or password is not right." in wrong.data
    assert without_tokens(wrong.data).replace(b"known@", b"X@") == without_tokens(
        unknown.data
    ).replace(b"unknown@", b"X@")
    assert not signed_in(client)
    lines = audit("core.user.sign_in_failed")
    assert [line.data["reason"] for line in lines] == ["wrong_password", "unknown_email"]
    assert lines[0].object_id == str(user.id) and lines[1].object_id is None
    for line in lines:
        assert "not the password" not in str(line.data)
    assert reload(user).last_login_at is None


def test_unknown_email_costs_one_hash_check_like_a_wrong_password(client, create_user, monkeypatch):
    from core.auth import passwords

    calls = []
    real = passwords._hasher

    class Counting:  # PasswordHasher has slots: wrap it instead of patching a method
        def verify(self, stored, password):
            calls.append(stored)
            return real.verify(stored, password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(passwords, "_hasher", Counting())
    user = create_user()
    sign_in(client, user.email, "not the password at all")
    sign_in(client, "nobody@example.test", "not the password at all")
    assert len(calls) == 2
    assert calls[0] == user.password_hash
    assert calls[1] == passwords._DUMMY  # a real argon2 hash with the same parameters
    assert not needs_rehash(passwords._DUMMY)


def test_password_pasted_into_the_email_field_is_not_audited(client):
    sign_in(client, "my secret passphrase", "x")
    [line] = audit("core.user.sign_in_failed")
    assert line.data["email"] is None


def test_old_hash_parameters_are_upgraded_at_sign_in(client, create_user):
    cheap = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    user = create_user()
    user.password_hash = cheap
    db.session.commit()
    assert needs_rehash(cheap)
    assert sign_in(client, user.email).status_code == 302
    stored = reload(user).password_hash
    assert stored != cheap and not needs_rehash(stored)
    client.post("/sign-out")
    assert sign_in(client, user.email).status_code == 302


def test_sign_in_starts_a_new_session(client, create_user):
    user = create_user()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    sign_in(client, user.email)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == f"{user.id}:{user.session_version}"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account", "/account"),
        ("/o/acme/?tab=1", "/o/acme/?tab=1"),
        ("https://evil.test/", "/"),
        ("//evil.test/path", "/"),
        ("/\\evil.test", "/"),
        ("javascript:alert(1)", "/"),
        ("/\t/evil.test", "/"),
    ],
)
def test_sign_in_follows_next_only_to_this_site(client, create_user, target, expected):
    user = create_user()
    response = sign_in(client, user.email, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_safe_next_rules():
    assert safe_next("/a/b?c=d") == "/a/b?c=d"
    for bad in (None, "", "a/b", "//x", "/\\x", "http://x/", "/x\r\nSet-Cookie: a=b", "\x00/"):
        assert safe_next(bad) is None


def test_protected_page_sends_to_sign_in_and_back(client, create_user):
    user = create_user()
    response = client.get("/account")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/sign-in?next=")
    form = client.get(location)
    assert b'name="next" value="/account"' in form.data
    done = sign_in(client, user.email, next="/account")
    assert done.headers["Location"] == "/account"


def test_disabled_account_cannot_sign_in(client, create_user):
    user = create_user(disabled_at=utcnow())
    response = sign_in(client, user.email)
    assert response.status_code == 403
    assert b"disabled" in response.data
    assert not signed_in(client)


# --- throttling ---------------------------------------------------------------------------


def test_sign_in_is_throttled_per_email(limited, app, client, create_user):
    user = create_user()
    for _ in range(5):
        assert sign_in(client, user.email, "wrong password!").status_code == 422
    blocked = sign_in(client, user.email)  # even the right password waits now
    assert blocked.status_code == 429
    assert b"Too many attempts" in blocked.data
    assert b"Traceback" not in blocked.data
    assert blocked.mimetype == "text/html"
    assert not signed_in(client)
    # another account from the same address is not blocked by this one's limit
    other = create_user()
    assert sign_in(client, other.email).status_code == 302


@pytest.fixture
def low_ip_limit(limited):
    limited["AUTH_LIMIT_SIGN_IN_IP"] = "3/minute"  # the setting operators would use


def test_sign_in_is_throttled_per_address(low_ip_limit, client, create_user):
    for n in range(3):
        assert sign_in(client, f"guess{n}@example.test", "wrong password!").status_code == 422
    assert sign_in(client, "guess9@example.test", "wrong password!").status_code == 429
    # another client address is not affected
    fresh = client.post(
        "/sign-in",
        data={"email": "guess9@example.test", "password": "x"},
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert fresh.status_code == 422


def test_resending_the_link_is_throttled_per_email(limited, app, client, create_user):
    user = create_user(verified=False)
    for _ in range(3):
        assert client.post("/verify-email/resend", data={"email": user.email}).status_code == 302
    blocked = client.post("/verify-email/resend", data={"email": user.email.upper()})
    assert blocked.status_code == 429
    assert blocked.headers.get("Retry-After")
    assert len(outbox(app)) == 3


# --- sessions -------------------------------------------------------------------------------


def test_sign_out_ends_the_session_on_every_device(app, create_user, login):
    from tests.conftest import IsolatedClient

    app.test_client_class = IsolatedClient
    phone, laptop = app.test_client(), app.test_client()
    user = create_user()
    assert sign_in(phone, user.email).status_code == 302
    assert sign_in(laptop, user.email).status_code == 302
    assert signed_in(phone) and signed_in(laptop)
    response = phone.post("/sign-out")
    assert response.status_code == 302
    assert not signed_in(phone)
    assert not signed_in(laptop)
    assert reload(user).session_version == 2
    assert len(audit("core.user.signed_out")) == 1


def test_sign_out_needs_post(client, create_user, login):
    user = create_user()
    login(client, user)
    assert client.get("/sign-out").status_code == 405
    assert signed_in(client)


def test_disabled_user_session_dies(client, create_user, login):
    user = create_user()
    login(client, user)
    assert signed_in(client)
    user.disabled_at = utcnow()
    db.session.commit()
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_password_change_keeps_this_device_and_ends_the_others(app, create_user, login):
    from tests.conftest import IsolatedClient

    app.test_client_class = IsolatedClient
    here, there = app.test_client(), app.test_client()
    user = create_user()
    login(here, user)
    login(there, user)
    wrong = here.post(
        "/account/password",
        data={"current_password": "not it at all", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert b"The password is not right." in wrong.data
    short = here.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 422
    assert b"12 characters" in short.data
    response = here.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert signed_in(here)
    assert not signed_in(there)
    assert len(audit("core.user.password_changed")) == 1
    here.post("/sign-out")
    assert sign_in(here, user.email, PASSWORD).status_code == 422
    assert sign_in(here, user.email, NEW_PASSWORD).status_code == 302


def test_language_is_saved_on_the_account(client, create_user, login):
    user = create_user()
    login(client, user)
    response = client.post("/account/language", data={"locale": "en"})
    assert response.status_code == 302
    assert "lang=en" in response.headers["Set-Cookie"]
    assert reload(user).locale == "en"
    assert client.post("/account/language", data={"locale": "fr"}).status_code == 422
    assert reload(user).locale == "en"


# --- CSRF ---------------------------------------------------------------------------------


@pytest.fixture
def csrf_on(app_config):
    app_config["WTF_CSRF_ENABLED"] = True


def test_post_without_csrf_token_asks_to_reload(csrf_on, client, create_user):
    client.auto_csrf = False
    user = create_user()
    response = sign_in(client, user.email)
    assert response.status_code == 400
    assert b"reload the page" in response.data
    assert b"Traceback" not in response.data
    assert not signed_in(client)
    # with the token from the form, the same post works
    form = client.get("/sign-in").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert sign_in(client, user.email, csrf_token=token).status_code == 302


def test_sign_up_keeps_where_the_person_was_going(app, client):
    client.post(
        "/sign-up?next=/o/new-clinic/setup",
        data={"name": "Sari", "email": "sari@example.test", "password": NEW_PASSWORD},
    )
    response = client.get(link_in(outbox(app)[0], "/verify-email/"))
    assert response.headers["Location"] == "/sign-in?next=/o/new-clinic/setup"
    done = sign_in(client, "sari@example.test", NEW_PASSWORD, next="/o/new-clinic/setup")
    assert done.headers["Location"] == "/o/new-clinic/setup"
