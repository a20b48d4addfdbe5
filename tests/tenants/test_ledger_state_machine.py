"""A hypothesis state machine drives random sequences of every ledger operation.

After every step: each counter (stock on_hand/promised, lot on_hand, slot booked,
walk-in used) equals its recount from the rows, and the database constraints
(0 <= promised <= on_hand, 0 <= booked <= capacity, used <= allowance) were never
violated (a violation raises IntegrityError, which fails the step). Refusals
(slot full, no doses, promised doses, ...) are expected and must take nothing — the
recount after the refused step proves that too.

Runs on SQLite and on PostgreSQL (under RLS, as the app role), each example in a
fresh tenant.
"""

from __future__ import annotations

import collections
import datetime as dt

import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import initialize
from hypothesis.stateful import invariant
from hypothesis.stateful import rule
from hypothesis.stateful import run_state_machine_as_test

from core.errors import DomainError
from core.extensions import db
from core.tenancy import tenant_context
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.recount import recount_stock
from tenants.booking.services import book_slot
from tenants.booking.services import cancel_booking
from tenants.booking.services import mark_no_show
from tenants.booking.services import record_administration
from tenants.booking.services import register_walk_in
from tenants.booking.services import reschedule_booking
from tenants.booking.services import void_administration
from tenants.booking.transaction import run_in_transaction
from tenants.stock.models import Lot
from tenants.stock.services import expire_lots
from tenants.stock.services import receive_lot
from tenants.stock.services import record_waste
from tenants.stock.services import transfer_doses
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import FAR_EXPIRY
from tests.tenants.ledger_support import LATER
from tests.tenants.ledger_support import ON_DAY_ONE
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import TODAY
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_tenant
from tests.tenants.ledger_support import short_interval_product

#: what the runs did, summed over examples: proves the machine is not vacuous
OUTCOMES: collections.Counter = collections.Counter()

