"""Email through the outbox: written with the state change, delivered after commit, once.

``send_mail()`` adds an :class:`~core.models.OutboxMessage` to the session and
enqueues ``deliver_outbox_message`` for after the commit. Delivery claims the row by
pushing its ``due_at`` forward (a lease) in its own committed transaction, sends,
then marks it sent; a second copy of the job finds nothing to claim. If Redis or
SMTP is down, the message waits and :func:`sweep_outbox` re-enqueues it.

That is exactly once for every failure but one: a worker that dies after the SMTP
server accepted the message and before the row says so sends it again once the lease
ends. The Message-ID (the outbox id) and Date are the same on every attempt, so the
receiving side can recognise the copy.

Files (an inline image referenced as ``cid:``, a calendar attachment) are not stored
in the outbox: a package registers a builder for its template with
:func:`register_parts`, and the builder makes them from the stored context at
render time, the same bytes on every attempt.

Backends: ``file://dir`` writes ``.eml`` files (the embedded default, a link is
logged so a developer can click it) and ``smtp://host:port`` / ``smtps://`` sends.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import smtplib
import ssl
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote
from urllib.parse import urlparse

import sqlalchemy as sa
from flask import current_app
from flask import render_template
from flask_babel import force_locale

from core.db import utcnow
from core.extensions import db
from core.jobs import enqueue
from core.models import OutboxMessage
from core.models import OutboxStatus
from core.tenancy import Scope
from core.tenancy import current_tenant_id

log = logging.getLogger(__name__)

#: how long a delivery attempt holds its claim before the sweeper may retry it
LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class MailPart:
    """A file sent with a message: inline when ``cid`` is set (the HTML shows it as
    ``<img src="cid:{cid}">``), an attachment otherwise."""

    data: bytes
    mimetype: str  # e.g. "image/png", "text/calendar"
    filename: str
    cid: str | None = None


#: template name → builder(context) → parts; registered by feature packages at import
PART_BUILDERS: dict[str, Callable[[dict], list[MailPart]]] = {}


def register_parts(template: str, builder: Callable[[dict], list[MailPart]]) -> None:
    """Make ``builder`` add files to every message rendered from ``template``. It is
    called at render time, in the message's locale, with the stored context."""
    PART_BUILDERS[template] = builder


def send_mail(
    recipient: str,
    template: str,
    context: dict,
    *,
    locale: str = "id",
    tenant_id: uuid.UUID | None = None,
) -> OutboxMessage:
    """Queue an email rendered from ``templates/mail/<template>.{txt,html}``.

    ``context`` must be JSON-serialisable (ids and strings, not objects): it is stored
    and rendered later by the delivery job.
    """
    message = OutboxMessage(
        tenant_id=tenant_id or current_tenant_id(),
        template=template,
        recipient=recipient,
        locale=locale,
        context=context,
    )
    db.session.add(message)
    db.session.flush()
    # The outbox is swept across tenants, so its jobs run in the SYSTEM scope.
    enqueue(
        "core.mail.deliver_outbox_message",
        scope=Scope.SYSTEM,
        job_id=f"outbox-{message.id}",
        outbox_id=str(message.id),
    )
    return message


def deliver_outbox_message(outbox_id: str) -> bool:
    """Job: send one outbox message if it is still pending and unclaimed. True if sent."""
    now = utcnow()
    table = OutboxMessage.__table__
    claimed = db.session.execute(
        sa.update(table)
        .where(
            table.c.id == uuid.UUID(outbox_id),
            table.c.status == OutboxStatus.PENDING.value,
            table.c.due_at <= now,
        )
        .values(due_at=now + LEASE, attempts=table.c.attempts + 1)
        .returning(table.c.id)
    ).first()
    db.session.commit()  # the claim must be visible before we send
    if claimed is None:
        return False
    message = db.session.get(OutboxMessage, uuid.UUID(outbox_id))
    try:
        get_backend().send(render_message(message))
    except Exception as exc:
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if message.attempts >= MAX_ATTEMPTS:
            message.status = OutboxStatus.FAILED
        else:  # back off: 1, 2, 4 … minutes
            message.due_at = utcnow() + dt.timedelta(minutes=2 ** (message.attempts - 1))
        db.session.commit()
        log.warning(
            "mail delivery failed", extra={"outbox_id": outbox_id, "error": message.last_error}
        )
        return False
    message.status = OutboxStatus.SENT
    message.sent_at = utcnow()
    message.last_error = None
    db.session.commit()
    return True


