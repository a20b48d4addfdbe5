"""The registration desk: choose the desk's venue and day, find the booking (scan,
code, or a name/NIK lookup for a lost voucher), compare with the KTP, check in."""

from __future__ import annotations

import secrets

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
from tenants.booking.models import Booking
from tenants.onsite import clock
from tenants.onsite import queries
from tenants.onsite.schemas import CodeSchema
from tenants.onsite.schemas import ConfirmSchema
from tenants.onsite.schemas import DeskSchema
from tenants.onsite.schemas import load_form
from tenants.onsite.services import checkin as service
from tenants.onsite.services.common import local_time
from tenants.onsite.views.common import bp
from tenants.onsite.views.common import desk
from tenants.onsite.views.common import remember_desk
from tenants.onsite.views.common import run
from tenants.onsite.views.common import today_at


def _index(status: int = 200, **extra):
    chosen = desk()
    venues = queries.venues()
    return (
        render_template(
            "onsite/checkin.html",
            desk=chosen,
            venues=venues,
            today=today_at(chosen[0] if chosen else venues[0]) if venues else None,
            values=extra.pop("values", {}),
            errors=extra.pop("errors", {}),
            **extra,
        ),
        status,
    )


@bp.route("/checkin")
@require_role(Role.CHECKIN)
def checkin():
    """The registration desk: scan or type the voucher code; look up a lost voucher."""
    return _index()


@bp.route("/checkin/desk", methods=["POST"])
@require_role(Role.CHECKIN)
def choose_desk():
    """Remember which venue and day this desk works on (this browser's session)."""
    data, errors = load_form(DeskSchema(), request.form)
    if errors:
        return _index(422, errors=errors, values=request.form)
    remember_desk(get_or_404(Venue, data["venue_id"]), data["day"])
    return redirect(url_for(".checkin"))


def _person_page(booking: Booking, status: int = 200, errors: dict | None = None):
    venue, day = desk()
    inspection = service.inspect_booking(booking, venue.id, day, clock.now())
    return (
        render_template(
            "onsite/person.html",
            i=inspection,
            desk=(venue, day),
            nonce=secrets.token_urlsafe(16),
            errors=errors or {},
            checked_in_time=(
                local_time(inspection.checkin.checked_in_at, venue.timezone)
                if inspection.checkin
                else None
            ),
        ),
        status,
    )


@bp.route("/checkin/find", methods=["POST"])
@require_role(Role.CHECKIN)
def find():
    """A scanned QR or a typed code → the person to compare with the KTP."""
    if desk() is None:
        return redirect(url_for(".checkin"))
    data, errors = load_form(CodeSchema(), request.form)
    if errors:
        return _index(422, errors=errors, values=request.form)
    booking = service.find_booking(data["code"])
    if booking is None:
        return _index(
            404,
            errors={
                "code": _("No booking with this voucher. Check the code, or look the person up.")
            },
            values=request.form,
        )
    return redirect(url_for(".person", booking_id=booking.id))


@bp.route("/checkin/bookings/<booking_id>")
@require_role(Role.CHECKIN)
def person(booking_id):
    """The person, the appointment and its flags; the check-in form."""
    booking = get_or_404(Booking, booking_id)
    if desk() is None:
        return redirect(url_for(".checkin"))
    return _person_page(booking)


@bp.route("/checkin/bookings/<booking_id>", methods=["POST"])
@require_role(Role.CHECKIN)
def confirm(booking_id):
    """Staff confirm the KTP matches: check in (once; a retried form is the same)."""
    booking = get_or_404(Booking, booking_id)
    if desk() is None:
        return redirect(url_for(".checkin"))
    data, errors = load_form(ConfirmSchema(), request.form)
    if errors:
        return _person_page(booking, 422, errors)
    venue, day = desk()
    booking_pk = booking.id
    try:
        checkin = run(
            lambda actor: service.check_in(
                booking_pk,
                venue.id,
                day,
                actor=actor,
                nonce=data["nonce"],
                confirm_warnings=data["confirm_warnings"],
                now=clock.now(),
            )
        )
    except DomainError as exc:
        return _person_page(get_or_404(Booking, booking_pk), exc.status, {"form": exc.message})
    flash(
        _(
            "Checked in at %(time)s. Next: screening.",
            time=local_time(checkin.checked_in_at, venue.timezone),
        ),
        "success",
    )
    return redirect(url_for(".screening", booking_id=booking_pk))


@bp.route("/checkin/lookup", methods=["POST"])
@require_role(Role.CHECKIN)
def lookup():
    """For a lost voucher: today's bookings at this desk's venue by name or NIK
    (never wider; every search is audited). A POST, so a NIK never lands in a URL
    (server logs, browser history)."""
    chosen = desk()
    if chosen is None:
        return redirect(url_for(".checkin"))
    venue, day = chosen
    query = request.form.get("q", "")
    try:
        rows = run(lambda actor: service.lookup_today(venue.id, day, query, actor=actor))
    except DomainError as exc:
        return _index(422, errors={"q": exc.message}, values={"q": query})
    return _index(rows=rows, searched=True, values={"q": query})
