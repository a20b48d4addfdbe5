"""Helpers shared by the onboarding tests: read the mail outbox directory."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default
from pathlib import Path


def outbox_dir(app) -> Path:
    return Path(app.config["MAIL_URL"].removeprefix("file://"))


def sent_mail(app, to: str | None = None) -> list[EmailMessage]:
    """Messages the file backend wrote, oldest first, optionally only those to ``to``."""
    folder = outbox_dir(app)
    if not folder.exists():
        return []
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=default)
        for p in sorted(folder.glob("*.eml"))
    ]
    return [m for m in messages if to is None or m["To"] == to]


def body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_path(message: EmailMessage, prefix: str) -> str:
    """The path of the first link in the mail's text that starts with ``prefix``."""
    match = re.search(r"https?://[^/\s]+(" + re.escape(prefix) + r"[^\s]*)", body(message))
    assert match, f"no {prefix} link in:\n{body(message)}"
    return match.group(1)
