"""Stock: receiving, transfers, waste, expiry, the catalogue and the recount."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from tenants.booking.recount import recount_stock
from tenants.booking.services import book_slot
from tenants.booking.services import cancel_booking
from tenants.stock.models import IntervalRule
from tenants.stock.models import Lot
from tenants.stock.models import MovementKind
from tenants.stock.models import Product
from tenants.stock.models import Stock
from tenants.stock.models import StockMovement
from tenants.stock.services import StockError
from tenants.stock.services import expire_lots
from tenants.stock.services import get_product
from tenants.stock.services import interval_rule_for
from tenants.stock.services import receive_lot
from tenants.stock.services import record_waste
from tenants.stock.services import transfer_doses
from tenants.stock.services import visible_products
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import FAR_EXPIRY
from tests.tenants.ledger_support import TODAY
from tests.tenants.ledger_support import assert_consistent
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import counters
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_tenant
from tests.tenants.ledger_support import make_venue
from tests.tenants.ledger_support import platform_product
from tests.tenants.ledger_support import short_interval_product


@pytest.fixture
def tenant(app):
    tenant = make_tenant()
    with tenant_context(tenant):
        yield tenant


def test_catalogue_is_seeded_with_the_domain_vaccines_and_dated_rules(tenant):
    names = set(
        db.session.scalars(sa.select(Product.name).where(Product.owner_tenant_id.is_(None)))
    )
    assert {
        "CoronaVac",
        "Sinopharm",
        "AstraZeneca",
        "Moderna",
        "Pfizer-BioNTech",
        "Novavax",
    } <= names
    pfizer = platform_product()
    assert (pfizer.doses_per_vial, pfizer.open_vial_hours, pfizer.doses_in_series) == (6, 6, 2)
    coronavac = platform_product("CoronaVac")
    # rules are looked up by the date of the earlier dose
    assert interval_rule_for(coronavac.id, 1, dt.date(2021, 2, 1)).min_days == 14
    assert interval_rule_for(coronavac.id, 1, dt.date(2021, 6, 1)).min_days == 28
    astra = platform_product("AstraZeneca")
    assert interval_rule_for(astra.id, 1, dt.date(2021, 5, 1)).min_days == 84
    assert interval_rule_for(astra.id, 1, dt.date(2022, 5, 1)).min_days == 56
    assert interval_rule_for(pfizer.id, 2, dt.date(2022, 1, 15)).min_days == 180
    assert interval_rule_for(pfizer.id, 2, dt.date(2022, 6, 1)).min_days == 90
    assert interval_rule_for(pfizer.id, 1, dt.date(2019, 1, 1)) is None


def test_a_tenants_own_product_is_invisible_to_other_tenants(app):
    first, second = make_tenant(), make_tenant()
    with tenant_context(first):
        own = short_interval_product()
        db.session.commit()
        assert get_product(own.id).id == own.id
    with tenant_context(second):
        assert db.session.scalar(visible_products().where(Product.id == own.id)) is None
        with pytest.raises(StockError) as exc:
            get_product(own.id)
        assert exc.value.code == "unknown_product"
        if db.engine.dialect.name == "postgresql":
            # RLS: not even a raw query sees it, nor its rules
            assert db.session.scalar(sa.select(Product).where(Product.id == own.id)) is None
            assert (
                db.session.scalar(
                    sa.select(sa.func.count())
                    .select_from(IntervalRule)
                    .where(IntervalRule.product_id == own.id)
                )
                == 0
            )
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Product)) >= 7


@pytest.mark.parametrize("backend", ["postgresql"])  # row-level security is PostgreSQL's
def test_tenants_cannot_write_the_platform_catalogue(app):
    tenant = make_tenant()
    with tenant_context(tenant):
        db.session.add(Product(owner_tenant_id=None, name="Fake", manufacturer="x"))
        with pytest.raises(sa.exc.ProgrammingError):
            db.session.flush()
        db.session.rollback()
    with tenant_context(tenant):
        updated = db.session.execute(
            sa.update(Product).where(Product.owner_tenant_id.is_(None)).values(name="Hacked")
        ).rowcount
        assert updated == 0


def test_receive_in_doses_or_vials(tenant):
    venue = make_venue()
    pfizer = platform_product()
    lot = receive_lot(venue.id, pfizer.id, " FK001 ", FAR_EXPIRY, vials=10, today=TODAY)
    assert (lot.doses_received, lot.on_hand, lot.batch_number) == (60, 60, "FK001")
    receive_lot(venue.id, pfizer.id, "FK002", FAR_EXPIRY, doses=5, today=TODAY)
    assert counters(venue, pfizer) == (65, 0)
    for kwargs, code in (
        ({"doses": 5, "vials": 1}, "invalid"),
        ({"doses": 0}, "invalid"),
    ):
        with pytest.raises(StockError) as exc:
            receive_lot(venue.id, pfizer.id, "X", FAR_EXPIRY, today=TODAY, **kwargs)
        assert exc.value.code == code
    with pytest.raises(StockError) as exc:
        receive_lot(venue.id, pfizer.id, "X", TODAY, doses=1, today=TODAY)
    assert exc.value.code == "expired"
    assert_consistent()


def test_transfer_moves_only_free_doses_and_keeps_the_batch(tenant):
    world = build_world(doses=4)
    a, b = world.venues
    lot = db.session.scalar(sa.select(Lot).where(Lot.venue_id == a.id))
    slots = world.slots(a)
    for slot in slots[:2]:
        book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
    there = transfer_doses(lot.id, b.id, 2, reason="B runs short")
    assert there.venue_id == b.id and there.batch_number == lot.batch_number
    assert counters(a, world.product) == (2, 2)
    assert counters(b, world.product) == (6, 0)
    with pytest.raises(StockError) as exc:
        transfer_doses(lot.id, b.id, 1)
    assert exc.value.code == "promised_doses"
    # back again: onto the existing lot at A
    back = transfer_doses(there.id, a.id, 1)
    assert back.id == lot.id
    kinds = db.session.scalars(sa.select(StockMovement.kind).order_by(StockMovement.at)).all()
    assert kinds.count(MovementKind.TRANSFER_OUT) == 2
    assert_consistent()


def test_waste_needs_a_reason_and_never_breaks_a_promise(tenant):
    world = build_world(doses=2, venues=1)
    venue = world.venues[0]
    lot = db.session.scalar(sa.select(Lot).where(Lot.venue_id == venue.id))
    with pytest.raises(StockError):
        record_waste(lot.id, 1, "")
    booking = book_slot(world.campaign, world.slots()[0].id, make_person().id, now=BEFORE)
    record_waste(lot.id, 1, "vial dropped")
    assert counters(venue, world.product) == (1, 1)
    with pytest.raises(StockError) as exc:
        record_waste(lot.id, 1, "opened vial past 6 hours")
    assert exc.value.code == "promised_doses" and "promised" in exc.value.message
    cancel_booking(booking.id)
    record_waste(lot.id, 1, "opened vial past 6 hours")
    assert counters(venue, world.product) == (0, 0)
    assert_consistent()


def test_expiry_takes_doses_off_hand_but_never_below_promises(tenant):
    """The rule (expire_lots docstring): expiry removes at most the venue's free doses;
    the rest stays on the expired lot as a reported shortfall until free doses appear."""
    world = build_world(doses=None, venues=1)
    venue = world.venues[0]
    soon = receive_lot(
        venue.id, world.product.id, "OLD", dt.date(2030, 1, 10), doses=3, today=TODAY
    )
    fresh = receive_lot(venue.id, world.product.id, "NEW", FAR_EXPIRY, doses=1, today=TODAY)
    slots = world.slots()
    bookings = [book_slot(world.campaign, s.id, make_person().id, now=BEFORE) for s in slots[:3]]
    assert counters(venue, world.product) == (4, 3)
    assert expire_lots(today=dt.date(2030, 1, 9)).expired == {}  # not yet
    report = expire_lots(today=dt.date(2030, 1, 10))
    assert report.expired == {soon.id: 1}  # only the one free dose
    assert report.shortfall == {soon.id: 2}  # two promises have no good dose behind them
    assert counters(venue, world.product) == (3, 3)
    db.session.refresh(soon)
    assert soon.expired_at is not None and soon.on_hand == 2
    # nothing new can be promised there
    assert db.session.scalar(sa.select(Stock.on_hand - Stock.promised)) == 0
    # a booking is cancelled: the next run expires one more dose
    cancel_booking(bookings[0].id)
    report = expire_lots(today=dt.date(2030, 1, 11))
    assert report.expired == {soon.id: 1} and report.shortfall == {soon.id: 1}
    # a new lot arrives: the remainder expires
    receive_lot(venue.id, world.product.id, "NEWER", FAR_EXPIRY, doses=5, today=TODAY)
    report = expire_lots(today=dt.date(2030, 1, 12))
    assert report.expired == {soon.id: 1} and report.shortfall == {}
    assert counters(venue, world.product) == (6, 2)
    assert expire_lots(today=dt.date(2030, 1, 13)).expired == {}  # idempotent
    db.session.refresh(fresh)
    assert fresh.on_hand == 1
    assert_consistent()


def test_recount_reports_and_fixes_drift(tenant):
    world = build_world(doses=5, venues=1)
    book_slot(world.campaign, world.slots()[0].id, make_person().id, now=BEFORE)
    db.session.commit()
    assert recount_stock() == []
    db.session.execute(sa.update(Stock).values(on_hand=Stock.on_hand + 2))
    drifts = recount_stock()
    assert [(d.table, d.counter, d.stored, d.recounted) for d in drifts] == [
        ("stock", "on_hand", 7, 5)
    ]
    assert "stored 7, rows say 5" in str(drifts[0])
    recount_stock(fix=True)
    assert recount_stock() == []


def test_recount_command_reports_drift_and_exits_nonzero(app, runner):
    tenant = make_tenant()
    with tenant_context(tenant):
        world = build_world(doses=5, venues=1)
        slot = world.slots()[0]
        book_slot(world.campaign, slot.id, make_person().id, now=BEFORE)
        db.session.commit()
    result = runner.invoke(args=["sentra", "recount-stock"])
    assert result.exit_code == 0, result.output
    assert "0 drifting counter(s) found" in result.output
    with tenant_context(tenant):
        from tenants.campaigns.models import Slot

        db.session.execute(sa.update(Slot).where(Slot.id == slot.id).values(booked=2))
        db.session.commit()
    result = runner.invoke(args=["sentra", "recount-stock", "--tenant", tenant.slug])
    assert result.exit_code == 1
    assert "slot" in result.output and "stored 2, rows say 1" in result.output
    result = runner.invoke(args=["sentra", "recount-stock", "--fix"])
    assert "1 drifting counter(s) fixed" in result.output
    result = runner.invoke(args=["sentra", "recount-stock"])
    assert result.exit_code == 0


def test_constraints_hold_in_the_database_itself(tenant):
    world = build_world(doses=1, venues=1)
    for values in ({"promised": 2}, {"on_hand": -1}, {"promised": -1}):
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(Stock).values(**values))
        db.session.rollback()
    from tenants.campaigns.models import Slot

    with tenant_context(world.tenant):
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(Slot).values(booked=Slot.capacity + 1))
        db.session.rollback()


def test_expire_stock_command_reports_expiry_and_shortfall(app, runner):
    tenant = make_tenant()
    with tenant_context(tenant):
        world = build_world(doses=None, venues=1)
        venue = world.venues[0]
        receive_lot(
            venue.id,
            world.product.id,
            "OLD",
            dt.date(2026, 1, 1),
            doses=2,
            today=dt.date(2025, 1, 1),
        )
        db.session.commit()
    result = runner.invoke(args=["sentra", "expire-stock", "--tenant", tenant.slug])
    assert result.exit_code == 0, result.output
    assert "2 dose(s) expired" in result.output
    with tenant_context(tenant):
        assert counters(venue, world.product) == (0, 0)
        assert_consistent()


def test_expiry_runs_by_itself_from_the_scheduler_across_tenants(app):
    """The `stock-expiry` periodic job expires every tenant's lots (SYSTEM scope, then
    each tenant's own context), so nobody has to remember the command."""
    from core.jobs import PERIODIC
    from core.jobs import execute
    from tenants.stock.models import Product

    job = next(j for j in PERIODIC if j.name == "stock-expiry")
    ids = []
    for _ in range(2):
        tenant = make_tenant()
        with tenant_context(tenant):
            world = build_world(doses=None, venues=1)
            venue, product = world.venues[0], world.product
            receive_lot(venue.id, product.id, "OLD", dt.date(2030, 1, 10), doses=2, today=TODAY)
            db.session.commit()
            ids.append((tenant.id, venue.id, product.id))
    assert execute(job.path, None, str(job.scope), {"today": "2030-01-09"}) == 0
    assert execute(job.path, None, str(job.scope), {"today": "2030-01-10"}) == 4
    for tenant_id, venue_id, product_id in ids:  # the job's session is gone: load again
        with tenant_context(tenant_id):
            venue = db.session.get(Venue, (tenant_id, venue_id))
            assert counters(venue, db.session.get(Product, product_id)) == (0, 0)
            assert_consistent()
