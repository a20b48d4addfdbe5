"""Concurrency on PostgreSQL: real threads, each with its own app context, session and
connection (as the app role, so under RLS), real commits.

The ledger must never oversell seats or doses however the requests interleave, and no
deadlock or lock error may reach a caller (run_in_transaction retries, then "busy").
A control test runs a naive count-then-insert booking under the same harness and shows
it oversells: proof that the harness can catch what the ledger prevents.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from core.errors import DomainError
from core.extensions import db
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.models import Person
from tenants.booking.recount import recount_stock
from tenants.booking.services import book_slot
from tenants.booking.services import cancel_booking
from tenants.booking.services import person_with_nik
from tenants.booking.services import reschedule_booking
from tenants.booking.transaction import run_in_transaction
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot
from tenants.campaigns.services import set_slot_capacity
from tests.conftest import racing_app
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import counters
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_tenant

pytestmark = pytest.mark.postgres

THREADS = 200
#: the codes a person may see under contention; anything else is a bug
EXPECTED = {"slot_full", "no_doses", "not_active"}
NIK = "3171044505910002"


@pytest.fixture
def pg_app(postgres, tmp_path):
    # more connections than cores: requests really wait on each other's locks
    yield from racing_app(postgres, tmp_path, 24)


def _setup(*, capacity: int, doses: int, people: int, slots: int = 1):
    """A tenant with one venue, ``slots`` slots of ``capacity`` seats, ``doses`` doses."""
    tenant = make_tenant()
    with tenant_context(tenant):
        world = build_world(venues=1, stations=1, doses=doses, days=1, slot_minutes=30)
        slot_ids = [s.id for s in world.slots()][:slots]
        for slot_id in slot_ids:
            set_slot_capacity(slot_id, capacity)
        person_ids = [make_person().id for _ in range(people)]
        db.session.commit()
        venue, product, campaign_id = world.venues[0], world.product, world.campaign.id
        ids = {"venue": venue.id, "product": product.id}
    return tenant.id, campaign_id, slot_ids, person_ids, ids, world


def hammer(app, tenant_id, jobs: list[Callable[[], object]]) -> collections.Counter:
    """Run each job in its own thread (own app context, session, connection) through
    run_in_transaction, all released at once; count outcomes."""
    outcomes: collections.Counter = collections.Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(len(jobs))

    def worker(job):
        with app.app_context():
            try:
                barrier.wait()
                with tenant_context(tenant_id):
                    run_in_transaction(job)
                outcome = "ok"
            except DomainError as exc:
                outcome = exc.code
            except Exception as exc:  # a deadlock or lock error reaching the caller
                outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            finally:
                db.session.remove()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return outcomes


def _campaign(tenant_id, campaign_id):
    return db.session.get(Campaign, (tenant_id, campaign_id))


def _booker(tenant_id, campaign_id, slot_id, person_id):
    return lambda: book_slot(_campaign(tenant_id, campaign_id), slot_id, person_id, now=BEFORE)


def _state(tenant_id, world):
    with tenant_context(tenant_id):
        db.session.expire_all()
        active = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Booking)
            .where(Booking.status.in_([BookingStatus.BOOKED, BookingStatus.ARRIVED]))
        )
        booked = list(db.session.scalars(sa.select(Slot.booked).order_by(Slot.id)))
        stock = counters(world.venues[0], world.product)
        drifts = recount_stock()
        db.session.rollback()
    return active, booked, stock, drifts


def test_200_threads_50_seats_exactly_50_bookings(pg_app):
    tenant_id, campaign_id, (slot_id,), people, _, world = _setup(
        capacity=50, doses=1000, people=THREADS
    )
    outcomes = hammer(
        pg_app, tenant_id, [_booker(tenant_id, campaign_id, slot_id, p) for p in people]
    )
    assert outcomes == {"ok": 50, "slot_full": 150}, outcomes
    active, booked, stock, drifts = _state(tenant_id, world)
    assert (active, max(booked), stock, drifts) == (50, 50, (1000, 50), [])


def test_200_threads_100_seats_30_doses_exactly_30_bookings(pg_app):
    tenant_id, campaign_id, (slot_id,), people, _, world = _setup(
        capacity=100, doses=30, people=THREADS
    )
    outcomes = hammer(
        pg_app, tenant_id, [_booker(tenant_id, campaign_id, slot_id, p) for p in people]
    )
    assert outcomes == {"ok": 30, "no_doses": 170}, outcomes
    active, booked, stock, drifts = _state(tenant_id, world)
    assert (active, max(booked), stock, drifts) == (30, 30, (30, 30), [])


def test_books_cancels_and_crossed_reschedules_end_consistent(pg_app):
    """Bookers, cancellers and reschedulers moving A→B and B→A at once: the fixed lock
    order (slots by id, then stock) means no deadlock; counters end equal to the rows."""
    tenant_id, campaign_id, slots, people, _, world = _setup(
        capacity=40, doses=150, people=THREADS, slots=3
    )
    a, b, c = slots
    with tenant_context(tenant_id):
        existing = []
        for i, person in enumerate(people[:90]):
            campaign = _campaign(tenant_id, campaign_id)
            slot = (a, b, c)[i % 3]
            existing.append((slot, book_slot(campaign, slot, person, now=BEFORE).id))
        db.session.commit()
    jobs = []
    for _slot, booking_id in existing[:30]:  # cancel 30 (and some of them twice)
        jobs.append(lambda b_id=booking_id: cancel_booking(b_id))
    for slot, booking_id in existing[20:60]:  # 40 crossed reschedules
        target = b if slot == a else a
        jobs.append(lambda b_id=booking_id, t=target: reschedule_booking(b_id, t, now=BEFORE))
    for person in people[90:]:  # 110 new bookings into the three slots
        jobs.append(_booker(tenant_id, campaign_id, (a, b, c)[hash(person) % 3], person))
    outcomes = hammer(pg_app, tenant_id, jobs)
    unexpected = {k: v for k, v in outcomes.items() if k != "ok" and k not in EXPECTED}
    assert unexpected == {}, outcomes
    active, booked, stock, drifts = _state(tenant_id, world)
    assert drifts == [], [str(d) for d in drifts]
    assert all(n <= 40 for n in booked) and sum(booked) == active
    assert stock == (150, active)
    assert outcomes["ok"] > 60  # real work happened, not just refusals


# --------------------------------------------------------------------------- control


def _naive_book(tenant_id, campaign_id, slot_id, person_id, venue_id, product_id):
    """CONTROL, deliberately wrong: count the slot's bookings, then insert if there is
    room — no counter, no lock (what the ledger must never do). The sleep stands for
    the work any real request does between its read and its write."""

    def job():
        capacity = db.session.execute(
            sa.select(Slot.capacity).where(Slot.id == slot_id)
        ).scalar_one()
        count = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Booking)
            .where(Booking.slot_id == slot_id, Booking.status == BookingStatus.BOOKED)
        )
        if count >= capacity:
            raise DomainError("full", code="slot_full")
        time.sleep(0.002)
        db.session.add(
            Booking(
                id=uuid.uuid4(),
                person_id=person_id,
                campaign_id=campaign_id,
                slot_id=slot_id,
                venue_id=venue_id,
                product_id=product_id,
                dose_number=1,
            )
        )
        db.session.flush()

    return job


def test_racing_registrations_of_one_nik_leave_one_person(pg_app):
    """The booking page, the API and the walk-in desk register people with one
    INSERT … ON CONFLICT DO NOTHING: 50 requests with one NIK at once give one row, one
    ``created`` and 49 answers naming that row, and no error."""
    tenant = make_tenant()
    db.session.commit()
    answers: list[tuple[uuid.UUID, bool]] = []

    def register():
        person, created = person_with_nik("Siti Rahma", dt.date(1991, 5, 4), nik=NIK)
        answers.append((person.id, created))

    outcomes = hammer(pg_app, tenant.id, [register] * 50)
    assert outcomes == {"ok": 50}
    with tenant_context(tenant.id):
        ids = list(db.session.scalars(sa.select(Person.id)))
        db.session.rollback()
    assert len(ids) == 1
    assert sorted(created for _, created in answers) == [False] * 49 + [True]
    assert {person_id for person_id, _ in answers} == set(ids)


def test_control_naive_count_then_insert_oversells_under_the_same_harness(pg_app):
    """CONTROL: not a test of Sentra's code. It shows the harness above is able to catch
    overselling: the naive variant books more than the 50 seats under the same threads."""
    tenant_id, campaign_id, (slot_id,), people, ids, _ = _setup(
        capacity=50, doses=1000, people=THREADS
    )
    outcomes = hammer(
        pg_app,
        tenant_id,
        [
            _naive_book(tenant_id, campaign_id, slot_id, p, ids["venue"], ids["product"])
            for p in people
        ],
    )
    assert outcomes["ok"] > 50, outcomes  # oversold: the harness sees it


def test_a_held_lock_becomes_busy_after_bounded_retries_then_booking_works(
    pg_app, postgres, monkeypatch
):
    """Someone holds the slot's row lock: the booking waits lock_timeout, is retried a
    bounded number of times (real SQLSTATE 55P03 from PostgreSQL), then says "busy" —
    and took nothing. Once the lock is gone the same booking succeeds."""
    import psycopg

    from tenants.booking.services import BookingError
    from tenants.stock import locks

    monkeypatch.setattr(locks, "LOCK_TIMEOUT", "100ms")
    tenant_id, campaign_id, (slot_id,), people, _, world = _setup(capacity=5, doses=5, people=1)
    attempts = []
    real = locks.is_retryable

    def counting(exc):
        attempts.append(type(exc).__name__)
        return real(exc)

    monkeypatch.setattr("tenants.booking.transaction.is_retryable", counting)
    holder = psycopg.connect(postgres["owner_url"].replace("+psycopg", ""))
    try:
        holder.execute("UPDATE slot SET booked = booked WHERE id = %s", (slot_id,))
        with tenant_context(tenant_id), pytest.raises(BookingError) as exc:
            run_in_transaction(_booker(tenant_id, campaign_id, slot_id, people[0]), attempts=3)
        assert exc.value.code == "busy" and exc.value.status == 503
        assert len(attempts) == 3
    finally:
        holder.rollback()
        holder.close()
    active, booked, stock, drifts = _state(tenant_id, world)
    assert (active, booked, stock, drifts) == (0, [0] * len(booked), (5, 0), [])
    with tenant_context(tenant_id):
        run_in_transaction(_booker(tenant_id, campaign_id, slot_id, people[0]))
    assert _state(tenant_id, world)[0] == 1
