"""Many people confirm the last places of one slot at once, through the real page
(PostgreSQL, the app role under RLS, one thread and connection per person).

The page must book exactly as many as there are places, send everyone else back to the
times with the ledger's message, and leave the counters equal to their recount.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.booking.recount import recount_stock
from tenants.campaigns.models import Slot
from tenants.campaigns.services import set_slot_capacity
from tests.conftest import racing_app
from tests.tenants.public.support import base
from tests.tenants.public.support import choose_slot
from tests.tenants.public.support import fill_details
from tests.tenants.public.support import public_world

pytestmark = pytest.mark.postgres

PEOPLE = 12
PLACES = 3


@pytest.fixture
def pg_app(postgres, tmp_path):
    yield from racing_app(postgres, tmp_path, PEOPLE + 2, PUBLIC_BOOKING_MIN_FILL_SECONDS=0)


def test_the_last_places_go_to_exactly_that_many_people(pg_app):
    tenant, world = public_world(stations=1)
    slot_id = world.slot_ids[0]
    with tenant_context(tenant):
        set_slot_capacity(slot_id, PLACES)
        db.session.commit()
    clients = []
    for n in range(PEOPLE):  # each person fills the form first, at their own pace
        client = pg_app.test_client()
        choose_slot(client, world)
        nik = f"3171010101900{n + 100:03d}"
        assert fill_details(client, world, nik=nik, sex="male").status_code == 302
        clients.append(client)

    start = threading.Barrier(PEOPLE)
    answers: list[str] = [""] * PEOPLE

    def confirm(i: int) -> None:
        start.wait()
        response = clients[i].post(f"{base(world)}/confirm")
        answers[i] = f"{response.status_code} {response.headers.get('Location', '')}"

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(PEOPLE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    done = [a for a in answers if a.startswith("302") and a.endswith("/done")]
    back = [a for a in answers if a.startswith("302") and a.endswith("/2030-01-07")]
    assert len(done) == PLACES, answers
    assert len(back) == PEOPLE - PLACES, answers
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(Slot.booked).where(Slot.id == slot_id)) == PLACES
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == PLACES
        assert recount_stock() == []
        db.session.rollback()
