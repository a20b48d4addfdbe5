"""The screening desk: the tenant's questions (seeded from the ministry's form,
editable) and the decision: vaccinate, defer to a return date, or do not vaccinate."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from core.audit import log_action
from core.extensions import db
from core.ids import uuid7
from core.models import User
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.services import cancel_booking
from tenants.booking.services import reschedule_booking
from tenants.campaigns.models import Slot
from tenants.onsite.models import CheckIn
from tenants.onsite.models import Screening
from tenants.onsite.models import ScreeningEffect
from tenants.onsite.models import ScreeningOutcome
from tenants.onsite.models import ScreeningQuestion
from tenants.onsite.services.common import OnsiteError
from tenants.onsite.services.common import day_bounds
from tenants.onsite.services.common import local_day
from tenants.onsite.services.common import tenant_id
from tenants.onsite.services.common import venue_of

_D, _N, _X = ScreeningEffect.DEFER, ScreeningEffect.NONE, ScreeningEffect.DO_NOT_VACCINATE

#: The ministry's screening form for COVID-19 vaccination (format skrining), as seeded
#: for every tenant in Indonesian, the language of the form; tenants edit them. The
#: effect of a "yes" follows the ministry's guidance at the time (rules change: edit).
DEFAULT_QUESTIONS: tuple[tuple[str, str, ScreeningEffect], ...] = (
    ("fever", "Apakah suhu tubuh saat ini ≥ 37,5 °C (demam)?", _D),
    ("blood_pressure", "Apakah tekanan darah saat ini ≥ 180/110 mmHg?", _D),
    ("covid_recent", "Pernah terkonfirmasi COVID-19 dalam 3 bulan terakhir?", _D),
    ("contact", "Kontak erat dengan pasien COVID-19 dalam 14 hari terakhir?", _D),
    ("pregnant", "Apakah sedang hamil?", _D),
    ("breastfeeding", "Apakah sedang menyusui?", _N),
    (
        "allergy",
        "Riwayat alergi berat (sesak napas, bengkak, urtikaria) setelah vaksinasi "
        "COVID-19 sebelumnya?",
        _X,
    ),
    ("blood_disorder", "Sedang mendapat terapi jangka panjang untuk kelainan darah?", _D),
    ("heart", "Menderita penyakit jantung (gagal jantung, penyakit jantung koroner)?", _D),
    ("autoimmune", "Menderita penyakit autoimun sistemik (SLE/lupus, Sjögren, vaskulitis)?", _D),
    (
        "kidney",
        "Menderita penyakit ginjal kronis, sedang hemodialisis atau transplantasi ginjal?",
        _D,
    ),
    ("rheumatic", "Menderita rematik autoimun (rheumatoid arthritis)?", _D),
    ("digestive", "Menderita penyakit saluran pencernaan kronis?", _D),
    ("thyroid", "Menderita hipertiroid atau hipotiroid karena autoimun?", _D),
    (
        "cancer",
        "Menderita kanker, kelainan darah, imunokompromais, atau penerima transfusi darah?",
        _D,
    ),
    ("diabetes", "Menderita diabetes melitus?", _N),
    ("hiv", "Menderita HIV?", _N),
    ("lung", "Menderita penyakit paru (asma, PPOK, TBC)?", _N),
)

_RANK = {_N: 0, _D: 1, _X: 2}


def ensure_questions() -> list[ScreeningQuestion]:
    """The tenant's questions, seeding the ministry's the first time (race-free: a
    second desk seeding at the same moment inserts nothing)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(ScreeningQuestion)) == 0:
        dialect = db.session.connection().dialect.name
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(ScreeningQuestion)
        db.session.execute(
            insert.values(
                [
                    {
                        "tenant_id": tenant_id(),
                        "id": uuid7(),
                        "key": key,
                        "text": text,
                        "position": n,
                        "effect": effect,
                        "active": True,
                    }
                    for n, (key, text, effect) in enumerate(DEFAULT_QUESTIONS, start=1)
                ]
            ).on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        )
    return list(
        db.session.scalars(
            sa.select(ScreeningQuestion).order_by(ScreeningQuestion.position, ScreeningQuestion.key)
        )
    )


def active_questions() -> list[ScreeningQuestion]:
    return [q for q in ensure_questions() if q.active]


def save_question(
    question_id: uuid.UUID | None,
    *,
    text: str,
    effect: ScreeningEffect,
    position: int,
    active: bool,
    key: str | None = None,
    actor: User | None = None,
) -> ScreeningQuestion:
    """Change a question, or add one (``question_id`` None, with a new ``key``)."""
    if not text.strip():
        raise OnsiteError(_("A question needs its text."), code="invalid")
    if question_id is None:
        key = (key or "").strip().lower()
        if not key or db.session.scalar(
            sa.select(ScreeningQuestion.id).where(ScreeningQuestion.key == key)
        ):
            raise OnsiteError(_("Choose a short key no other question uses."), code="invalid")
        question = ScreeningQuestion(key=key)
        db.session.add(question)
    else:
        question = db.session.get(ScreeningQuestion, (tenant_id(), question_id))
        if question is None:
            raise OnsiteError(_("Unknown question."), code="invalid", status=404)
    question.text = text.strip()
    question.effect = effect
    question.position = position
    question.active = active
    db.session.flush()
    log_action(question, "onsite.screening_question.saved", actor, {"key": question.key})
    return question


