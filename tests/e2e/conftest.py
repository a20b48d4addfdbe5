"""Shared by the browser tests: the app served over real HTTP on loopback, and
Debian's chromium driven by Playwright (``/usr/bin/chromium``; never a downloaded
browser). Without chromium or playwright the tests skip, except under CI."""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import shutil
import socket
import threading
from pathlib import Path

import pytest

from tests.conftest import base_config
from tests.conftest import unavailable

CHROMIUM = "/usr/bin/chromium"


@contextlib.contextmanager
def serve(tmp_path: Path, sqlite_template: Path, **config):
    """The app on a free loopback port: (base URL, app, mail directory).

    ``config`` overrides settings (e.g. ``MAIL_URL`` for a loopback SMTP server).
    """
    from werkzeug.serving import make_server

    from core.app import create_app

    db_path = tmp_path / "e2e.db"
    shutil.copyfile(sqlite_template, db_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            **base_config(tmp_path),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "MIGRATION_DATABASE_URL": f"sqlite:///{db_path}",
            "BASE_URL": base_url,
            "WTF_CSRF_ENABLED": True,  # the browser posts real forms
            "TESTING": False,
            **config,
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base_url, app, tmp_path / "outbox"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        with app.app_context():
            from core.extensions import db

            db.engine.dispose()


@pytest.fixture
def live_server(tmp_path, sqlite_template):
    with serve(tmp_path, sqlite_template) as server:
        yield server


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        unavailable("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("playwright", str(exc))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def mail_link(outbox: Path, to: str, pattern: str) -> str:
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == to:
            text = message.get_body(("plain",)).get_content()
            if found := re.search(pattern, text):
                return found.group(0)
    raise AssertionError(f"no mail to {to} with a link like {pattern}")
