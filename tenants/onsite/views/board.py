"""The live venue board and the end-of-day close."""

from __future__ import annotations

import datetime as dt

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from core.access import get_or_404
from core.access import require_role
from core.errors import DomainError
from core.models import Role
from onboarding.venues.models import Venue
from tenants.onsite import clock
from tenants.onsite import queries
from tenants.onsite.services import closing
from tenants.onsite.services.common import local_time
from tenants.onsite.views.common import bp
from tenants.onsite.views.common import run
from tenants.onsite.views.common import today_at


def _day(venue: Venue) -> dt.date:
    try:
        return dt.date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return today_at(venue)


def _board_context(venue: Venue, day: dt.date) -> dict:
    now = clock.now()
    return {
        "b": queries.board(venue, day, now),
        "local_time": local_time,
        "now": now,
    }


@bp.route("/venues/<venue_id>/today")
@require_role(Role.CHECKIN)
def board(venue_id):
    """Slots with booked / arrived / vaccinated / no-show, walk-ins, stock on hand
    against promised, open vials and their time left; refreshes itself."""
    venue = get_or_404(Venue, venue_id)
    day = _day(venue)
    return render_template("onsite/board.html", venue=venue, day=day, **_board_context(venue, day))


@bp.route("/venues/<venue_id>/today/live")
@require_role(Role.CHECKIN)
def board_live(venue_id):
    """The board's body alone (HTML), or as JSON when asked: what the page polls."""
    venue = get_or_404(Venue, venue_id)
    day = _day(venue)
    context = _board_context(venue, day)
    if request.accept_mimetypes.best == "application/json":
        return queries.board_json(context["b"])
    response = render_template("onsite/_board.html", venue=venue, day=day, **context)
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/venues/<venue_id>/today/close", methods=["GET", "POST"])
@require_role(Role.COORDINATOR)
def close_day(venue_id):
    """End of day: offer what is left in open vials first, then mark no-shows,
    close the vials (their rest is waste) and keep the day's summary. Once."""
    venue = get_or_404(Venue, venue_id)
    if request.method == "POST":
        try:
            day = dt.date.fromisoformat(request.form.get("day", ""))
        except ValueError:
            flash(_("Choose the day to close."), "error")
            return redirect(url_for(".close_day", venue_id=venue.id))
    else:
        day = _day(venue)
    if request.method == "GET":
        return render_template(
            "onsite/close.html",
            venue=venue,
            day=day,
            left=closing.leftovers(venue.id, day),
            **_board_context(venue, day),
        )
    venue_pk = venue.id
    try:
        result = run(lambda actor: closing.close_day(venue_pk, day, actor=actor, now=clock.now()))
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".close_day", venue_id=venue_pk, day=day.isoformat()))
    if result.already_closed:
        flash(_("This day was already closed; nothing changed."), "warning")
    else:
        flash(_("Day closed."), "success")
    return redirect(url_for(".board", venue_id=venue_pk, day=day.isoformat()))
