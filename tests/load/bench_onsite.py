"""Benchmark of the on-site desks on PostgreSQL (not run by `make test`).

One venue's busy day: ``--bookings`` people booked over slots of 50 seats. Measured,
as the app role under row-level security:

* the live venue board (what every desk's browser polls every 15 s): ``queries.board``
  and its JSON, median and 95th percentile over 30 reads;
* check-in: ``run_in_transaction(check_in(...))`` for distinct bookings, one process
  after another (latency) and ``--procs`` processes at once (throughput);
* the lost-voucher lookup by name (a LIKE over today's bookings at the venue).

    .venv/bin/python tests/load/bench_onsite.py
    .venv/bin/python tests/load/bench_onsite.py --bookings 4000 --procs 8

Needs PostgreSQL (TEST_DATABASE_URL, as for bench_ledger.py; a scratch database is
created and dropped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_ledger import _config
from bench_ledger import create_database
from bench_ledger import drop_database

DAY = dt.date(2030, 1, 7)
#: 10:00 in Jakarta on the day: every slot (from 08:00) may check in
AT = dt.datetime(2030, 1, 7, 3, tzinfo=dt.UTC)
SEATS = 50


def seed(app_url: str, owner_url: str, bookings: int) -> dict:
    """A tenant, one venue, slots of 50 seats from 08:00 local, a booking per seat."""
    import psycopg
    import sqlalchemy as sa

    from core.app import create_app
    from core.extensions import db
    from core.models import Tenant
    from core.models import TenantKind
    from core.models import TenantStatus
    from core.tenancy import tenant_context
    from onboarding.venues.models import Venue
    from onboarding.venues.models import VenueStatus
    from tenants.booking.models import Booking
    from tenants.booking.models import Person
    from tenants.campaigns.models import Audience
    from tenants.campaigns.models import Slot
    from tenants.campaigns.services import create_campaign
    from tenants.campaigns.services import publish_campaign
    from tenants.stock.models import Stock
    from tenants.stock.services import create_product
    from tenants.stock.services import receive_lot

    app = create_app(_config(app_url, owner_url))
    with app.app_context():
        tenant = Tenant(
            slug=f"bench-{uuid.uuid4().hex[:6]}",
            name="Bench",
            kind=TenantKind.CLINIC,
            status=TenantStatus.ACTIVE,
        )
        db.session.add(tenant)
        db.session.commit()
        with tenant_context(tenant):
            venue = Venue(
                name="Bench venue",
                address="-",
                province="-",
                city="-",
                status=VenueStatus.APPROVED,
                opening_hours={},
                timezone="Asia/Jakarta",
            )
            db.session.add(venue)
            db.session.flush()
            product = create_product("Bench vaccine", "-", doses_in_series=1, intervals=[])
            receive_lot(
                venue.id,
                product.id,
                "B1",
                dt.date(2031, 1, 1),
                doses=bookings * 2,
                today=dt.date(2029, 1, 1),
            )
            campaign = create_campaign(
                name="Bench",
                slug="bench",
                audience=Audience.PUBLIC,
                product_id=product.id,
                starts_on=DAY,
                ends_on=DAY,
                venue_ids=[venue.id],
                doses_offered=[1],
            )
            publish_campaign(campaign)
            start = dt.datetime(2030, 1, 7, 1, tzinfo=dt.UTC)  # 08:00 in Jakarta
            rows, people, slots = [], [], []
            for i in range(bookings):
                if i % SEATS == 0:
                    at = start + dt.timedelta(minutes=10 * (i // SEATS))
                    slots.append(
                        {
                            "tenant_id": tenant.id,
                            "id": uuid.uuid4(),
                            "campaign_id": campaign.id,
                            "venue_id": venue.id,
                            "starts_at": at,
                            "ends_at": at + dt.timedelta(minutes=10),
                            "capacity": SEATS,
                            "booked": min(SEATS, bookings - i),
                        }
                    )
                person_id = uuid.uuid4()
                people.append(
                    {
                        "tenant_id": tenant.id,
                        "id": person_id,
                        "full_name": f"Person {i:05d}",
                        "date_of_birth": dt.date(1990, 1, 1),
                    }
                )
                rows.append(
                    {
                        "tenant_id": tenant.id,
                        "id": uuid.uuid4(),
                        "person_id": person_id,
                        "campaign_id": campaign.id,
                        "slot_id": slots[-1]["id"],
                        "venue_id": venue.id,
                        "product_id": product.id,
                        "dose_number": 1,
                        "status": "booked",
                        "source": "online",
                        "voucher_code": uuid.uuid4().hex[:10].upper(),
                    }
                )
            db.session.execute(sa.insert(Slot), slots)
            db.session.execute(sa.insert(Person), people)
            db.session.execute(sa.insert(Booking), rows)
            db.session.execute(
                sa.update(Stock).where(Stock.venue_id == venue.id).values(promised=bookings)
            )
            db.session.commit()
            world = {
                "tenant_id": tenant.id,
                "venue_id": venue.id,
                "booking_ids": [r["id"] for r in rows],
            }
    # Fresh bulk-loaded tables have no statistics yet (autovacuum has not run): without
    # them the planner guesses one row per table and nests loops over everything.
    with psycopg.connect(owner_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("ANALYZE")
    return world


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[max(int(len(samples) * 0.95) - 1, 0)]
    return f"median {statistics.median(samples) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def reads(app_url: str, owner_url: str, world: dict) -> None:
    from core.app import create_app
    from core.extensions import db
    from core.tenancy import tenant_context
    from onboarding.venues.models import Venue
    from tenants.booking.transaction import run_in_transaction
    from tenants.onsite import queries
    from tenants.onsite.services.checkin import lookup_today

    app = create_app(_config(app_url, owner_url))
    with app.app_context(), tenant_context(world["tenant_id"]):
        venue = db.session.get(Venue, (world["tenant_id"], world["venue_id"]))
        board, lookup = [], []
        for _ in range(30):
            t = time.perf_counter()
            queries.board_json(queries.board(venue, DAY, AT))
            db.session.rollback()
            board.append(time.perf_counter() - t)
        for n in range(30):
            t = time.perf_counter()
            run_in_transaction(
                lambda n=n: lookup_today(venue.id, DAY, f"person {n:03d}", actor=None)
            )
            lookup.append(time.perf_counter() - t)
        print(f"venue board ({len(world['booking_ids'])} bookings): {_ms(board)}")
        print(f"lookup by name, audited: {_ms(lookup)}")


def checkin_worker(app_url, owner_url, world, booking_ids, barrier, results) -> None:
    from core.app import create_app
    from core.tenancy import tenant_context
    from tenants.booking.transaction import run_in_transaction
    from tenants.onsite.services.checkin import check_in

    app = create_app(_config(app_url, owner_url))
    with app.app_context(), tenant_context(world["tenant_id"]):
        latencies = []
        barrier.wait()
        for booking_id in booking_ids:
            t = time.perf_counter()
            run_in_transaction(
                lambda b=booking_id: check_in(
                    b,
                    world["venue_id"],
                    DAY,
                    actor=None,
                    nonce=uuid.uuid4().hex,
                    confirm_warnings=True,
                    now=AT,
                )
            )
            latencies.append(time.perf_counter() - t)
        results.put(latencies)


def checkins(app_url, owner_url, world, ids, procs: int) -> None:
    barrier = mp.Barrier(procs + 1)
    results = mp.Queue()
    chunks = [ids[i::procs] for i in range(procs)]
    workers = [
        mp.Process(target=checkin_worker, args=(app_url, owner_url, world, c, barrier, results))
        for c in chunks
    ]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    latencies = [x for _ in workers for x in results.get(timeout=600)]
    elapsed = time.perf_counter() - started
    for w in workers:
        w.join()
    print(
        f"check-in, {procs} process(es): {len(ids) / elapsed:.0f}/s over {len(ids)}, "
        f"{_ms(latencies)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--procs", type=int, default=4)
    args = parser.parse_args()
    name, owner_url, app_url = create_database()
    try:
        world = seed(app_url, owner_url, args.bookings)
        reads(app_url, owner_url, world)
        ids = world["booking_ids"]
        half = len(ids) // 4
        checkins(app_url, owner_url, world, ids[:half], 1)
        checkins(app_url, owner_url, world, ids[half:], args.procs)
    finally:
        drop_database(name)


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
