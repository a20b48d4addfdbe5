"""On PostgreSQL: copies of the voucher job and the sweeper racing for one booking
queue exactly one email (the conditional UPDATE on ``voucher_mailed_at`` decides)."""

from __future__ import annotations

import threading

import pytest

from core import jobs as core_jobs
from core.extensions import db
from core.tenancy import tenant_context
from tenants.vouchers import receivers
from tests.conftest import racing_app
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import make_tenant
from tests.tenants.vouchers.support import book
from tests.tenants.vouchers.support import outbox

pytestmark = pytest.mark.postgres

COPIES = 8


@pytest.fixture
def pg_app(postgres, tmp_path):
    yield from racing_app(postgres, tmp_path, COPIES + 2)


def test_racing_voucher_jobs_send_one_email(pg_app, monkeypatch):
    monkeypatch.setattr(receivers, "enqueue", lambda *a, **k: None)  # jobs run below
    tenant = make_tenant()
    with tenant_context(tenant):
        world = build_world(venues=1, doses=5, days=1)
        booking = book(world, world.slots()[0])
        tenant_id, booking_id = tenant.id, str(booking.id)
    db.session.commit()
    barrier = threading.Barrier(COPIES)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(
                core_jobs.execute(
                    "tenants.vouchers.jobs.mail_voucher",
                    str(tenant_id),
                    None,
                    {"booking_id": booking_id},
                )
            )
        except Exception as exc:  # any error is a failure of the test
            errors.append(exc)

    def in_app():
        with pg_app.app_context():
            worker()

    threads = [threading.Thread(target=in_app) for _ in range(COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False] * (COPIES - 1) + [True]
    assert len(outbox("vouchers/confirmed")) == 1
