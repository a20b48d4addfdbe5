"""The desks after check-in: the queue, screening, vaccination (lots, vials, the
dose), observation with adverse events, voiding a record, walk-ins, and the
tenant's screening questions."""

from __future__ import annotations

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from core.access import get_or_404
from core.access import require_role
from core.errors import DomainError
from core.extensions import db
from core.models import Role
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import Person
from tenants.onsite import clock
from tenants.onsite import queries
from tenants.onsite.models import ScreeningEffect
from tenants.onsite.models import ScreeningOutcome
from tenants.onsite.models import ScreeningQuestion
from tenants.onsite.models import Severity
from tenants.onsite.models import VialOpening
from tenants.onsite.schemas import AdverseEventSchema
from tenants.onsite.schemas import QuestionSchema
from tenants.onsite.schemas import ScreeningSchema
from tenants.onsite.schemas import VaccinationSchema
from tenants.onsite.schemas import VialSchema
from tenants.onsite.schemas import VoidSchema
from tenants.onsite.schemas import WalkInSchema
from tenants.onsite.schemas import load_form
from tenants.onsite.services import screening as screening_service
from tenants.onsite.services import vaccination as vaccination_service
from tenants.onsite.services import walkins as walkin_service
from tenants.onsite.services.common import VIAL_WARNING
from tenants.onsite.services.common import day_bounds
from tenants.onsite.services.common import local_time
from tenants.onsite.views.common import at_local
from tenants.onsite.views.common import bp
from tenants.onsite.views.common import desk
from tenants.onsite.views.common import run
from tenants.public.schemas import PRIVACY_NOTICE_VERSION
from tenants.public.schemas import PersonSchema
from tenants.public.schemas import person_kwargs
from tenants.stock.models import Product


def _need_desk():
    return None if desk() is not None else redirect(url_for(".checkin"))


@bp.route("/desk")
@require_role(Role.CHECKIN)
def queue():
    """Who is waiting at this desk's venue: for screening, for their dose."""
    if (back := _need_desk()) is not None:
        return back
    venue, day = desk()
    return render_template("onsite/queue.html", desk=(venue, day), q=queries.queue(venue, day))


# --- screening ------------------------------------------------------------------------


def _screening_page(booking: Booking, status: int = 200, errors=None, values=None):
    venue, day = desk()
    questions = screening_service.active_questions()
    return (
        render_template(
            "onsite/screening.html",
            booking=booking,
            person=db.session.get(Person, (booking.tenant_id, booking.person_id)),
            questions=questions,
            desk=(venue, day),
            errors=errors or {},
            values=values or {},
            outcomes=ScreeningOutcome,
        ),
        status,
    )


@bp.route("/bookings/<booking_id>/screening", methods=["GET", "POST"])
@require_role(Role.CHECKIN)
def screening(booking_id):
    """The ministry's screening questions → vaccinate, defer (rebooked), or not."""
    booking = get_or_404(Booking, booking_id)
    if (back := _need_desk()) is not None:
        return back
    if request.method == "GET":
        return _screening_page(booking)
    data, errors = load_form(ScreeningSchema(), request.form)
    if errors:
        return _screening_page(booking, 422, errors, request.form)
    yes = {
        key[2:] for key, value in request.form.items() if key.startswith("q-") and value == "yes"
    }
    booking_pk = booking.id
    try:
        result = run(
            lambda actor: screening_service.record_screening(
                booking_pk,
                yes,
                data["outcome"],
                return_date=data.get("return_date"),
                notes=data.get("notes"),
                actor=actor,
                now=clock.now(),
            )
        )
    except DomainError as exc:
        return _screening_page(
            get_or_404(Booking, booking_pk), exc.status, {"form": exc.message}, request.form
        )
    if result.outcome == ScreeningOutcome.VACCINATE:
        flash(_("Screened: vaccinate. Next: the vaccination desk."), "success")
        return redirect(url_for(".vaccinate", booking_id=booking_pk))
    if result.outcome == ScreeningOutcome.DEFER:
        flash(
            _(
                "Deferred: the appointment moved to %(day)s or the first free slot after it.",
                day=result.return_date.isoformat(),
            ),
            "success",
        )
    else:
        flash(_("Not vaccinated: the booking is cancelled and its dose released."), "success")
    return redirect(url_for(".queue"))


# --- vaccination ----------------------------------------------------------------------


