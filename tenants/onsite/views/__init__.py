"""The on-site desks' pages under ``/o/<tenant>/``: check-in (``checkin``), the desk
queue, screening, vaccination, observation, walk-ins (``desks``), and the live venue
board with the end-of-day close (``board``). Static files (the scanner, the board's
poller, the vendored QR decoder) are served by ``static_bp`` without sign-in."""

from flask import Blueprint

from tenants.onsite.views.common import bp

static_bp = Blueprint(
    "onsite_static", __name__, static_folder="../static", static_url_path="/static/onsite"
)

from tenants.onsite.views import board  # noqa: E402,F401
from tenants.onsite.views import checkin  # noqa: E402,F401
from tenants.onsite.views import desks  # noqa: E402,F401

__all__ = ["bp", "static_bp"]
