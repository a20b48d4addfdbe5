"""Mail through the outbox, end to end against a real SMTP server on loopback (aiosmtpd).

Every test runs on SQLite and on PostgreSQL (as a role without BYPASSRLS). The
template is a test-only one, registered through a test blueprint.
"""

from __future__ import annotations

import datetime as dt
import email
import logging
import smtplib
import threading
import uuid
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from fakeredis import FakeRedis
from flask import Blueprint
from rq import SimpleWorker

from core import jobs
from core.db import utcnow
from core.extensions import db
from core.jobs import get_queue
from core.mail import render_message
from core.mail import send_mail
from core.mail import sweep_outbox
from core.models import OutboxMessage
from core.models import OutboxStatus
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from tests.mail_support import Inbox
from tests.mail_support import SMTPServer
from tests.mail_support import free_port

mail_templates = Blueprint("mail_test_templates", __name__, template_folder="templates")


@mail_templates.route("/test-mail/send", methods=["POST"])
def send_hello_view():
    """A view that sends mail, as a sign-up does: the app commits at the edge."""
    return {"outbox_id": str(hello().id)}


@pytest.fixture
def smtp():
    server = SMTPServer()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app):
    app.register_blueprint(mail_templates)
    yield app
    jobs.set_worker_app(None)


def outbox_rows() -> list[OutboxMessage]:
    with cross_tenant(Scope.SYSTEM):
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.created_at))
        rows = list(rows)
    return rows


def fresh_row(outbox_id) -> OutboxMessage:
    db.session.expire_all()
    with cross_tenant(Scope.SYSTEM):
        return db.session.get(OutboxMessage, outbox_id)


def deliver_as_job(app, outbox_id) -> bool:
    """Run the delivery job as a worker would: own app context, SYSTEM scope, commit."""
    with app.app_context():
        return jobs.execute(
            "core.mail.deliver_outbox_message", None, "system", {"outbox_id": str(outbox_id)}
        )


def make_due(outbox_id) -> None:
    """Let time pass: the back-off of a failed attempt is over."""
    with cross_tenant(Scope.SYSTEM):
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(due_at=utcnow() - dt.timedelta(seconds=1))
        )
    db.session.commit()


def sweep() -> int:
    with cross_tenant(Scope.SYSTEM):
        count = sweep_outbox()
    db.session.commit()  # releases the delivery jobs
    return count


def hello(recipient="siti@example.test", **kwargs) -> OutboxMessage:
    return send_mail(recipient, "test/hello", {"name": "Siti", "code": "4711"}, **kwargs)


# --- SMTP -----------------------------------------------------------------------------


def test_smtp_delivery_html_and_text_with_stable_message_id(mail_app, smtp, create_tenant):
    smtp.start()
    mail_app.config["MAIL_URL"] = smtp.url
    tenant = create_tenant()
    with tenant_context(tenant):
        message = hello(locale="en")
        outbox_id = message.id
    db.session.commit()  # in-process (no Redis): delivered right after the commit

    assert len(smtp.inbox.received) == 1
    mail_from, rcpt_tos, _ = smtp.inbox.received[0]
    assert mail_from == "no-reply@sentra.local"
    assert rcpt_tos == ["siti@example.test"]
    received = smtp.inbox.messages()[0]
    assert received["Subject"] == "Hello Siti"
    assert received["Message-ID"] == f"<{outbox_id}@sentra.local>"
    assert received.get_content_type() == "multipart/alternative"
    assert "your code is 4711." in received.get_body(("plain",)).get_content()
    assert "<code>4711</code>" in received.get_body(("html",)).get_content()

    row = fresh_row(outbox_id)
    assert row.status == OutboxStatus.SENT
    assert row.tenant_id == tenant.id
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None
    db.session.commit()

    # A retry would send exactly the same message (same Message-ID and Date).
    with cross_tenant(Scope.SYSTEM):
        again = render_message(db.session.get(OutboxMessage, outbox_id))
    assert again["Message-ID"] == received["Message-ID"]
    assert again["Date"] == received["Date"]