def _vaccination_page(booking: Booking, status: int = 200, errors=None, values=None, **extra):
    venue, day = desk()
    now = clock.now()
    return (
        render_template(
            "onsite/vaccination.html",
            booking=booking,
            person=db.session.get(Person, (booking.tenant_id, booking.person_id)),
            product=db.session.get(Product, booking.product_id),
            lots=vaccination_service.usable_lots(booking.venue_id, booking.product_id, day),
            vials=vaccination_service.open_vials(booking.venue_id),
            staff=vaccination_service.staff(now),
            now_local=local_time(now, venue.timezone),
            now_utc=now,
            warn_from=now + VIAL_WARNING,
            tz=venue.timezone,
            desk=(venue, day),
            errors=errors or {},
            values=values or {},
            **extra,
        ),
        status,
    )


@bp.route("/bookings/<booking_id>/vaccination", methods=["GET", "POST"])
@require_role(Role.CHECKIN)
def vaccinate(booking_id):
    """Record the dose: lot (first-expiring first), vaccinator, time."""
    booking = get_or_404(Booking, booking_id)
    if (back := _need_desk()) is not None:
        return back
    if request.method == "GET":
        return _vaccination_page(booking)
    data, errors = load_form(VaccinationSchema(), request.form)
    if errors:
        return _vaccination_page(booking, 422, errors, request.form)
    venue, day = desk()
    booking_pk = booking.id
    try:
        result = run(
            lambda actor: vaccination_service.record_dose(
                booking_pk,
                data["lot_id"],
                vaccinator_id=data["vaccinator_id"],
                administered_at=at_local(venue, day, data.get("administered_at")),
                actor=actor,
                now=clock.now(),
            )
        )
    except DomainError as exc:
        return _vaccination_page(
            get_or_404(Booking, booking_pk), exc.status, {"form": exc.message}, request.form
        )
    flash(
        _(
            "Dose recorded. Observe until %(time)s.",
            time=local_time(result.observation.observation_until, venue.timezone),
        )
        + " "
        + result.ledger.message,
        "success",
    )
    for warning in result.warnings:
        flash(warning, "warning")
    return redirect(url_for(".observation"))


@bp.route("/vials", methods=["POST"])
@require_role(Role.CHECKIN)
def open_vial():
    """Record when a multi-dose vial was opened (its hours count from then)."""
    if (back := _need_desk()) is not None:
        return back
    venue, day = desk()
    data, errors = load_form(VialSchema(), request.form)
    target = request.form.get("next_booking")
    if not errors:
        try:
            run(
                lambda actor: vaccination_service.open_vial(
                    data["lot_id"],
                    venue.id,
                    opened_at=at_local(venue, day, data.get("opened_at")),
                    actor=actor,
                    now=clock.now(),
                )
            )
            flash(_("Vial opening recorded."), "success")
        except DomainError as exc:
            flash(exc.message, "error")
    else:
        flash(" ".join(errors.values()), "error")
    if target:
        return redirect(url_for(".vaccinate", booking_id=get_or_404(Booking, target).id))
    return redirect(url_for(".board", venue_id=venue.id))


@bp.route("/vials/<vial_id>/close", methods=["POST"])
@require_role(Role.CHECKIN)
def close_vial(vial_id):
    """Close an opened vial; its doses not given are recorded as waste."""
    vial = get_or_404(VialOpening, vial_id)
    vial_pk = vial.id
    try:
        closed = run(
            lambda actor: vaccination_service.close_vial(vial_pk, actor=actor, now=clock.now())
        )
        flash(_("Vial closed; %(n)d doses recorded as waste.", n=closed.leftover_wasted), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for(".board", venue_id=vial.venue_id))


# --- observation ----------------------------------------------------------------------


def _observation_page(status: int = 200, errors=None):
    venue, day = desk()
    now = clock.now()
    start = day_bounds(day, venue.timezone)[0]
    return (
        render_template(
            "onsite/observation.html",
            rows=queries.under_observation(venue, now, since=start),
            now=now,
            tz=venue.timezone,
            desk=(venue, day),
            severities=Severity,
            errors=errors or {},
            local_time=local_time,
        ),
        status,
    )


@bp.route("/observation")
@require_role(Role.CHECKIN)
def observation():
    """People in their 30 minutes of observation; record adverse events (KIPI)."""
    if (back := _need_desk()) is not None:
        return back
    return _observation_page()


@bp.route("/doses")
@require_role(Role.CHECKIN)
def doses():
    """Every dose recorded today at this desk's venue; admins void mistaken ones here."""
    if (back := _need_desk()) is not None:
        return back
    venue, day = desk()
    return render_template(
        "onsite/doses.html", rows=queries.doses_given(venue, day), desk=(venue, day)
    )


