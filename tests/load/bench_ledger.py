"""Benchmark of the booking ledger's service layer on PostgreSQL (not run by `make test`).

Several processes (each its own app, session and connection, as the app role under
row-level security) call ``run_in_transaction(book_slot(...))`` concurrently:

* hot:  every booking into ONE slot (the worst case: one row lock for everyone);
* wide: bookings spread over 100 slots of the same venue (the stock row is still shared).

Capacity is 90% of the attempts, so the last tenth must be refused: the oversell check
verifies exactly ``capacity`` bookings, ``slot.booked`` and ``stock.promised`` equal to
the rows, and a clean recount.

    .venv/bin/python tests/load/bench_ledger.py                    # 1, 4 and 16 processes
    .venv/bin/python tests/load/bench_ledger.py --procs 8 --attempts 4000

Needs PostgreSQL (TEST_DATABASE_URL, default postgresql://root@127.0.0.1:5432/test, a
superuser that may create a scratch database, dropped at the end) and Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/15): the jobs a booking enqueues go to
a queue of the run's own, emptied at the end.

    .venv/bin/python tests/load/bench_ledger.py --profile --attempts 1000   # pyinstrument
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
# Jobs the ledger's signals enqueue (voucher mail…) go to Redis as in production: the
# enqueue is part of the cost, running them is not. A queue of our own, emptied at exit.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
JOBS_QUEUE = os.environ.setdefault("BENCH_JOBS_QUEUE", f"bench-ledger-{uuid.uuid4().hex[:8]}")
APP_LOGIN = "sentra_bench_app"
NOW = dt.datetime(2030, 1, 6, 12, tzinfo=dt.UTC)


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _config(url: str, owner_url: str) -> dict:
    tmp = Path(tempfile.gettempdir()) / "sentra-bench"
    return {
        "SENTRA_ENV": "development",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench-secret-key-long-enough-for-anything-at-all",
        "SQLALCHEMY_DATABASE_URI": url,
        "MIGRATION_DATABASE_URL": owner_url,
        "REDIS_URL": REDIS_URL,
        "JOBS_QUEUE": JOBS_QUEUE,
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_URL": f"file://{tmp / 'outbox'}",
        "STORAGE_URL": f"file://{tmp / 'files'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0},
    }


def create_database() -> tuple[str, str, str]:
    import psycopg

    name = f"sentra_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    name, owner_url, app_url = database_urls(name)
    os.environ.setdefault("SENTRA_INSTANCE_PATH", str(Path(tempfile.gettempdir()) / "sentra-bench"))
    from flask_migrate import upgrade

    from core.app import create_app

    app = create_app(_config(owner_url, owner_url))
    with app.app_context():
        upgrade()
    with psycopg.connect(owner_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_LOGIN}') "
            f"THEN CREATE ROLE {APP_LOGIN} LOGIN NOBYPASSRLS IN ROLE sentra_app; END IF; END $$"
        )
    return name, owner_url, app_url


def database_urls(name: str) -> tuple[str, str, str]:
    """``name`` and the owner's and the app role's URLs of that scratch database."""
    base = ADMIN_URL.rsplit("/", 1)[0]
    host = base.split("://", 1)[1].split("@", 1)[1]
    return name, _psycopg(f"{base}/{name}"), _psycopg(f"postgresql://{APP_LOGIN}@{host}/{name}")


def empty_job_queue() -> None:
    """Drop the jobs the run enqueued (nobody works this queue)."""
    from redis import Redis
    from rq import Queue

    Queue(JOBS_QUEUE, connection=Redis.from_url(REDIS_URL)).empty()


def drop_database(name: str) -> None:
    import psycopg

    empty_job_queue()

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(app_url: str, owner_url: str, attempts: int, slots: int) -> dict:
    """A tenant, one venue, ``slots`` slots sharing 90% of ``attempts`` seats, enough
    doses, and one person per attempt."""
    import sqlalchemy as sa

    from core.app import create_app
    from core.extensions import db
    from core.models import Tenant
    from core.models import TenantKind
    from core.models import TenantStatus
    from core.tenancy import tenant_context
    from onboarding.venues.models import Venue
    from onboarding.venues.models import VenueStatus
    from tenants.booking.models import Person
    from tenants.campaigns.models import Audience
    from tenants.campaigns.models import Slot
    from tenants.campaigns.services import create_campaign
    from tenants.campaigns.services import publish_campaign
    from tenants.stock.services import create_product
    from tenants.stock.services import receive_lot

    app = create_app(_config(app_url, owner_url))
    capacity = attempts * 9 // 10
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
            )
            db.session.add(venue)
            db.session.flush()
            product = create_product("Bench vaccine", "-", doses_in_series=1, intervals=[])
            receive_lot(
                venue.id,
                product.id,
                "B1",
                dt.date(2031, 1, 1),
                doses=attempts * 2,
                today=dt.date(2029, 1, 1),
            )
            campaign = create_campaign(
                name="Bench",
                slug="bench",
                audience=Audience.PUBLIC,
                product_id=product.id,
                starts_on=dt.date(2030, 1, 7),
                ends_on=dt.date(2030, 1, 31),
                venue_ids=[venue.id],
                doses_offered=[1],
            )
            start = dt.datetime(2030, 1, 7, 1, tzinfo=dt.UTC)
            per_slot = [
                capacity // slots + (1 if i < capacity % slots else 0) for i in range(slots)
            ]
            slot_ids = []
            for i in range(slots):
                slot = Slot(
                    campaign_id=campaign.id,
                    venue_id=venue.id,
                    starts_at=start + dt.timedelta(minutes=15 * i),
                    ends_at=start + dt.timedelta(minutes=15 * i + 15),
                    capacity=per_slot[i],
                    booked=0,
                )
                db.session.add(slot)
                db.session.flush()
                slot_ids.append(slot.id)
            publish_campaign(campaign)
            person_ids = [uuid.uuid4() for _ in range(attempts)]
            db.session.execute(
                sa.insert(Person),
                [
                    {
                        "tenant_id": tenant.id,
                        "id": pid,
                        "full_name": f"Person {i}",
                        "date_of_birth": dt.date(1990, 1, 1),
                    }
                    for i, pid in enumerate(person_ids)
                ],
            )
            db.session.commit()
            return {
                "tenant_id": tenant.id,
                "campaign_id": campaign.id,
                "venue_id": venue.id,
                "product_id": product.id,
                "slot_ids": slot_ids,
                "person_ids": person_ids,
                "capacity": capacity,
            }


def worker(app_url, owner_url, world, person_ids, barrier, results):
    from core.app import create_app
    from core.errors import DomainError
    from core.extensions import db
    from core.tenancy import tenant_context
    from tenants.booking.services import book_slot
    from tenants.booking.transaction import run_in_transaction
    from tenants.campaigns.models import Campaign

    app = create_app(_config(app_url, owner_url))
    slots = world["slot_ids"]
    key = (world["tenant_id"], world["campaign_id"])
    latencies, codes = [], {}
    cpu0 = 0.0
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))  # connect before the clock starts
        db.session.rollback()
        barrier.wait()
        cpu0 = time.process_time()
        with tenant_context(world["tenant_id"]):
            for j, person_id in person_ids:
                slot_id = slots[j % len(slots)]
                t0 = time.perf_counter()
                try:
                    run_in_transaction(
                        lambda s=slot_id, p=person_id: book_slot(
                            db.session.get(Campaign, key), s, p, now=NOW
                        )
                    )
                    code = "ok"
                except DomainError as exc:
                    code = exc.code
                latencies.append(time.perf_counter() - t0)
                codes[code] = codes.get(code, 0) + 1
    codes["_cpu"] = time.process_time() - cpu0
    results.put((latencies, codes))


def check(app_url, owner_url, world) -> str:
    import sqlalchemy as sa

    from core.app import create_app
    from core.extensions import db
    from core.tenancy import tenant_context
    from tenants.booking.models import Booking
    from tenants.booking.recount import recount_stock
    from tenants.campaigns.models import Slot
    from tenants.stock.models import Stock

    app = create_app(_config(app_url, owner_url))
    with app.app_context(), tenant_context(world["tenant_id"]):
        bookings = db.session.scalar(sa.select(sa.func.count()).select_from(Booking))
        booked = db.session.scalar(sa.select(sa.func.sum(Slot.booked)))
        over = db.session.scalar(
            sa.select(sa.func.count()).select_from(Slot).where(Slot.booked > Slot.capacity)
        )
        promised = db.session.scalar(sa.select(Stock.promised))
        drifts = recount_stock()
    ok = bookings == booked == promised == world["capacity"] and not over and not drifts
    verdict = "OK" if ok else "FAILED"
    return (
        f"oversell check {verdict}: {bookings} bookings for {world['capacity']} seats "
        f"(slot.booked {booked}, stock.promised {promised}, slots over capacity {over}, "
        f"recount drift {len(drifts)})"
    )


def run(scenario: str, slots: int, procs: int, attempts: int, keep: bool) -> bool:
    name, owner_url, app_url = create_database()
    try:
        world = seed(app_url, owner_url, attempts, slots)
        ctx = mp.get_context("spawn")
        barrier, results = ctx.Barrier(procs + 1), ctx.Queue()
        # attempt j goes to slot j % slots, so every slot gets the same number of tries
        numbered = list(enumerate(world["person_ids"]))
        chunks = [numbered[i::procs] for i in range(procs)]
        workers = [
            ctx.Process(target=worker, args=(app_url, owner_url, world, chunk, barrier, results))
            for chunk in chunks
        ]
        for w in workers:
            w.start()
        barrier.wait()
        started = time.perf_counter()
        collected = [results.get(timeout=600) for _ in workers]
        elapsed = time.perf_counter() - started
        for w in workers:
            w.join()
        latencies = sorted(lat for lats, _ in collected for lat in lats)
        codes: dict = {}
        for _, c in collected:
            for k, v in c.items():
                codes[k] = codes.get(k, 0) + v
        cpu_ms = codes.pop("_cpu") / len(latencies) * 1000
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(
            f"{scenario:4} slots={slots:<3} procs={procs:<3} attempts={len(latencies):<5} "
            f"{len(latencies) / elapsed:7.0f} req/s  {codes.get('ok', 0) / elapsed:7.0f} "
            f"bookings/s  p50 {p50:6.2f} ms  p99 {p99:7.2f} ms  "
            f"client CPU {cpu_ms:5.2f} ms/req  outcomes {codes}"
        )
        verdict = check(app_url, owner_url, world)
        print(f"     {verdict}")
        return verdict.startswith("oversell check OK")
    finally:
        if not keep:
            drop_database(name)


def _print_baseline(label: str, attempts: int, ok: int, started: float, cpu0: float, what: str):
    elapsed = time.perf_counter() - started
    cpu = (time.process_time() - cpu0) / attempts * 1000
    print(
        f"{label} slots=1   procs=1   attempts={attempts:<5} {attempts / elapsed:7.0f} tx/s   "
        f"{ok / elapsed:7.0f} bookings/s  client CPU {cpu:5.2f} ms/req  ({what})",
        flush=True,
    )


def raw_baseline(attempts: int) -> None:
    """The minimal booking in raw SQL on the same machine and moment (1 client, one hot
    slot, one conditional UPDATE + one INSERT per transaction), for comparison."""
    import psycopg

    name, owner_url, app_url = create_database()
    try:
        world = seed(app_url, owner_url, attempts, 1)
        conn = psycopg.connect(owner_url.replace("+psycopg", ""))
        slot_id = world["slot_ids"][0]
        ok = 0
        started, cpu0 = time.perf_counter(), time.process_time()
        for person_id in world["person_ids"]:
            row = conn.execute(
                "UPDATE slot SET booked = booked + 1 WHERE tenant_id = %s AND id = %s "
                "AND booked < capacity RETURNING id",
                (world["tenant_id"], slot_id),
            ).fetchone()
            if row:
                conn.execute(
                    "INSERT INTO booking (tenant_id, id, person_id, campaign_id, slot_id, "
                    "venue_id, product_id, dose_number, status, source, created_at, "
                    "voucher_code) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, 1, 'booked', 'online', now(), %s)",
                    (
                        world["tenant_id"],
                        uuid.uuid4(),
                        person_id,
                        world["campaign_id"],
                        slot_id,
                        world["venue_id"],
                        world["product_id"],
                        f"R{ok:09d}",
                    ),
                )
                ok += 1
            conn.commit()
        _print_baseline("raw ", attempts, ok, started, cpu0,
                        "baseline: conditional UPDATE + INSERT, no ORM, no RLS")  # fmt: skip
        conn.close()
    finally:
        drop_database(name)


def raw_same_work(attempts: int) -> None:
    """The service's own statements without the service: the tenant scope of row-level
    security, the checks read and the seat + dose + booking statement
    (``tenants.booking.services.hotpath``, compiled once by SQLAlchemy), then COMMIT,
    sent through psycopg as the app role (1 client, one hot slot). The database's share
    of a booking; what ``book_slot`` costs beyond it is Python (the caller's campaign
    read, SQLAlchemy's execution, the voucher job's enqueue)."""
    import enum

    import psycopg

    from core.app import create_app
    from core.ids import uuid7
    from core.tenancy import tenant_context
    from tenants.booking.models import BookingSource
    from tenants.booking.models import BookingStatus
    from tenants.booking.services import hotpath

    name, owner_url, app_url = create_database()
    try:
        world = seed(app_url, owner_url, attempts, 1)
        app = create_app(_config(app_url, owner_url))
        tid, slot_id = world["tenant_id"], world["slot_ids"][0]
        with app.app_context(), tenant_context(tid):
            dialect = app.extensions["sqlalchemy"].engine.dialect
            given = {
                "p_tenant_id": tid,
                "p_campaign_id": world["campaign_id"],
                "p_person_id": world["person_ids"][0],
                "p_dose_number": 1,
            }
            # the checks' own constants too (LIMIT 1, the statuses held), as plain values
            expanded = hotpath.CHECKS_PG.compile(dialect=dialect).construct_expanded_state(given)
            checks = expanded.statement
            constants = {
                k: v.value if isinstance(v, enum.Enum) else v
                for k, v in expanded.parameters.items()
            }
            plain = [
                {k: v.value if isinstance(v, enum.Enum) else v for k, v in params.items()}
                for params in (
                    hotpath.book_params(
                        hotpath.booking_values(
                            tenant_id=tid, id=uuid7(), person_id=person_id,
                            campaign_id=world["campaign_id"], slot_id=slot_id,
                            product_id=world["product_id"], dose_number=1,
                            status=BookingStatus.BOOKED, source=BookingSource.ONLINE,
                        ),
                        slot_id=slot_id, now=NOW, product_id=world["product_id"],
                    )
                    for person_id in world["person_ids"]
                )
            ]  # fmt: skip
            expanded = hotpath.BOOK_PG.compile(dialect=dialect).construct_expanded_state(plain[0])
            book, book_constants = expanded.statement, expanded.parameters
        conn = psycopg.connect(app_url.replace("+psycopg", ""))
        ok = 0
        started, cpu0 = time.perf_counter(), time.process_time()
        for params in plain:
            conn.execute(
                "SELECT set_config('app.tenant_id', %s, true), set_config('app.scope', '', true)",
                (str(tid),),
            )
            conn.execute(checks, constants | {"p_person_id": params["b_person_id"]}).fetchone()
            _seat, booking = conn.execute(book, book_constants | params).fetchone()
            if booking is None:
                conn.rollback()
                continue
            conn.commit()
            ok += 1
        _print_baseline("same", attempts, ok, started, cpu0,
                        "the service's statements through psycopg: RLS scope, checks, "
                        "seat+dose+row")  # fmt: skip
        conn.close()
    finally:
        drop_database(name)


def profile(attempts: int, slots: int) -> None:
    """One process, ``attempts`` bookings under pyinstrument (dev tool, not a dependency:
    ``.venv/bin/pip install pyinstrument``); prints the call tree of the hot path."""
    from pyinstrument import Profiler

    from core.app import create_app
    from core.errors import DomainError
    from core.extensions import db
    from core.tenancy import tenant_context
    from tenants.booking.services import book_slot
    from tenants.booking.transaction import run_in_transaction
    from tenants.campaigns.models import Campaign

    name, owner_url, app_url = create_database()
    try:
        world = seed(app_url, owner_url, attempts, slots)
        app = create_app(_config(app_url, owner_url))
        key = (world["tenant_id"], world["campaign_id"])
        with app.app_context(), tenant_context(world["tenant_id"]):
            db.session.execute(db.text("SELECT 1"))
            db.session.rollback()
            profiler = Profiler(interval=0.0002)
            started = time.perf_counter()
            with profiler:
                for j, person_id in enumerate(world["person_ids"]):
                    slot_id = world["slot_ids"][j % slots]
                    try:
                        run_in_transaction(
                            lambda s=slot_id, p=person_id: book_slot(
                                db.session.get(Campaign, key), s, p, now=NOW
                            )
                        )
                    except DomainError:  # the refused tenth; the tree shows its cost too
                        continue
            elapsed = time.perf_counter() - started
        print(f"{attempts} attempts in {elapsed:.2f} s ({attempts / elapsed:.0f}/s, profiled)")
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    finally:
        drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--scenarios", nargs="*", default=["hot", "wide"])
    parser.add_argument(
        "--profile", action="store_true", help="profile one process (pyinstrument) instead"
    )
    args = parser.parse_args()
    if args.profile:
        profile(args.attempts, 1)
        return
    print(f"load average before: {os.getloadavg()}")
    raw_baseline(args.attempts)
    raw_same_work(args.attempts)
    ok = True
    for procs in args.procs:
        for scenario, slots in (("hot", 1), ("wide", 100)):
            if scenario not in args.scenarios:
                continue
            ok &= run(scenario, slots, procs, args.attempts, args.keep)
    print(f"load average after: {os.getloadavg()}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