def sweep_outbox(limit: int = 500) -> int:
    """Periodic job: re-enqueue pending messages that are due (Redis was down, a worker died)."""
    due = db.session.scalars(
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= utcnow())
        .order_by(OutboxMessage.due_at)
        .limit(limit)
    ).all()
    # One job id per message and sweep minute: two sweepers in the same minute enqueue it
    # once, and an old job (finished, or failed before its claim) never blocks a retry.
    # Copies queued behind a slow worker are harmless: only one of them can claim the row.
    minute = int(utcnow().timestamp()) // 60
    for outbox_id in due:
        enqueue(
            "core.mail.deliver_outbox_message",
            scope=Scope.SYSTEM,
            job_id=f"outbox-{outbox_id}-s{minute}",
            outbox_id=str(outbox_id),
        )
    return len(due)


def render_message(message: OutboxMessage) -> EmailMessage:
    """Build the MIME message: plain text and HTML from the same context, in its locale."""
    ctx = dict(
        message.context, recipient=message.recipient, base_url=current_app.config["BASE_URL"]
    )
    # Render in a request for BASE_URL, as a worker has none: templates may then use
    # url_for(..., _external=True) and the app's context processors, which read the request.
    with (
        current_app.test_request_context("/", base_url=current_app.config["BASE_URL"]),
        force_locale(message.locale),
    ):
        subject = render_template(f"mail/{message.template}.subject.txt", **ctx).strip()
        text = render_template(f"mail/{message.template}.txt", **ctx)
        html = render_template(f"mail/{message.template}.html", **ctx)
        builder = PART_BUILDERS.get(message.template)
        parts = builder(ctx) if builder else []
    email = EmailMessage()
    email["Subject"] = subject
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.recipient
    # Date and Message-ID come from the row, so every retry sends the same message and a
    # receiving server (or the reader's client) can recognise a duplicate.
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message_id(message.id)
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    _add_parts(email, parts)
    return email


def _add_parts(email: EmailMessage, parts: list[MailPart]) -> None:
    """Inline parts go into a multipart/related around the HTML; attachments make the
    whole message multipart/mixed (what mail clients expect of both)."""
    html = email.get_payload()[1]
    for part in parts:
        maintype, subtype = part.mimetype.split("/", 1)
        if part.cid:
            html.add_related(
                part.data,
                maintype,
                subtype,
                cid=f"<{part.cid}>",
                disposition="inline",
                filename=part.filename,
            )
    for part in parts:
        maintype, subtype = part.mimetype.split("/", 1)
        if not part.cid:
            email.add_attachment(part.data, maintype, subtype, filename=part.filename)


def message_id(outbox_id: uuid.UUID) -> str:
    """The Message-ID of an outbox message: its id at the sender's domain."""
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "sentra.local"
    return f"<{outbox_id}@{domain}>"


class FileBackend:
    """Writes each message to ``<dir>/<timestamp>-<id>.eml`` (the embedded default)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def send(self, email: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        msgid = email["Message-ID"].strip("<>").split("@")[0]
        stamp = utcnow().strftime("%Y%m%dT%H%M%S")
        path = self.directory / f"{stamp}-{msgid}.eml"
        # Write then rename, so nobody opens a half-written file.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(bytes(email))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        log.info(
            "mail written to %s",
            path.as_uri(),
            extra={"path": str(path), "to": email["To"], "subject": email["Subject"]},
        )


class SMTPBackend:
    """Sends through an SMTP server: ``smtp://user:pass@host:port`` (STARTTLS when offered)."""

    def __init__(self, url: str):
        parsed = urlparse(url)
        self.ssl = parsed.scheme == "smtps"
        self.host = parsed.hostname or "localhost"
        self.port = parsed.port or (465 if self.ssl else 25)
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None

    def send(self, email: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=20, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=20)
        with smtp:
            encrypted = self.ssl
            if not self.ssl:
                smtp.ehlo()  # has_extn() knows nothing before EHLO
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                    encrypted = True
            if self.username:
                if not encrypted and not self._loopback():
                    raise smtplib.SMTPException(
                        f"{self.host} offers no TLS; refusing to send the SMTP password in clear"
                    )
                smtp.login(self.username, self.password or "")
            smtp.send_message(email)

    def _loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def get_backend() -> FileBackend | SMTPBackend:
    """The backend named by MAIL_URL."""
    url = current_app.config["MAIL_URL"]
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileBackend(Path(unquote(parsed.path)))
    return SMTPBackend(url)
