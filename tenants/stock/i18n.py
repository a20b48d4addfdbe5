"""Translated messages that also work outside a request (jobs, CLI, tests).

``core.app.select_locale`` reads the request, so Flask-Babel's ``gettext`` fails
without one; ledger services run from views, jobs and the CLI alike. In a request
the message is translated; elsewhere it is the English text, formatted the same way.
"""

from __future__ import annotations

from flask import has_request_context
from flask_babel import gettext


def _(text: str, **variables) -> str:
    if has_request_context():
        return gettext(text, **variables)
    return text % variables if variables else text
