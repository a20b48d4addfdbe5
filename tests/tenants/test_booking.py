"""The ledger services one by one: what each takes, what each refuses, what it says."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import TenantStatus
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.booking.models import BookingSource
from tenants.booking.models import BookingStatus
from tenants.booking.models import Person
from tenants.booking.models import WaitlistStatus
from tenants.booking.services import BookingError
from tenants.booking.services import accept_offer
from tenants.booking.services import availability
from tenants.booking.services import book_slot
from tenants.booking.services import cancel_booking
from tenants.booking.services import expire_offers
from tenants.booking.services import find_person_by_nik
from tenants.booking.services import join_waitlist
from tenants.booking.services import mark_no_show
from tenants.booking.services import offer_freed_seat
from tenants.booking.services import person_with_nik
from tenants.booking.services import record_administration
from tenants.booking.services import register_person
from tenants.booking.services import register_walk_in
from tenants.booking.services import reschedule_booking
from tenants.booking.services import void_administration
from tenants.booking.transaction import run_in_transaction
from tenants.stock.models import Lot
from tenants.stock.models import MovementKind
from tenants.stock.models import StockMovement
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import ON_DAY_ONE
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import assert_consistent
from tests.tenants.ledger_support import booked
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import counters
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_tenant


@pytest.fixture
def world(app):
    tenant = make_tenant()
    with tenant_context(tenant):
        yield build_world(venues=2, stations=2, doses=3)


def _lot(world, venue):
    return db.session.scalar(sa.select(Lot).where(Lot.venue_id == venue.id))


def test_booking_takes_a_seat_and_a_dose(world):
    person = make_person()
    slot = world.slots(world.venues[0])[0]
    booking = book_slot(world.campaign, slot.id, person.id, now=BEFORE)
    assert booking.status == BookingStatus.BOOKED and booking.venue_id == world.venues[0].id
    assert booked(slot) == 1
    assert counters(world.venues[0], world.product) == (3, 1)
    assert counters(world.venues[1], world.product) == (3, 0)
    assert_consistent()


def test_full_slot_takes_no_dose_and_says_so(world):
    slot = world.slots(world.venues[0])[0]  # 2 seats
    for _ in range(2):
        book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    db.session.commit()
    with pytest.raises(BookingError) as exc:
        run_in_transaction(lambda: book_slot(world.campaign, slot.id, make_person().id, now=BEFORE))
    assert exc.value.code == "slot_full"
    assert "full" in exc.value.message
    assert counters(world.venues[0], world.product) == (3, 2)
    assert booked(slot) == 2
    assert_consistent()


def test_no_doses_takes_no_seat_and_says_so(world):
    slots = world.slots(world.venues[0])
    for slot in slots[:3]:
        book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    db.session.commit()
    with pytest.raises(BookingError) as exc:
        run_in_transaction(
            lambda: book_slot(world.campaign, slots[3].id, make_person().id, now=BEFORE)
        )
    assert exc.value.code == "no_doses"
    assert "No doses left at this venue" in exc.value.message
    assert booked(slots[3]) == 0
    assert counters(world.venues[0], world.product) == (3, 3)
    assert_consistent()


def test_duplicate_booking_says_what_collided_and_how_to_get_help(world):
    person = make_person()
    slots = world.slots(world.venues[0])
    book_slot(world.campaign, slots[0].id, person.id, now=BEFORE)
    with pytest.raises(BookingError) as exc:
        book_slot(world.campaign, slots[1].id, person.id, now=BEFORE)
    assert exc.value.code == "duplicate_booking"
    assert "dose 1" in exc.value.message and "contact the organiser" in exc.value.message
    assert "reschedule" in exc.value.message


def test_partial_unique_index_is_the_real_guard(world):
    """Past the friendly check (a race), the database still refuses a second active booking."""
    person = make_person()
    slots = world.slots(world.venues[0])
    first = book_slot(world.campaign, slots[0].id, person.id, now=BEFORE)
    db.session.commit()
    db.session.add(
        Booking(
            person_id=person.id,
            campaign_id=world.campaign.id,
            slot_id=slots[1].id,
            venue_id=first.venue_id,
            product_id=first.product_id,
            dose_number=1,
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    # A cancelled booking does not count: the person can book again.
    with tenant_context(world.tenant):
        cancel_booking(first.id)
        again = book_slot(world.campaign, slots[1].id, person.id, now=BEFORE)
        assert again.status == BookingStatus.BOOKED
        assert_consistent()


def test_booking_window_state_and_age_are_checked(world):
    slot = world.slots()[0]
    world.campaign.opens_at = BEFORE + dt.timedelta(hours=1)
    with pytest.raises(BookingError) as exc:
        book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    assert exc.value.code == "not_open"
    world.campaign.opens_at = None
    child = make_person(born=dt.date(2025, 1, 1))
    world.campaign.min_age_years = 12
    with pytest.raises(BookingError) as exc:
        book_slot(world.campaign, slot.id, child.id, now=BEFORE)
    assert exc.value.code == "age_limit"
    with pytest.raises(BookingError) as exc:
        book_slot(world.campaign, slot.id, make_person().id, now=slot.starts_at)
    assert exc.value.code == "not_open"
    with pytest.raises(BookingError) as exc:
        book_slot(world.campaign, slot.id, make_person().id, dose_number=3, now=BEFORE)
    assert exc.value.code == "dose_not_offered"
    world.tenant.status = TenantStatus.SUSPENDED
    with pytest.raises(BookingError) as exc:
        book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    assert exc.value.code == "not_open"


def test_cancel_returns_seat_and_dose(world):
    slot = world.slots()[0]
    booking = book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    cancelled = cancel_booking(booking.id)
    assert cancelled.status == BookingStatus.CANCELLED and cancelled.cancelled_at
    assert booked(slot) == 0
    assert counters(world.venues[0], world.product) == (3, 0)
    with pytest.raises(BookingError) as exc:
        cancel_booking(booking.id)
    assert exc.value.code == "not_active"
    assert_consistent()


def test_reschedule_moves_seat_and_keeps_old_one_when_new_is_full(world):
    person = make_person()
    a_slots = world.slots(world.venues[0])
    booking = book_slot(world.campaign, a_slots[0].id, person.id, now=BEFORE)
    moved = reschedule_booking(booking.id, a_slots[1].id, now=BEFORE)
    assert moved.slot_id == a_slots[1].id
    assert (booked(a_slots[0]), booked(a_slots[1])) == (0, 1)
    db.session.commit()
    # fill slot 2 and try to move there: the booking keeps slot 1
    book_slot(world.campaign, a_slots[2].id, make_person().id, now=BEFORE)
    book_slot(world.campaign, a_slots[2].id, make_person().id, now=BEFORE)
    db.session.commit()
    with pytest.raises(BookingError) as exc:
        run_in_transaction(lambda: reschedule_booking(booking.id, a_slots[2].id, now=BEFORE))
    assert exc.value.code == "slot_full"
    assert db.session.get(Booking, (world.tenant.id, booking.id)).slot_id == a_slots[1].id
    assert booked(a_slots[1]) == 1
    assert_consistent()


def test_reschedule_to_another_venue_moves_the_promise(world):
    a_slot = world.slots(world.venues[0])[0]
    b_slot = world.slots(world.venues[1])[0]
    booking = book_slot(world.campaign, a_slot.id, make_person().id, now=BEFORE)
    reschedule_booking(booking.id, b_slot.id, now=BEFORE)
    assert counters(world.venues[0], world.product) == (3, 0)
    assert counters(world.venues[1], world.product) == (3, 1)
    assert_consistent()


def test_no_show_only_after_the_slot_started(world):
    slot = world.slots()[0]
    booking = book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    with pytest.raises(BookingError) as exc:
        mark_no_show(booking.id, now=BEFORE)
    assert exc.value.code == "too_early"
    result = mark_no_show(booking.id, now=slot.starts_at + dt.timedelta(minutes=30))
    assert result.status == BookingStatus.NO_SHOW
    assert booked(slot) == 0 and counters(world.venues[0], world.product) == (3, 0)
    assert_consistent()


def test_walk_ins_take_the_days_allowance_and_a_dose(world):
    venue = world.venues[0]
    for _ in range(2):
        walk_in = register_walk_in(world.campaign, venue.id, make_person().id, now=ON_DAY_ONE)
        assert walk_in.status == BookingStatus.ARRIVED and walk_in.source == BookingSource.WALK_IN
    db.session.commit()
    with pytest.raises(BookingError) as exc:
        run_in_transaction(
            lambda: register_walk_in(world.campaign, venue.id, make_person().id, now=ON_DAY_ONE)
        )
    assert exc.value.code == "walk_ins_full"
    assert counters(venue, world.product) == (3, 2)
    # a cancelled walk-in gives its place back
    cancel_booking(walk_in.id)
    register_walk_in(world.campaign, venue.id, make_person().id, now=ON_DAY_ONE)
    assert_consistent()
    with pytest.raises(BookingError) as exc:
        register_walk_in(world.campaign, venue.id, make_person().id, now=BEFORE)
    assert exc.value.code == "not_open"  # the campaign does not run that day


def test_administration_consumes_a_dose_and_books_the_next_at_once(world):
    venue = world.venues[0]
    person = make_person()
    slot = world.slots(venue)[0]  # Monday 08:00 Jakarta
    booking = book_slot(world.campaign, slot.id, person.id, now=BEFORE)
    lot = _lot(world, venue)
    result = record_administration(booking.id, lot.id, now=ON_DAY_ONE)
    assert result.next_dose_note is None
    second = result.next_booking
    assert second.dose_number == 2 and second.source == BookingSource.SECOND_DOSE
    assert second.venue_id == venue.id and second.follows_booking_id == booking.id
    # two days later (the interval), the first slot that day: Wednesday 08:00 WIB
    second_slot = next(s for s in world.slots(venue) if s.id == second.slot_id)
    assert second_slot.starts_at == dt.datetime(2030, 1, 9, 1, tzinfo=dt.UTC)
    assert result.next_due == START + dt.timedelta(days=2)
    # the dose left stock, its promise went, the second dose is promised
    assert counters(venue, world.product) == (2, 1)
    db.session.refresh(lot)
    assert lot.on_hand == 2
    assert db.session.get(Booking, (world.tenant.id, booking.id)).status == "vaccinated"
    # the stock movement is dated when the dose was given, as the administration is
    given = db.session.scalar(
        sa.select(StockMovement.at).where(
            StockMovement.lot_id == lot.id, StockMovement.kind == MovementKind.ADMINISTERED
        )
    )
    assert given == ON_DAY_ONE
    assert_consistent()


def test_when_no_slot_is_left_the_result_says_the_next_dose_is_not_booked(app):
    tenant = make_tenant()
    with tenant_context(tenant):
        world = build_world(venues=1, days=1, doses=5)  # one day: no slot two days later
        booking = book_slot(world.campaign, world.slots()[0].id, make_person().id, now=BEFORE)
        result = record_administration(booking.id, _lot(world, world.venues[0]).id, now=ON_DAY_ONE)
        assert result.next_booking is None and result.next_dose_note == "no_slot"
        assert "NOT booked" in result.message
        assert counters(world.venues[0], world.product) == (4, 0)
        assert_consistent()


def test_when_no_dose_is_free_the_next_dose_is_not_booked_but_the_first_is_recorded(world):
    venue = world.venues[0]
    slots = world.slots(venue)
    bookings = [book_slot(world.campaign, s.id, make_person().id, now=BEFORE) for s in slots[:3]]
    result = record_administration(bookings[0].id, _lot(world, venue).id, now=ON_DAY_ONE)
    assert result.next_booking is None and result.next_dose_note == "no_doses"
    assert counters(venue, world.product) == (2, 2)
    assert_consistent()


def test_administration_refuses_a_lot_from_elsewhere_or_expired(world):
    booking = book_slot(
        world.campaign, world.slots(world.venues[0])[0].id, make_person().id, now=BEFORE
    )
    other = _lot(world, world.venues[1])
    with pytest.raises(BookingError) as exc:
        record_administration(booking.id, other.id, now=ON_DAY_ONE)
    assert exc.value.code == "lot_unusable"
    lot = _lot(world, world.venues[0])
    lot.expiry_date = START
    db.session.flush()
    with pytest.raises(BookingError) as exc:
        record_administration(booking.id, lot.id, now=ON_DAY_ONE)
    assert exc.value.code == "lot_unusable" and "expired" in exc.value.message


def test_void_administration_returns_the_dose_and_cancels_the_auto_booked_next(world):
    venue = world.venues[0]
    booking = book_slot(world.campaign, world.slots(venue)[0].id, make_person().id, now=BEFORE)
    lot = _lot(world, venue)
    result = record_administration(booking.id, lot.id, now=ON_DAY_ONE)
    with pytest.raises(BookingError):
        void_administration(result.administration.id, " ")
    back = void_administration(result.administration.id, "recorded for the wrong person")
    assert back.status == BookingStatus.ARRIVED
    second = db.session.get(Booking, (world.tenant.id, result.next_booking.id))
    db.session.refresh(second)
    assert second.status == BookingStatus.CANCELLED
    assert counters(venue, world.product) == (3, 1)
    db.session.refresh(result.administration)
    assert result.administration.voided_at and result.administration.void_reason
    with pytest.raises(BookingError) as exc:
        void_administration(result.administration.id, "again")
    assert exc.value.code == "not_active"
    assert_consistent()


def test_availability_is_min_of_seats_and_doses(world):
    venue = world.venues[0]
    rows = availability(world.campaign, venue.id, START)
    assert [r.seats_free for r in rows] == [2, 2]
    assert [r.bookable for r in rows] == [2, 2]
    book_slot(world.campaign, rows[0].slot_id, make_person().id, now=BEFORE)
    book_slot(world.campaign, rows[1].slot_id, make_person().id, now=BEFORE)
    rows = availability(world.campaign, venue.id, START)
    assert [(r.seats_free, r.doses_free, r.bookable) for r in rows] == [(1, 1, 1), (1, 1, 1)]
    assert availability(world.campaign, venue.id, START - dt.timedelta(days=1)) == []


def test_waitlist_offers_freed_seats_in_turn_and_moves_on(world):
    venue = world.venues[0]
    day_slots = [r.slot_id for r in availability(world.campaign, venue.id, START)]
    with pytest.raises(BookingError) as exc:
        join_waitlist(world.campaign, venue.id, START, make_person().id, now=BEFORE)
    assert exc.value.code == "seats_available"
    # 4 seats that day but 3 doses at the venue: after 3 bookings nothing is bookable
    holders = [
        book_slot(world.campaign, slot_id, make_person().id, now=BEFORE)
        for slot_id in (day_slots[0], day_slots[0], day_slots[1])
    ]
    assert sum(r.bookable for r in availability(world.campaign, venue.id, START)) == 0
    first, second = make_person(), make_person()
    entry1 = join_waitlist(world.campaign, venue.id, START, first.id, now=BEFORE)
    entry2 = join_waitlist(world.campaign, venue.id, START, second.id, now=BEFORE)
    assert offer_freed_seat(world.campaign, venue.id, START, now=BEFORE) == []
    cancel_booking(holders[0].id)
    offered = offer_freed_seat(world.campaign, venue.id, START, now=BEFORE)
    assert [e.id for e in offered] == [entry1.id]
    assert entry1.offer_expires_at == BEFORE + dt.timedelta(hours=2)
    # nobody answers: the offer expires and moves on to the next person
    later = BEFORE + dt.timedelta(hours=3)
    assert expire_offers(now=later) == 1
    db.session.refresh(entry1)
    db.session.refresh(entry2)
    assert entry1.status == WaitlistStatus.EXPIRED and entry2.status == WaitlistStatus.OFFERED
    with pytest.raises(BookingError) as exc:
        accept_offer(entry1.id, day_slots[0], now=later)
    assert exc.value.code == "offer_expired"
    booking = accept_offer(entry2.id, day_slots[0], now=later)
    assert booking.source == BookingSource.WAITLIST
    assert entry2.status == WaitlistStatus.ACCEPTED and entry2.booking_id == booking.id
    assert_consistent()


def test_person_nik_is_encrypted_and_found_by_blind_index(world):
    person = register_person(
        "Siti Rahma",
        dt.date(1991, 5, 4),
        nik="3171 0445 0591 0002",
        email="Siti@Example.id",
        phone="0812",
    )
    db.session.commit()
    raw = db.session.execute(
        sa.select(Person.nik_encrypted, Person.nik_bidx).where(Person.id == person.id)
    ).one()
    assert "3171044505910002" not in raw.nik_encrypted and raw.nik_bidx
    assert person.nik == "3171044505910002" and person.nik_masked == "3171********0002"
    assert person.email == "siti@example.id"
    assert find_person_by_nik("3171044505910002").id == person.id
    with pytest.raises(BookingError) as exc:
        register_person("Someone Else", dt.date(1980, 1, 1), nik="3171044505910002")
    assert exc.value.code == "duplicate_person"
    with pytest.raises(BookingError) as exc:
        register_person("Typo", dt.date(1980, 1, 1), nik="12345")
    assert exc.value.code == "invalid_nik"


def test_person_with_nik_registers_once_and_then_answers_the_registered_person(world):
    first, created = person_with_nik("Siti Rahma", dt.date(1991, 5, 4), nik="3171044505910002")
    assert created and first.nik == "3171044505910002"
    # the new person is usable at once, without a flush or a read back
    assert first.full_name == "Siti Rahma" and first.locale == "id" and first.created_at
    db.session.commit()
    again, created = person_with_nik(
        "Someone Else", dt.date(1980, 1, 1), nik="3171 0445 0591 0002", phone="0812"
    )
    assert not created and again.id == first.id
    # the registered person's details are not touched by the second caller's
    assert again.full_name == "Siti Rahma" and again.phone is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 1


def test_void_releases_a_moved_second_dose_where_it_is_now(world):
    """Found by the state machine: the auto-booked second dose was moved to another
    venue, then the first dose voided; the promise must be released at the new venue."""
    a, b = world.venues
    booking = book_slot(world.campaign, world.slots(a)[0].id, make_person().id, now=BEFORE)
    result = record_administration(booking.id, _lot(world, a).id, now=ON_DAY_ONE)
    reschedule_booking(result.next_booking.id, world.slots(b)[-1].id, now=BEFORE)
    assert counters(a, world.product) == (2, 0) and counters(b, world.product) == (3, 1)
    void_administration(result.administration.id, "wrong person")
    assert counters(a, world.product) == (3, 1) and counters(b, world.product) == (3, 0)
    assert_consistent()