EXPIRIES = (dt.date(2030, 1, 8), FAR_EXPIRY)
index = st.integers(min_value=0, max_value=50)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tenant = make_tenant()
        with tenant_context(self.tenant):
            # 2 venues x 3 days x 2 one-hour slots of 2 seats; interval 1 day, so
            # administering dose 1 on day one auto-books dose 2 on day two.
            self.world = build_world(
                venues=2, stations=2, doses=4, days=3, interval_days=1, walk_ins=2
            )
            self.other_product = short_interval_product()
            self.people = [make_person().id for _ in range(6)]
            self.slots = [s.id for s in self.world.slots()]
            self.venues = [v.id for v in self.world.venues]
            # the campaign's product twice: most stock goes where bookings can use it
            self.products = [self.world.product.id, self.world.product.id, self.other_product.id]
            db.session.commit()

    # ------------------------------------------------------------ helpers

    def _do(self, name, fn):
        with tenant_context(self.tenant):
            try:
                result = run_in_transaction(fn)
            except DomainError as exc:
                OUTCOMES[f"{name}:{exc.code}"] += 1
                return None
            OUTCOMES[name] += 1
            return result

    def _ids(self, query):
        with tenant_context(self.tenant):
            ids = list(db.session.scalars(query))
            db.session.rollback()
        return ids

    def _pick(self, ids, i):
        return ids[i % len(ids)] if ids else None

    def _lots(self):
        return self._ids(sa.select(Lot.id).order_by(Lot.id))

    def _bookings(self, *, active: bool = False):
        """Bookings to act on; mostly the active ones (where something can happen), but
        sometimes any, so refusals of finished bookings are exercised too."""
        query = sa.select(Booking.id).order_by(Booking.id)
        if active:
            query = query.where(Booking.status.in_(["booked", "arrived"]))
        return self._ids(query)

    @initialize(first=index, second=index)
    def some_bookings(self, first, second):
        """Start every example with two bookings, so the short runs of a fast suite still
        reach cancels, reschedules, administrations and voids."""
        for i, slot in ((0, first), (1, second)):
            self.book(i, slot)

    # ------------------------------------------------------------ stock rules

    @rule(v=index, p=index, doses=st.integers(1, 6), e=st.sampled_from(EXPIRIES))
    def receive(self, v, p, doses, e):
        venue, product = self._pick(self.venues, v), self._pick(self.products, p)
        self._do("receive", lambda: receive_lot(venue, product, "B", e, doses=doses, today=TODAY))

    @rule(lot=index, v=index, doses=st.integers(1, 3))
    def transfer(self, lot, v, doses):
        lot_id = self._pick(self._lots(), lot)
        if lot_id:
            venue = self._pick(self.venues, v)
            self._do("transfer", lambda: transfer_doses(lot_id, venue, doses))

    @rule(lot=index, doses=st.integers(1, 2))
    def waste(self, lot, doses):
        lot_id = self._pick(self._lots(), lot)
        if lot_id:
            self._do("waste", lambda: record_waste(lot_id, doses, "broken vial"))

    @rule(days=st.integers(0, 3))
    def expire(self, days):
        self._do("expire", lambda: expire_lots(today=START + dt.timedelta(days=days)))

    # ------------------------------------------------------------ booking rules

    @rule(person=index, slot=index)
    def book(self, person, slot):
        who, where = self._pick(self.people, person), self._pick(self.slots, slot)

        def fn():
            return book_slot(self.world.campaign_in_session(), where, who, now=BEFORE)

        self._do("book", fn)

    @rule(b=index, active=st.booleans())
    def cancel(self, b, active):
        booking = self._pick(self._bookings(active=active), b)
        if booking:
            self._do("cancel", lambda: cancel_booking(booking))

    @rule(b=index, slot=index, active=st.booleans())
    def reschedule(self, b, slot, active):
        booking = self._pick(self._bookings(active=active), b)
        where = self._pick(self.slots, slot)
        if booking:
            self._do("reschedule", lambda: reschedule_booking(booking, where, now=BEFORE))

    @rule(person=index, v=index)
    def walk_in(self, person, v):
        who, venue = self._pick(self.people, person), self._pick(self.venues, v)

        def fn():
            campaign = self.world.campaign_in_session()
            return register_walk_in(campaign, venue, who, now=ON_DAY_ONE)

        self._do("walk_in", fn)

    @rule(b=index, lot=index, matching=st.booleans())
    def administer(self, b, lot, matching):
        booking = self._pick(self._bookings(active=matching), b)
        if booking is None:
            return
        query = sa.select(Lot.id).order_by(Lot.id)
        if matching:  # a lot of the booking's vaccine at its venue (else any lot)
            query = query.join(
                Booking,
                sa.and_(Booking.venue_id == Lot.venue_id, Booking.product_id == Lot.product_id),
            ).where(Booking.id == booking)
        lot_id = self._pick(self._ids(query), lot)
        if lot_id:
            result = self._do(
                "administer", lambda: record_administration(booking, lot_id, now=ON_DAY_ONE)
            )
            if result is not None:
                OUTCOMES[f"next_dose:{result.next_dose_note or 'booked'}"] += 1

    @rule(a=index)
    def void(self, a):
        ids = self._ids(sa.select(Administration.id).order_by(Administration.id))
        admin = self._pick(ids, a)
        if admin:
            self._do("void", lambda: void_administration(admin, "recorded in error"))

    @rule(b=index, active=st.booleans())
    def no_show(self, b, active):
        booking = self._pick(self._bookings(active=active), b)
        if booking:
            self._do("no_show", lambda: mark_no_show(booking, now=LATER))

    # ------------------------------------------------------------ the proof

    @invariant()
    def counters_equal_rows(self):
        with tenant_context(self.tenant):
            drifts = recount_stock()
            db.session.rollback()
        assert drifts == [], [str(d) for d in drifts]

    @invariant()
    def no_session_left_dirty(self):
        assert not db.session.new and not db.session.dirty


def _run(examples: int, steps: int) -> None:
    OUTCOMES.clear()
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,  # no .hypothesis/ in the tree (pytest would warn, warnings fail)
        ),
    )
    # Not vacuous: the runs booked, administered (with second doses), cancelled and
    # were refused for the reasons the ledger exists for.
    assert OUTCOMES["book"] > 0 and OUTCOMES["receive"] > 0, sorted(OUTCOMES.items())
    moved = sum(OUTCOMES[k] for k in ("cancel", "reschedule", "administer", "no_show", "void"))
    assert moved > 0, sorted(OUTCOMES.items())


def test_ledger_state_machine(app):
    _run(examples=8 if db.engine.dialect.name == "sqlite" else 6, steps=25)