def test_delivering_the_same_message_twice_sends_it_once(mail_app, smtp):
    smtp.start()
    mail_app.config["MAIL_URL"] = smtp.url
    outbox_id = hello().id
    db.session.commit()
    assert len(smtp.inbox.received) == 1
    assert deliver_as_job(mail_app, outbox_id) is False
    make_due(outbox_id)  # even once its lease is over, a sent message stays sent
    assert deliver_as_job(mail_app, outbox_id) is False
    assert sweep() == 0
    assert len(smtp.inbox.received) == 1


def test_two_concurrent_deliveries_send_once(mail_app, smtp):
    """Two workers run the job for one id at the same moment: one claims it, one finds
    nothing (on PostgreSQL the second UPDATE waits for the first and re-checks the row)."""
    smtp.start()
    smtp.inbox.delay = 0.3
    mail_app.config.update(MAIL_URL=smtp.url, REDIS_URL="redis://fake/0")
    mail_app.extensions["sentra_rq"] = {"redis": FakeRedis()}  # the job waits in a queue
    outbox_id = hello().id
    db.session.commit()
    assert smtp.inbox.received == []

    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait(timeout=5)
            results.append(deliver_as_job(mail_app, outbox_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == [False, True]
    assert len(smtp.inbox.received) == 1

    # And the queued job, when a worker finally runs it, sends nothing more.
    jobs.set_worker_app(mail_app)
    queue = get_queue(mail_app)
    assert queue.job_ids == [f"outbox-{outbox_id}"]
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert queue.fetch_job(f"outbox-{outbox_id}").return_value() is False
    assert len(smtp.inbox.received) == 1
    assert fresh_row(outbox_id).status == OutboxStatus.SENT


def test_smtp_down_backs_off_then_the_sweeper_sends(mail_app, smtp, caplog):
    mail_app.config["MAIL_URL"] = smtp.url  # nothing listens there yet
    with caplog.at_level(logging.WARNING, logger="core.mail"):
        outbox_id = hello().id
        db.session.commit()
    assert "mail delivery failed" in caplog.text

    row = fresh_row(outbox_id)
    assert row.status == OutboxStatus.PENDING
    assert row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    wait = (row.due_at - utcnow()).total_seconds()
    assert 50 < wait <= 60  # first back-off: one minute
    db.session.commit()
    assert sweep() == 0  # not due yet

    make_due(outbox_id)
    assert sweep() == 1  # still down: a second attempt, a longer back-off
    row = fresh_row(outbox_id)
    assert row.attempts == 2 and row.status == OutboxStatus.PENDING
    assert 110 < (row.due_at - utcnow()).total_seconds() <= 120
    db.session.commit()

    smtp.start()
    make_due(outbox_id)
    assert sweep() == 1
    row = fresh_row(outbox_id)
    assert row.status == OutboxStatus.SENT
    assert row.attempts == 3 and row.last_error is None
    db.session.commit()
    assert len(smtp.inbox.received) == 1
    assert smtp.inbox.messages()[0]["Message-ID"] == f"<{outbox_id}@sentra.local>"
    make_due(outbox_id)
    assert sweep() == 0


def test_gives_up_after_the_last_attempt(mail_app, smtp, monkeypatch):
    monkeypatch.setattr("core.mail.MAX_ATTEMPTS", 2)
    mail_app.config["MAIL_URL"] = smtp.url  # down for good
    outbox_id = hello().id
    db.session.commit()
    make_due(outbox_id)
    assert sweep() == 1
    row = fresh_row(outbox_id)
    assert row.status == OutboxStatus.FAILED and row.attempts == 2
    db.session.commit()
    make_due(outbox_id)
    assert sweep() == 0


def test_redis_down_at_send_time_then_the_sweeper_catches_up(mail_app, client, smtp, caplog):
    smtp.start()
    mail_app.config.update(MAIL_URL=smtp.url, REDIS_URL="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.ERROR, logger="core.jobs"):
        response = client.post("/test-mail/send")
    assert response.status_code == 200  # the request succeeds and its commit stands
    outbox_id = uuid.UUID(response.json["outbox_id"])
    assert "Redis unavailable" in caplog.text  # the enqueue failed and was logged
    assert fresh_row(outbox_id).status == OutboxStatus.PENDING
    db.session.commit()
    assert smtp.inbox.received == []

    # Redis is back (here: an in-memory one); the periodic sweep re-enqueues the message.
    mail_app.extensions["sentra_rq"] = {"redis": FakeRedis()}
    jobs.set_worker_app(mail_app)
    assert sweep() == 1
    assert sweep() == 1  # a second sweeper in the same minute: the same job id, dropped
    queue = get_queue(mail_app)
    assert len(queue.job_ids) == 1 and queue.job_ids[0].startswith(f"outbox-{outbox_id}-s")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert len(smtp.inbox.received) == 1
    assert fresh_row(outbox_id).status == OutboxStatus.SENT


# --- the file backend, rollback, the scheduler ----------------------------------------


def test_file_backend_writes_eml_and_logs_its_path(mail_app, caplog):
    outdir = Path(mail_app.config["MAIL_URL"].removeprefix("file://"))
    with caplog.at_level(logging.INFO, logger="core.mail"):
        outbox_id = hello(locale="en").id
        db.session.commit()
    files = sorted(outdir.glob("*.eml"))
    assert len(files) == 1
    assert str(outbox_id) in files[0].name
    assert [p.name for p in outdir.iterdir()] == [files[0].name]  # no temporary file left
    record = next(r for r in caplog.records if r.name == "core.mail" and hasattr(r, "path"))
    assert record.path == str(files[0])
    assert files[0].as_uri() in record.getMessage()
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == "siti@example.test"
    assert "4711" in parsed.get_body(("plain",)).get_content()
    assert "<strong>Siti</strong>" in parsed.get_body(("html",)).get_content()
    assert fresh_row(outbox_id).status == OutboxStatus.SENT


def test_mail_of_a_rolled_back_transaction_is_never_sent(mail_app, smtp):
    smtp.start()
    mail_app.config["MAIL_URL"] = smtp.url
    hello()
    db.session.rollback()
    db.session.commit()
    assert outbox_rows() == []
    assert sweep() == 0
    assert smtp.inbox.received == []


def lost_message() -> None:
    """A message whose delivery job was lost (say Redis was down when it was written)."""
    with cross_tenant(Scope.SYSTEM):
        db.session.add(
            OutboxMessage(
                template="test/hello",
                recipient="budi@example.test",
                locale="en",
                context={"name": "Budi", "code": "1"},
            )
        )
        db.session.flush()
    db.session.commit()


@pytest.mark.parametrize("command", [["scheduler", "--once"], ["sweep-outbox"]])
def test_scheduler_and_sweep_command_deliver_lost_mail(mail_app, runner, command):
    lost_message()
    outdir = Path(mail_app.config["MAIL_URL"].removeprefix("file://"))
    assert not outdir.exists() or not list(outdir.glob("*.eml"))
    result = runner.invoke(args=["sentra", *command])
    assert result.exit_code == 0, result.output
    expected = "periodic-outbox-sweep-" if command[0] == "scheduler" else "Re-enqueued 1 message"
    assert expected in result.output
    assert len(list(outdir.glob("*.eml"))) == 1
    assert [r.status for r in outbox_rows()] == [OutboxStatus.SENT]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtp_login_and_loopback_detection():
    from aiosmtpd.smtp import AuthResult
    from aiosmtpd.smtp import LoginPassword

    from core.mail import SMTPBackend

    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret p@ss")

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        message = email.message.EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.test", "b@x.test", "hi"
        message.set_content("hello")
        with pytest.raises(smtplib.SMTPException):
            SMTPBackend(f"smtp://127.0.0.1:{port}").send(message)  # no credentials
        SMTPBackend(f"smtp://mailer:s3cret%20p%40ss@127.0.0.1:{port}").send(message)
    finally:
        controller.stop()
    assert logins == [(b"mailer", b"s3cret p@ss")]
    assert len(inbox.received) == 1

    assert SMTPBackend("smtp://u:p@localhost:25")._loopback()
    assert not SMTPBackend("smtp://u:p@mail.example.test:25")._loopback()
    assert not SMTPBackend("smtp://u:p@192.0.2.1:25")._loopback()
