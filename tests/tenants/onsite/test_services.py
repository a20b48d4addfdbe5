"""On-site services on both databases: check-in, screening, doses, walk-ins, end of day.

Times are fixed on the campaign's first day (Monday 7 January 2030, Asia/Jakarta):
the venue opens 08:00-10:00 with two one-hour slots of two seats each.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import AuditEntry
from core.tenancy import tenant_context
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import BookingSource
from tenants.booking.models import BookingStatus
from tenants.booking.services import BookingError
from tenants.booking.services import book_slot
from tenants.booking.services import cancel_booking
from tenants.booking.transaction import run_in_transaction
from tenants.onsite.models import CheckIn
from tenants.onsite.models import DayClose
from tenants.onsite.models import Observation
from tenants.onsite.models import ScreeningOutcome
from tenants.onsite.models import Severity
from tenants.onsite.models import VialOpening
from tenants.onsite.services import OnsiteError
from tenants.onsite.services.checkin import check_in
from tenants.onsite.services.checkin import inspect_booking
from tenants.onsite.services.checkin import lookup_today
from tenants.onsite.services.closing import Leftovers
from tenants.onsite.services.closing import close_day
from tenants.onsite.services.closing import leftovers
from tenants.onsite.services.screening import record_screening
from tenants.onsite.services.vaccination import record_adverse_event
from tenants.onsite.services.vaccination import record_dose
from tenants.onsite.services.vaccination import usable_lots
from tenants.onsite.services.vaccination import void_dose
from tenants.onsite.services.walkins import admit_walk_in
from tenants.stock.models import Lot
from tenants.stock.services import receive_lot
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import TODAY
from tests.tenants.ledger_support import assert_consistent
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import counters
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_tenant

DAY = START
#: 08:30 and 09:30 in Jakarta on the first day
AT_0830 = dt.datetime(2030, 1, 7, 1, 30, tzinfo=dt.UTC)
AT_0930 = dt.datetime(2030, 1, 7, 2, 30, tzinfo=dt.UTC)
#: 17:00 in Jakarta: closing time
EVENING = dt.datetime(2030, 1, 7, 10, tzinfo=dt.UTC)


@pytest.fixture
def world(app, create_user):
    tenant = make_tenant()
    staff = create_user(tenant=tenant)
    with tenant_context(tenant):
        w = build_world(venues=2, stations=2, doses=6)
        w.staff = db.session.merge(staff)
        yield w


def _book(world, slot_index=0, venue=0, person=None):
    person = person or make_person()
    slot = world.slots(world.venues[venue])[slot_index]
    booking = book_slot(world.campaign_in_session(), slot.id, person.id, now=BEFORE)
    db.session.commit()
    return booking


def _check_in(world, booking, *, at=AT_0830, nonce=None, venue=0, confirm=False):
    return run_in_transaction(
        lambda: check_in(
            booking.id,
            world.venues[venue].id,
            DAY,
            actor=world.staff,
            nonce=nonce,
            confirm_warnings=confirm,
            now=at,
        )
    )


def _screen(world, booking, outcome=ScreeningOutcome.VACCINATE, at=AT_0830, **kwargs):
    return run_in_transaction(
        lambda: record_screening(booking.id, set(), outcome, actor=world.staff, now=at, **kwargs)
    )


def _lot(world, venue=0):
    return db.session.scalar(sa.select(Lot).where(Lot.venue_id == world.venues[venue].id))


def _dose(world, booking, at=AT_0830, lot=None):
    lot = lot or _lot(world)
    return run_in_transaction(
        lambda: record_dose(
            booking.id,
            lot.id,
            vaccinator_id=world.staff.id,
            administered_at=at,
            actor=world.staff,
            now=at,
        )
    )


def _status(booking) -> BookingStatus:
    return db.session.scalar(sa.select(Booking.status).where(Booking.id == booking.id))


# --- check-in -------------------------------------------------------------------------


def test_check_in_makes_the_booking_arrived_once(world):
    booking = _book(world)
    checkin = _check_in(world, booking)
    assert _status(booking) == BookingStatus.ARRIVED
    assert checkin.by_id == world.staff.id and checkin.checked_in_at == AT_0830
    with pytest.raises(OnsiteError) as exc:
        _check_in(world, booking, at=AT_0930)
    assert exc.value.code == "already_checked_in"
    assert "08:30" in exc.value.message and world.staff.name in exc.value.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckIn)) == 1
    assert_consistent()


def test_a_repeated_request_with_the_same_nonce_is_the_same_check_in(world):
    booking = _book(world)
    first = _check_in(world, booking, nonce="n-1")
    again = _check_in(world, booking, nonce="n-1", at=AT_0930)
    assert again.id == first.id and again.checked_in_at == AT_0830
    other = _book(world)
    with pytest.raises(OnsiteError) as exc:  # a nonce belongs to one booking
        _check_in(world, other, nonce="n-1")
    assert exc.value.code == "invalid"


def test_flags_wrong_venue_blocks_wrong_day_and_timing_warn(world):
    elsewhere = _book(world, venue=1)
    inspection = inspect_booking(elsewhere, world.venues[0].id, DAY, AT_0830)
    assert [f.code for f in inspection.flags] == ["wrong_venue"] and inspection.blocked
    with pytest.raises(OnsiteError) as exc:
        _check_in(world, elsewhere)
    assert exc.value.code == "wrong_venue"

    tomorrow = _book(world, slot_index=2)  # day two's first slot
    inspection = inspect_booking(tomorrow, world.venues[0].id, DAY, AT_0830)
    assert [f.code for f in inspection.flags] == ["wrong_day"] and not inspection.blocked
    with pytest.raises(OnsiteError) as exc:
        _check_in(world, tomorrow)
    assert exc.value.code == "confirm_warnings"
    _check_in(world, tomorrow, confirm=True)
    assert _status(tomorrow) == BookingStatus.ARRIVED

    early = _book(world, slot_index=1)  # 09:00
    at_0730 = AT_0830 - dt.timedelta(minutes=61)
    assert [f.code for f in inspect_booking(early, world.venues[0].id, DAY, at_0730).flags] == [
        "too_early"
    ]
    late = EVENING
    assert [f.code for f in inspect_booking(early, world.venues[0].id, DAY, late).flags] == [
        "too_late"
    ]


def test_cancelled_booking_is_refused(world):
    booking = _book(world)
    run_in_transaction(lambda: cancel_booking(booking.id, now=BEFORE))
    with pytest.raises(OnsiteError) as exc:
        _check_in(world, booking)
    assert exc.value.code == "cancelled"
    assert _status(booking) == BookingStatus.CANCELLED


def test_second_dose_before_its_interval_is_flagged(world):
    booking = _book(world)
    _check_in(world, booking)
    _screen(world, booking)
    result = _dose(world, booking)
    second = result.ledger.next_booking
    assert second is not None and second.dose_number == 2
    # the second dose is due two days later; on day one it is too soon
    inspection = inspect_booking(second, world.venues[0].id, DAY, AT_0930)
    assert "interval" in [f.code for f in inspection.flags] and inspection.blocked


def test_lookup_is_limited_to_today_at_this_venue_and_audited(world):
    here = make_person("Siti Rahmawati")
    _book(world, person=here)
    _book(world, venue=1, person=make_person("Siti Aminah"))  # another venue
    _book(world, slot_index=2, person=make_person("Siti Nurhaliza"))  # another day
    rows = run_in_transaction(
        lambda: lookup_today(world.venues[0].id, DAY, "siti", actor=world.staff)
    )
    assert [r.person.full_name for r in rows] == ["Siti Rahmawati"]
    by_nik = run_in_transaction(
        lambda: lookup_today(world.venues[0].id, DAY, here.nik, actor=world.staff)
    )
    assert [r.person.id for r in by_nik] == [here.id]
    nobody = run_in_transaction(
        lambda: lookup_today(world.venues[0].id, DAY, "3171010101990099", actor=world.staff)
    )
    assert nobody == []
    for query in ("si", "317101010199"):  # too short a name, not a NIK
        with pytest.raises(OnsiteError) as exc:
            lookup_today(world.venues[0].id, DAY, query, actor=world.staff)
        assert exc.value.code == "invalid"
    entries = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "onsite.checkin.lookup")
    ).all()
    assert [e.data["by"] for e in entries] == ["name", "nik", "nik"]
    assert [e.data["found"] for e in entries] == [1, 1, 0]
    assert all(here.nik not in str(e.data) for e in entries)


# --- screening ------------------------------------------------------------------------


def test_defer_moves_the_booking_to_the_return_date_and_releases_the_check_in(world):
    booking = _book(world)
    _check_in(world, booking)
    screening = _screen(
        world,
        booking,
        ScreeningOutcome.DEFER,
        return_date=DAY + dt.timedelta(days=2),
        notes="demam 38,2",
    )
    assert screening.return_date == DAY + dt.timedelta(days=2)
    moved = db.session.get(Booking, (world.tenant.id, booking.id), populate_existing=True)
    assert moved.status == BookingStatus.BOOKED
    slot_day = world.slots(world.venues[0])[4]  # day three's first slot
    assert moved.slot_id == slot_day.id
    assert db.session.scalar(sa.select(CheckIn.released_at)) == AT_0830
    assert_consistent()
    # back on the return date, they check in again
    _check_in(world, moved, at=AT_0830 + dt.timedelta(days=2), confirm=True)


def test_do_not_vaccinate_cancels_and_releases_the_dose(world):
    booking = _book(world)
    _check_in(world, booking)
    assert counters(world.venues[0], world.product) == (6, 1)
    _screen(world, booking, ScreeningOutcome.DO_NOT_VACCINATE)
    assert _status(booking) == BookingStatus.CANCELLED
    assert counters(world.venues[0], world.product) == (6, 0)
    assert_consistent()


def test_vaccinating_against_a_deferring_answer_needs_a_note(world):
    booking = _book(world)
    _check_in(world, booking)
    with pytest.raises(OnsiteError) as exc:
        record_screening(booking.id, {"fever"}, ScreeningOutcome.VACCINATE, now=AT_0830)
    assert exc.value.code == "note_required"
    db.session.rollback()
    s = _screen(world, booking, ScreeningOutcome.VACCINATE, notes="suhu ulang 36,8")
    assert s.outcome == ScreeningOutcome.VACCINATE


# --- vaccination ----------------------------------------------------------------------


def test_lots_offered_are_this_venues_of_this_vaccine_unexpired_first_expiring_first(world):
    venue = world.venues[0]
    soon = receive_lot(
        venue.id, world.product.id, "SOON", DAY + dt.timedelta(days=30), doses=2, today=TODAY
    )
    receive_lot(venue.id, world.product.id, "GONE", DAY, doses=2, today=TODAY)  # expires today
    receive_lot(
        world.venues[1].id,
        world.product.id,
        "THERE",
        DAY + dt.timedelta(days=9),
        doses=2,
        today=TODAY,
    )
    db.session.commit()
    batches = [lot.batch_number for lot in usable_lots(venue.id, world.product.id, DAY)]
    assert batches == ["SOON", "LOT-A"]
    booking = _book(world)
    _check_in(world, booking)
    with pytest.raises(OnsiteError) as exc:  # not screened yet
        _dose(world, booking, lot=soon)
    assert exc.value.code == "not_screened"
    _screen(world, booking)
    with pytest.raises(OnsiteError) as exc:
        _dose(world, booking, lot=_lot(world, venue=1))
    assert exc.value.code == "lot_unusable"


def test_a_dose_uses_the_ledger_a_vial_and_starts_observation(world):
    booking = _book(world)
    _check_in(world, booking)
    _screen(world, booking)
    result = _dose(world, booking)
    assert _status(booking) == BookingStatus.VACCINATED
    # the dose left stock; the next dose is booked and promised
    assert counters(world.venues[0], world.product) == (5, 1)
    assert result.ledger.next_booking.source == BookingSource.SECOND_DOSE
    vial = db.session.scalar(sa.select(VialOpening))
    assert (vial.doses_in_vial, vial.doses_used, vial.opened_at) == (5, 1, AT_0830)
    observation = db.session.scalar(sa.select(Observation))
    assert observation.observation_until == AT_0830 + dt.timedelta(minutes=30)
    event = run_in_transaction(
        lambda: record_adverse_event(
            result.ledger.administration.id,
            Severity.MILD,
            "nyeri di tempat suntikan",
            observed_at=AT_0830 + dt.timedelta(minutes=10),
            actor=world.staff,
            now=AT_0930,
        )
    )
    assert event.severity == Severity.MILD
    assert_consistent()


def test_the_desk_warns_when_the_open_vial_is_about_to_pass_its_hours(world):
    # the test vaccine has no open-vial hours: a vial lasts until the end of the day
    booking = _book(world)
    _check_in(world, booking)
    _screen(world, booking)
    late = dt.datetime(2030, 1, 7, 16, 45, tzinfo=dt.UTC)  # 23:45 in Jakarta
    result = _dose(world, booking, at=late)
    assert result.vial.closes_at == dt.datetime(2030, 1, 7, 17, tzinfo=dt.UTC)
    assert any("must be used by 00:00 (4 doses left)" in w for w in result.warnings)


def test_void_restores_the_stock_and_the_vial(world):
    booking = _book(world)
    _check_in(world, booking)
    _screen(world, booking)
    result = _dose(world, booking)
    run_in_transaction(
        lambda: void_dose(
            result.ledger.administration.id, "salah orang", actor=world.staff, now=AT_0930
        )
    )
    assert _status(booking) == BookingStatus.ARRIVED
    assert counters(world.venues[0], world.product) == (6, 1)
    assert _lot(world).on_hand == 6
    assert db.session.scalar(sa.select(VialOpening.doses_used)) == 0
    voided = db.session.get(Administration, (world.tenant.id, result.ledger.administration.id))
    assert voided.void_reason == "salah orang"
    assert_consistent()


# --- walk-ins -------------------------------------------------------------------------


def _walk_in(world, nik, name="Budi Santoso", at=AT_0830):
    return run_in_transaction(
        lambda: admit_walk_in(
            world.campaign.id,
            world.venues[0].id,
            full_name=name,
            date_of_birth=dt.date(1985, 5, 5),
            nik=nik,
            actor=world.staff,
            now=at,
        )
    )


def test_walk_in_takes_a_place_and_a_dose_and_is_checked_in(world):
    booking = _walk_in(world, "3171010505850001")
    assert booking.status == BookingStatus.ARRIVED and booking.source == BookingSource.WALK_IN
    assert db.session.scalar(sa.select(CheckIn.walk_in).where(CheckIn.booking_id == booking.id))
    assert counters(world.venues[0], world.product) == (6, 1)
    with pytest.raises(OnsiteError) as exc:  # same NIK, another person's name
        _walk_in(world, "3171010505850001", name="Someone Else")
    assert exc.value.code == "duplicate_person"
    assert_consistent()


def test_walk_in_without_a_dose_left_is_refused_with_the_reason(world):
    for i in range(6):  # every dose at the venue promised
        _book(world, slot_index=i)
    with pytest.raises(BookingError) as exc:
        _walk_in(world, "3171010505850002")
    assert exc.value.code == "no_doses"
    assert "No doses left" in exc.value.message
    assert counters(world.venues[0], world.product) == (6, 6)
    assert_consistent()


# --- end of day -----------------------------------------------------------------------


def test_end_of_day_marks_no_shows_wastes_open_vials_once(world):
    came = _book(world)
    absent = _book(world, slot_index=1)
    _check_in(world, came)
    _screen(world, came)
    _dose(world, came)  # opens a vial of 5, 1 used
    # before closing, the page proposes the vial's rest to the waitlist and walk-ins
    assert leftovers(world.venues[0].id, DAY) == Leftovers(4, 0, 2)
    result = run_in_transaction(
        lambda: close_day(world.venues[0].id, DAY, actor=world.staff, now=EVENING)
    )
    assert not result.already_closed
    assert _status(absent) == BookingStatus.NO_SHOW
    vial = db.session.scalar(sa.select(VialOpening))
    assert vial.closed_at == EVENING and vial.leftover_wasted == 4
    # 6 - 1 given - 4 wasted; only the second dose's promise remains
    assert counters(world.venues[0], world.product) == (1, 1)
    summary = result.close.summary
    assert summary["no_shows_marked"] == 1 and summary["given_total"] == 1
    assert summary["vial_doses_wasted"] == 4
    again = run_in_transaction(
        lambda: close_day(world.venues[0].id, DAY, actor=world.staff, now=EVENING)
    )
    assert again.already_closed and again.close.id == result.close.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DayClose)) == 1
    assert counters(world.venues[0], world.product) == (1, 1)
    assert_consistent()


def test_a_vial_whose_doses_are_promised_stays_open_and_the_summary_says_so(world):
    came = _book(world)
    _check_in(world, came)
    _screen(world, came)
    _dose(world, came)  # 5 on hand; the next dose promised
    for i in range(4):  # four more doses promised: every dose on hand is
        _book(world, slot_index=2 + i)
    result = run_in_transaction(
        lambda: close_day(world.venues[0].id, DAY, actor=world.staff, now=EVENING)
    )
    (refused,) = result.close.summary["vials_not_closed"]
    assert "promised" in refused["reason"]
    assert db.session.scalar(sa.select(VialOpening.closed_at)) is None
    assert counters(world.venues[0], world.product) == (5, 5)
    assert_consistent()


def test_a_simulated_day_leaves_counters_equal_to_a_recount(world):
    """Bookings, walk-ins, no-shows, a voided record and waste: every counter still
    equals its recount from the rows."""
    receive_lot(
        world.venues[0].id,
        world.product.id,
        "LOT-B",
        DAY + dt.timedelta(days=60),
        doses=10,
        today=TODAY,
    )
    db.session.commit()
    people = [_book(world, slot_index=i % 2) for i in range(4)]
    for booking in people[:3]:
        _check_in(world, booking)
        _screen(world, booking)
    doses = [_dose(world, b) for b in people[:2]]
    walk_in = _walk_in(world, "3171010505850003")
    _screen(world, walk_in)
    _dose(world, walk_in, at=AT_0930)
    run_in_transaction(
        lambda: void_dose(
            doses[1].ledger.administration.id, "dicatat dua kali", actor=world.staff, now=AT_0930
        )
    )
    _screen(world, people[2], ScreeningOutcome.DO_NOT_VACCINATE, at=AT_0930)
    result = run_in_transaction(
        lambda: close_day(world.venues[0].id, DAY, actor=world.staff, now=EVENING)
    )
    assert result.close.summary["no_shows_marked"] == 1
    assert _status(people[3]) == BookingStatus.NO_SHOW
    assert result.close.summary["voided"] == 1
    assert result.close.summary["vial_doses_wasted"] > 0
    assert (
        db.session.scalar(sa.select(VialOpening.id).where(VialOpening.closed_at.is_(None))) is None
    )
    assert_consistent()
