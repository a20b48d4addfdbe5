"""Desks racing on PostgreSQL: real threads, sessions and commits (as the app role)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import current_app

from core.extensions import db
from core.tenancy import tenant_context
from tenants.booking.recount import recount_stock
from tenants.onsite.models import CheckIn
from tenants.onsite.models import DayClose
from tenants.onsite.services.checkin import check_in
from tenants.onsite.services.closing import close_day
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_tenant
from tests.tenants.onsite.test_services import AT_0830
from tests.tenants.onsite.test_services import EVENING
from tests.tenants.test_ledger_concurrency import hammer
from tests.tenants.test_ledger_concurrency import pg_app  # noqa: F401 - the fixture used below

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("pg_app")]

DESKS = 16


def _world(bookings: int = 1):
    from tenants.booking.services import book_slot

    tenant = make_tenant()
    with tenant_context(tenant):
        world = build_world(venues=1, stations=2, doses=10, days=1)
        slots = world.slots()
        ids = [
            book_slot(world.campaign_in_session(), slots[i % 2].id, make_person().id, now=BEFORE).id
            for i in range(bookings)
        ]
        db.session.commit()
        return tenant.id, world.venues[0].id, ids


def _check_in(tenant_id, venue_id, booking_id, nonce):
    return lambda: check_in(booking_id, venue_id, START, actor=None, nonce=nonce, now=AT_0830)


def test_desks_checking_one_person_in_at_once_only_one_wins():
    tenant_id, venue_id, (booking_id,) = _world()
    outcomes = hammer(
        current_app._get_current_object(),
        tenant_id,
        [_check_in(tenant_id, venue_id, booking_id, f"desk-{n:04d}") for n in range(DESKS)],
    )
    assert outcomes == {"ok": 1, "already_checked_in": DESKS - 1}
    with tenant_context(tenant_id):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckIn)) == 1


def test_a_flaky_connection_retrying_one_request_checks_in_once():
    tenant_id, venue_id, (booking_id,) = _world()
    outcomes = hammer(
        current_app._get_current_object(),
        tenant_id,
        [_check_in(tenant_id, venue_id, booking_id, "same-request") for _ in range(DESKS)],
    )
    assert outcomes == {"ok": DESKS}
    with tenant_context(tenant_id):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckIn)) == 1


def test_closing_a_day_twice_at_once_closes_it_once():
    tenant_id, venue_id, _ids = _world(bookings=3)
    outcomes = hammer(
        current_app._get_current_object(),
        tenant_id,
        [lambda: close_day(venue_id, START, actor=None, now=EVENING) for _ in range(4)],
    )
    assert outcomes == {"ok": 4}
    with tenant_context(tenant_id):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DayClose)) == 1
        summary = db.session.scalar(sa.select(DayClose.summary))
        assert summary["no_shows_marked"] == 3
        assert recount_stock() == []
