"""Files sent with a message: an inline image the HTML shows by ``cid:``, and an
attachment, both made at render time by the builder registered for the template."""

from __future__ import annotations

import email
import uuid
from email import policy

import pytest
from flask import Blueprint

from core import mail
from core.db import utcnow
from core.mail import MailPart
from core.mail import render_message
from core.models import OutboxMessage

templates = Blueprint("mail_parts_templates", __name__, template_folder="templates")


@pytest.fixture
def parts_app(app, monkeypatch):
    app.register_blueprint(templates)
    calls = []

    def builder(context):
        calls.append(context)
        return [
            MailPart(b"\x89PNG-not-really", "image/png", "qr.png", cid="qr@test"),
            MailPart(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar", "visit.ics"),
        ]

    monkeypatch.setitem(mail.PART_BUILDERS, "test/hello", builder)
    yield calls


def test_builder_adds_inline_image_and_attachment(app, parts_app):
    message = OutboxMessage(
        id=uuid.uuid4(),
        template="test/hello",
        recipient="siti@example.test",
        locale="en",
        context={"name": "Siti", "code": "4711"},
        created_at=utcnow(),
    )
    with app.app_context():
        raw = bytes(render_message(message))
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    alternative = parsed.get_payload()[0]
    assert alternative.get_content_type() == "multipart/alternative"
    text, related = alternative.get_payload()
    assert text.get_content_type() == "text/plain" and "4711" in text.get_content()
    assert related.get_content_type() == "multipart/related"
    html, image = related.get_payload()
    assert html.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    assert image["Content-ID"] == "<qr@test>" and image.get_content_disposition() == "inline"
    assert image.get_content() == b"\x89PNG-not-really"
    attachments = list(parsed.iter_attachments())
    assert [(a.get_content_type(), a.get_filename()) for a in attachments] == [
        ("text/calendar", "visit.ics")
    ]
    assert parts_app[0]["code"] == "4711"  # built from the stored context


def test_templates_without_a_builder_stay_plain_alternative(app):
    message = OutboxMessage(
        id=uuid.uuid4(),
        template="core/verify_email",
        recipient="siti@example.test",
        locale="id",
        context={"name": "Siti", "url": "https://example.test/x"},
        created_at=utcnow(),
    )
    with app.app_context():
        parsed = render_message(message)
    assert parsed.get_content_type() == "multipart/alternative"
    assert not list(parsed.iter_attachments())