@bp.route("/administrations/<administration_id>/adverse-events", methods=["POST"])
@require_role(Role.CHECKIN)
def adverse_event(administration_id):
    """Record an adverse event following immunisation, with its severity."""
    administration = get_or_404(Administration, administration_id)
    if (back := _need_desk()) is not None:
        return back
    venue, day = desk()
    data, errors = load_form(AdverseEventSchema(), request.form)
    if errors:
        return _observation_page(422, {str(administration.id): " ".join(errors.values())})
    admin_pk = administration.id
    try:
        run(
            lambda actor: vaccination_service.record_adverse_event(
                admin_pk,
                data["severity"],
                data["description"],
                observed_at=at_local(venue, day, data.get("observed_at")),
                actor=actor,
                now=clock.now(),
            )
        )
    except DomainError as exc:
        return _observation_page(exc.status, {str(admin_pk): exc.message})
    flash(_("Adverse event recorded."), "success")
    return redirect(url_for(".observation"))


@bp.route("/administrations/<administration_id>/void", methods=["POST"])
@require_role(Role.ADMIN)
def void(administration_id):
    """An admin voids a mistaken record, with a reason; the stock follows and the
    original stays in the audit trail."""
    administration = get_or_404(Administration, administration_id)
    data, errors = load_form(VoidSchema(), request.form)
    if errors:
        flash(_("Say why the record is voided."), "error")
        return redirect(url_for(".doses"))
    admin_pk = administration.id
    try:
        run(
            lambda actor: vaccination_service.void_dose(
                admin_pk, data["reason"], actor=actor, now=clock.now()
            )
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".doses"))
    flash(
        _("Record voided; the dose is back in stock and the person can be recorded again."),
        "success",
    )
    return redirect(url_for(".vaccinate", booking_id=administration.booking_id))


# --- walk-ins -------------------------------------------------------------------------


def _walk_in_page(status: int = 200, errors=None, values=None):
    venue, day = desk()
    return (
        render_template(
            "onsite/walk_in.html",
            campaigns=walkin_service.campaigns_today(venue.id, day),
            desk=(venue, day),
            errors=errors or {},
            values=values or {},
        ),
        status,
    )


@bp.route("/walk-in", methods=["GET", "POST"])
@require_role(Role.CHECKIN)
def walk_in():
    """Register someone without a booking: a walk-in place and a dose, or why not."""
    if (back := _need_desk()) is not None:
        return back
    if request.method == "GET":
        return _walk_in_page()
    data, errors = load_form(WalkInSchema(), request.form)
    person, person_errors = load_form(PersonSchema(), request.form)
    errors.update(person_errors)
    if errors:
        return _walk_in_page(422, errors, request.form)
    venue, _day = desk()
    now = clock.now()
    fields = person_kwargs(person)
    if person.get("consent"):
        fields.update(consent_at=now, privacy_notice_version=PRIVACY_NOTICE_VERSION)
    try:
        booking = run(
            lambda actor: walkin_service.admit_walk_in(
                data["campaign_id"],
                venue.id,
                full_name=person["full_name"],
                date_of_birth=person["date_of_birth"],
                dose_number=data["dose_number"],
                actor=actor,
                now=now,
                **fields,
            )
        )
    except DomainError as exc:
        return _walk_in_page(exc.status, {"form": exc.message}, request.form)
    flash(_("Walk-in registered and checked in. Next: screening."), "success")
    return redirect(url_for(".screening", booking_id=booking.id))


# --- screening questions --------------------------------------------------------------


@bp.route("/screening-questions", methods=["GET", "POST"])
@require_role(Role.COORDINATOR)
def questions():
    """The tenant's screening questions: seeded from the ministry's form, editable."""
    errors = {}
    if request.method == "POST":
        data, errors = load_form(QuestionSchema(), request.form)
        question_id = request.form.get("question_id") or None
        if question_id is not None:
            question_id = get_or_404(ScreeningQuestion, question_id).id
        if not errors:
            try:
                run(
                    lambda actor: screening_service.save_question(
                        question_id,
                        text=data["text"],
                        effect=data["effect"],
                        position=data["position"],
                        active=data["active"],
                        key=data.get("key"),
                        actor=actor,
                    )
                )
                flash(_("Question saved."), "success")
                return redirect(url_for(".questions"))
            except DomainError as exc:
                errors = {"form": exc.message}
    listed = run(lambda actor: screening_service.ensure_questions())
    return (
        render_template(
            "onsite/questions.html", questions=listed, effects=ScreeningEffect, errors=errors
        ),
        422 if errors else 200,
    )