def suggested_outcome(questions: list[ScreeningQuestion], yes: set[str]) -> ScreeningOutcome:
    """What the answers point to: the strongest effect among the "yes" answers."""
    worst = max((q.effect for q in questions if q.key in yes), key=_RANK.get, default=_N)
    return {
        _N: ScreeningOutcome.VACCINATE,
        _D: ScreeningOutcome.DEFER,
        _X: ScreeningOutcome.DO_NOT_VACCINATE,
    }[worst]


def latest_screening(booking_id: uuid.UUID) -> Screening | None:
    return db.session.scalar(
        sa.select(Screening)
        .where(Screening.booking_id == booking_id)
        .order_by(Screening.at.desc(), Screening.id.desc())
        .limit(1)
    )


def record_screening(
    booking_id: uuid.UUID,
    yes: set[str],
    outcome: ScreeningOutcome,
    *,
    return_date: dt.date | None = None,
    notes: str | None = None,
    actor: User | None = None,
    now: dt.datetime,
) -> Screening:
    """Store the answers and the decision for a checked-in person.

    ``vaccinate``: they go on to the vaccination desk (against a "yes" that suggests
    otherwise only with a note). ``defer``: the booking moves to the first slot with
    a seat on or after ``return_date`` at the same venue (through the ledger's
    reschedule; the check-in is released so they check in again then); a walk-in,
    having no slot, is cancelled and comes back. ``do_not_vaccinate``: the booking is
    cancelled, its seat and promised dose return to the counters.
    """
    notes = (notes or "").strip() or None
    booking = db.session.get(Booking, (tenant_id(), booking_id), populate_existing=True)
    if booking is None or booking.status != BookingStatus.ARRIVED:
        raise OnsiteError(
            _("Only a checked-in person waiting for their dose can be screened."),
            code="not_checked_in",
        )
    questions = active_questions()
    suggested = suggested_outcome(questions, yes)
    if outcome != suggested and _RANK_OUTCOME[outcome] < _RANK_OUTCOME[suggested] and not notes:
        raise OnsiteError(
            _("The answers suggest “%(s)s”: write why you decided otherwise.", s=_label(suggested)),
            code="note_required",
        )
    venue = venue_of(booking.venue_id)
    if outcome == ScreeningOutcome.DEFER:
        today = local_day(now, venue.timezone)
        if return_date is None or return_date <= today:
            raise OnsiteError(_("Give a return date after today."), code="invalid")
        if booking.slot_id is None:
            cancel_booking(booking_id, now=now)
        else:
            _rebook(booking, return_date, venue.timezone, now)
    elif outcome == ScreeningOutcome.DO_NOT_VACCINATE:
        cancel_booking(booking_id, now=now)
        return_date = None
    else:
        return_date = None
    screening = Screening(
        booking_id=booking_id,
        outcome=outcome,
        answers={q.key: {"q": q.text, "yes": q.key in yes} for q in questions},
        return_date=return_date,
        notes=notes,
        by_id=actor.id if actor else None,
        at=now,
    )
    db.session.add(screening)
    db.session.flush()
    log_action(
        screening,
        "onsite.screening.recorded",
        actor,
        {"booking_id": str(booking_id), "outcome": outcome.value},
    )
    return screening


_RANK_OUTCOME = {
    ScreeningOutcome.VACCINATE: 0,
    ScreeningOutcome.DEFER: 1,
    ScreeningOutcome.DO_NOT_VACCINATE: 2,
}


def _label(outcome: ScreeningOutcome) -> str:
    return {
        ScreeningOutcome.VACCINATE: _("vaccinate"),
        ScreeningOutcome.DEFER: _("defer"),
        ScreeningOutcome.DO_NOT_VACCINATE: _("do not vaccinate"),
    }[outcome]


def _rebook(booking: Booking, return_date: dt.date, timezone: str, now: dt.datetime) -> None:
    start, _end = day_bounds(return_date, timezone)
    slot_id = db.session.scalar(
        sa.select(Slot.id)
        .where(
            Slot.campaign_id == booking.campaign_id,
            Slot.venue_id == booking.venue_id,
            Slot.starts_at >= start,
            Slot.booked < Slot.capacity,
        )
        .order_by(Slot.starts_at)
        .limit(1)
    )
    if slot_id is None:
        raise OnsiteError(
            _(
                "No free slot from %(day)s at this venue in this campaign: choose another "
                "return date, or do not defer here.",
                day=return_date.isoformat(),
            ),
            code="no_slot",
        )
    # arrived → booked first (both hold the seat and the promised dose, so no counter
    # moves), in one conditional UPDATE on the booking row, the ledger's first lock;
    # then the ledger moves the seat.
    back = db.session.execute(
        sa.update(Booking)
        .where(
            Booking.tenant_id == tenant_id(),
            Booking.id == booking.id,
            Booking.status == BookingStatus.ARRIVED,
        )
        .values(status=BookingStatus.BOOKED)
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    ).first()
    if back is None:
        raise OnsiteError(_("This booking is no longer waiting for a dose."), code="not_active")
    reschedule_booking(booking.id, slot_id, now=now)
    db.session.execute(
        sa.update(CheckIn)
        .where(
            CheckIn.tenant_id == tenant_id(),
            CheckIn.booking_id == booking.id,
            CheckIn.released_at.is_(None),
        )
        .values(released_at=now)
        .execution_options(synchronize_session=False)
    )
