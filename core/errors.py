"""Domain errors and the one set of handlers that answers HTML or problem+json.

Every service area raises a :class:`DomainError` subclass with a machine-readable
``code`` and a message a person understands; tests assert the code. Handlers roll
the session back, so nothing half-done is committed, and never show a stack trace
outside debug.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask import Response
from flask import g
from flask import jsonify
from flask import render_template
from flask import request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError

from core.extensions import db

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain refused the request. ``message`` is safe to show."""

    status = 400
    code = "invalid"

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None, **details
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Busy(DomainError):
    """A lock could not be taken in time; the client may simply try again."""

    status = 503
    code = "busy"


def wants_json() -> bool:
    """API routes always answer JSON; other routes when the client prefers it over HTML."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def problem(
    status: int, title: str, detail: str | None = None, code: str | None = None, **extra
) -> Response:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if code:
        body["code"] = code
    if rid := g.get("request_id"):
        body["request_id"] = rid
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _render(status: int, title: str, detail: str | None, code: str | None, **extra):
    if wants_json():
        return problem(status, title, detail, code, **extra)
    html = render_template("core/error.html", status=status, title=title, detail=detail, code=code)
    return html, status


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection itself may be what failed
        log.exception("rollback failed while handling an error")


def register_error_handlers(app: Flask) -> None:
    """Install the app-wide handlers."""

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        _rollback()
        return _render(exc.status, exc.message, None, exc.code, **exc.details)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        _rollback()
        if exc.code and exc.code >= 500:
            log.error("http error %s: %s", exc.code, exc.description)
        response = _render(exc.code or 500, _http_title(exc), _http_detail(exc), None)
        if exc.code == 405 and exc.valid_methods:
            if isinstance(response, tuple):
                return response[0], response[1], {"Allow": ", ".join(exc.valid_methods)}
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        if isinstance(exc, HTTPException):  # pragma: no cover - routed above
            return http_error(exc)
        _rollback()
        log.exception("unhandled error")
        if app.debug or (app.testing and app.config.get("PROPAGATE_EXCEPTIONS")):
            raise exc
        return _render(
            500,
            _http_title(InternalServerError()),
            _(
                "Something went wrong on our side. Please try again; if it keeps "
                "happening, give us this reference."
            ),
            "server_error",
        )


def _http_title(exc: HTTPException) -> str:
    titles = {
        400: _("The request could not be understood"),
        401: _("Please sign in"),
        403: _("You do not have access to this page"),
        404: _("Page not found"),
        405: _("This action is not allowed here"),
        413: _("The file is too large"),
        429: _("Too many attempts, please wait a moment"),
        500: _("Something went wrong"),
        503: _("The service is busy, please try again"),
    }
    return titles.get(exc.code or 500, exc.name)


def _http_detail(exc: HTTPException) -> str | None:
    if exc.code == 404:
        return _("The page or record does not exist, or you cannot see it.")
    if exc.code == 400 and "CSRF" in (exc.description or ""):
        return _("The form expired. Go back, reload the page and try again.")
    if exc.code == 429:
        return _("Please wait a minute before trying again.")
    return None
