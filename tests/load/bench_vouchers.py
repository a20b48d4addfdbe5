"""Benchmark of the voucher work on PostgreSQL (not run by `make test`).

One process, as the app role under row-level security, ``--bookings`` people with an
email booked at one venue over two days. Measured:

* ``mail_voucher`` (the job each booking enqueues): claim, read, outbox row, commit;
* rendering one voucher email (text, HTML, QR PNG, .ics) as the delivery job does;
* the voucher page ``GET /v/<token>`` through the test client;
* ``send_reminders`` for the day before, over every booking of "tomorrow".

    .venv/bin/python tests/load/bench_vouchers.py
    .venv/bin/python tests/load/bench_vouchers.py --bookings 2000

Needs PostgreSQL and Redis as bench_ledger.py (a scratch database and job queue).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_ledger import _config
from bench_ledger import create_database
from bench_ledger import drop_database

#: 09:00 in Jakarta on 6 January: every booking of the 7th is "tomorrow"
REMIND_AT = dt.datetime(2030, 1, 6, 2, tzinfo=dt.UTC)


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=1000)
    args = parser.parse_args()
    name, owner_url, app_url = create_database()
    try:
        run(app_url, owner_url, args.bookings)
    finally:
        drop_database(name)


def run(app_url: str, owner_url: str, bookings: int) -> None:
    import sqlalchemy as sa

    from core import jobs
    from core.app import create_app
    from core.extensions import db
    from core.mail import render_message
    from core.models import OutboxMessage
    from core.tenancy import Scope
    from core.tenancy import cross_tenant
    from core.tenancy import tenant_context
    from tenants.booking.models import Booking
    from tenants.booking.services import register_person
    from tenants.vouchers import jobs as voucher_jobs
    from tenants.vouchers.tokens import voucher_token
    from tests.tenants.ledger_support import build_world
    from tests.tenants.ledger_support import make_tenant

    app = create_app(_config(app_url, owner_url))
    with app.app_context():
        tenant = make_tenant()
        tenant_id = tenant.id
        with tenant_context(tenant_id):
            world = build_world(venues=1, stations=(bookings + 3) // 4, doses=bookings + 10, days=2)
            slots = [s.id for s in world.slots()]
            booking_ids = []
            for n in range(bookings):
                person = register_person(
                    f"Person {n}",
                    dt.date(1990, 1, 1),
                    nik=str(3171010101900001 + n),
                    email=f"p{n}@example.test",
                )
                # Rows inserted directly: the ledger is measured by bench_ledger.py, and
                # a voucher job per booking would run here as they commit.
                booking = Booking(
                    person_id=person.id,
                    campaign_id=world.campaign.id,
                    slot_id=slots[n % len(slots)],
                    venue_id=world.venues[0].id,
                    product_id=world.product.id,
                    dose_number=1,
                )
                db.session.add(booking)
                db.session.flush()
                booking_ids.append(str(booking.id))
                if n % 200 == 199:
                    db.session.commit()
            db.session.commit()
        print(f"seeded {bookings} bookings with an email")

        # The machine's yardstick: one round trip to PostgreSQL, as the app role.
        samples = []
        for _ in range(200):
            start = time.perf_counter()
            db.session.execute(sa.text("SELECT 1"))
            samples.append(time.perf_counter() - start)
        db.session.rollback()
        print(f"SELECT 1 round trip:   {_ms(samples)}")

        samples = []
        for booking_id in booking_ids:
            start = time.perf_counter()
            jobs.execute(
                "tenants.vouchers.jobs.mail_voucher",
                str(tenant_id),
                None,
                {"booking_id": booking_id},
            )
            samples.append(time.perf_counter() - start)
        print(f"mail_voucher job:      {_ms(samples)}  ({len(samples) / sum(samples):.0f}/s)")

        with cross_tenant(Scope.SYSTEM):
            messages = db.session.scalars(sa.select(OutboxMessage).limit(200)).all()
            samples = []
            for message in messages:
                start = time.perf_counter()
                render_message(message)
                samples.append(time.perf_counter() - start)
        print(f"render voucher email:  {_ms(samples)}")
        db.session.rollback()

        client = app.test_client()
        with tenant_context(tenant_id):
            tokens = [
                voucher_token(b) for b in db.session.scalars(sa.select(Booking).limit(200)).all()
            ]
        db.session.rollback()
        samples = []
        for token in tokens:
            start = time.perf_counter()
            response = client.get(f"/v/{token}")
            samples.append(time.perf_counter() - start)
            assert response.status_code == 200, response.status_code
        size = len(response.get_data())
        print(f"voucher page GET:      {_ms(samples)}  ({size / 1024:.1f} KB HTML)")

        start = time.perf_counter()
        with cross_tenant(Scope.SYSTEM):
            sent = voucher_jobs.send_reminders(now=REMIND_AT.isoformat())
            elapsed = time.perf_counter() - start
            again = voucher_jobs.send_reminders(now=REMIND_AT.isoformat())
        print(
            f"send_reminders:        {sent} reminders in {elapsed:.2f} s "
            f"({sent / elapsed:.0f}/s); a second run sent {again}"
        )


if __name__ == "__main__":
    main()
