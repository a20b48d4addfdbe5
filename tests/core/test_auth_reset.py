"""Password reset: same answer for anyone, a link that works once and expires."""

from __future__ import annotations

from itsdangerous import TimestampSigner

from core.auth.passwords import verify_password
from core.db import utcnow
from tests.core.test_auth import NEW_PASSWORD
from tests.core.test_auth import audit
from tests.core.test_auth import fresh_limits  # noqa: F401 (autouse)
from tests.core.test_auth import link_in
from tests.core.test_auth import outbox
from tests.core.test_auth import reload
from tests.core.test_auth import sign_in
from tests.core.test_auth import signed_in
from tests.fixtures import PASSWORD


def request_reset(client, address: str):
    return client.post("/reset-password", data={"email": address})


def test_request_answers_the_same_whether_or_not_the_account_exists(app, client, create_user):
    create_user("real@example.test")
    known = request_reset(client, "Real@Example.test")
    unknown = request_reset(client, "ghost@example.test")
    assert known.status_code == unknown.status_code == 200
    assert known.data.replace(b"real@", b"X@") == unknown.data.replace(b"ghost@", b"X@")
    [message] = outbox(app)
    assert message["To"] == "real@example.test"
    assert "/reset-password/" in message.get_body(("plain",)).get_content()
    invalid = request_reset(client, "")
    assert invalid.status_code == 422


def test_reset_link_works_once_and_signs_out_everywhere(app, client, create_user, login):
    from tests.conftest import IsolatedClient

    user = create_user()
    app.test_client_class = IsolatedClient
    other_device = app.test_client()
    login(other_device, user)
    request_reset(client, user.email)
    link = link_in(outbox(app)[0], "/reset-password/")

    form = client.get(link)
    assert form.status_code == 200
    assert b"Choose a new password" in form.data
    weak = client.post(link, data={"password": "too short"})
    assert weak.status_code == 422
    assert b"12 characters" in weak.data
    same_as_email = client.post(link, data={"password": user.email.upper()})
    assert same_as_email.status_code == 422

    done = client.post(link, data={"password": NEW_PASSWORD})
    assert done.status_code == 302
    assert done.headers["Location"] == "/sign-in"
    assert verify_password(reload(user).password_hash, NEW_PASSWORD)
    assert not signed_in(other_device)
    assert len(audit("core.user.password_reset")) == 1

    again = client.get(link)
    assert again.status_code == 400
    assert b"already used" in again.data
    reuse = client.post(link, data={"password": "yet another long passphrase"})
    assert reuse.status_code == 400
    assert verify_password(reload(user).password_hash, NEW_PASSWORD)

    assert sign_in(client, user.email, PASSWORD).status_code == 422
    assert sign_in(client, user.email, NEW_PASSWORD).status_code == 302


def test_reset_link_expires_after_an_hour(app, client, create_user, monkeypatch):
    user = create_user()
    real = TimestampSigner.get_timestamp
    # the link was made 61 minutes ago
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 61 * 60)
    request_reset(client, user.email)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    old = link_in(outbox(app)[0], "/reset-password/")
    response = client.get(old)
    assert response.status_code == 400
    assert b"expired" in response.data
    assert client.post(old, data={"password": NEW_PASSWORD}).status_code == 400
    assert verify_password(reload(user).password_hash, PASSWORD)

    # one made 59 minutes ago still works
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 59 * 60)
    request_reset(client, user.email)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    recent = link_in(outbox(app)[1], "/reset-password/")
    assert client.get(recent).status_code == 200


def test_reset_link_of_another_purpose_or_tampered_is_refused(app, client, create_user):
    user = create_user(verified=False)
    client.post("/verify-email/resend", data={"email": user.email})
    verify_link = link_in(outbox(app)[0], "/verify-email/")
    token = verify_link.rsplit("/", 1)[1]
    assert client.get(f"/reset-password/{token}").status_code == 400  # salt per purpose
    assert client.get("/reset-password/not-a-token").status_code == 400


def test_reset_verifies_the_email_and_skips_disabled_accounts(app, client, create_user):
    waiting = create_user(verified=False)
    request_reset(client, waiting.email)
    link = link_in(outbox(app)[0], "/reset-password/")
    assert client.post(link, data={"password": NEW_PASSWORD}).status_code == 302
    assert reload(waiting).email_verified_at is not None

    disabled = create_user(disabled_at=utcnow())
    request_reset(client, disabled.email)
    assert len(outbox(app)) == 1
