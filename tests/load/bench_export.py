"""Benchmark of the ministry export on PostgreSQL (not run by `make test`).

Seeds one tenant with 1,000,000 administered doses (500,000 people with two doses each;
NIK, phone and address encrypted per person as the app does; bookings, administrations,
a screening before every dose and adverse events after some made with
``generate_series``), then runs the administered-doses export as the export job
does (``tenants.reporting.services.run_export``: rows streamed by the server, decrypted
one by one, written to a temporary file and stored), once per format, each in a fresh
process as the app role under row-level security. Prints rows, seconds, rows per second,
the file size and the worker's peak memory (``ru_maxrss`` of that process).

Targets (issue 7): CSV of 1,000,000 doses in at most 60 s with a worker peak of at most
200 MB. Printed, never asserted.

    .venv/bin/python tests/load/bench_export.py                   # CSV and XLSX
    .venv/bin/python tests/load/bench_export.py --doses 200000 --formats csv,xlsx,fhir
    .venv/bin/python tests/load/bench_export.py --keep              # prints the database
    .venv/bin/python tests/load/bench_export.py --database sentra_bench_1a2b3c4d --formats csv

Needs PostgreSQL (TEST_DATABASE_URL, default postgresql://root@127.0.0.1:5432/test, a
superuser that may create a scratch database, dropped at the end).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import resource
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.load.bench_ledger import _config  # noqa: E402
from tests.load.bench_ledger import create_database  # noqa: E402
from tests.load.bench_ledger import database_urls  # noqa: E402
from tests.load.bench_ledger import drop_database  # noqa: E402

DAY_ONE = dt.date(2030, 1, 7)
DAYS = 30


#: every dose screened ten minutes before ("vaccinate"), one in fifty deferred the day
#: before too (the export takes the last decision before the dose); a mild adverse
#: event after one dose in a hundred, a moderate one after one in a thousand
SCREENINGS = """
INSERT INTO screening (tenant_id, id, booking_id, outcome, answers, at)
SELECT a.tenant_id, gen_random_uuid(), a.booking_id, s.outcome, '{}',
       a.administered_at - s.before
FROM administration AS a
CROSS JOIN (VALUES ('vaccinate', interval '10 minutes'), ('defer', interval '1 day'))
     AS s(outcome, before)
WHERE a.tenant_id = %(tenant)s AND (s.outcome = 'vaccinate' OR hashtext(a.id::text) %% 50 = 0)
"""
ADVERSE_EVENTS = """
INSERT INTO adverse_event (tenant_id, id, administration_id, severity, description, observed_at)
SELECT a.tenant_id, gen_random_uuid(), a.id, e.severity, e.description,
       a.administered_at + interval '20 minutes'
FROM administration AS a
CROSS JOIN (VALUES ('mild', 'Nyeri di tempat suntikan', 100), ('moderate', 'Demam', 1000))
     AS e(severity, description, every)
WHERE a.tenant_id = %(tenant)s AND hashtext(a.id::text || 'ae') %% e.every = 0
"""


def seed(owner_url: str, app_url: str, doses: int) -> dict:
    """The tenant (through the app's own services), then people and doses in bulk."""
    import psycopg

    from core import crypto
    from core.app import create_app
    from core.extensions import db
    from core.tenancy import tenant_context
    from tenants.stock.services import receive_lot
    from tests.tenants.ledger_support import FAR_EXPIRY
    from tests.tenants.ledger_support import TODAY
    from tests.tenants.ledger_support import build_world
    from tests.tenants.ledger_support import make_tenant

    people = doses // 2
    app = create_app(_config(app_url, owner_url))
    with app.app_context():
        tenant = make_tenant("bench-export")
        with tenant_context(tenant):
            world = build_world(venues=1, stations=4, doses=10, days=DAYS)
            lot = receive_lot(world.venues[0].id, world.product.id, "BENCH-LOT", FAR_EXPIRY,
                              doses=1, today=TODAY)  # fmt: skip
            db.session.commit()
            ids = {
                "tenant": tenant.id,
                "venue": world.venues[0].id,
                "product": world.product.id,
                "campaign": world.campaign.id,
                "lot": lot.id,
            }
        started = time.perf_counter()
        # People: encrypted in Python exactly as register_person does, copied in bulk.
        with psycopg.connect(owner_url.replace("+psycopg", "")) as conn:
            with conn.cursor().copy(
                "COPY person (tenant_id, id, full_name, date_of_birth, sex, nik_encrypted,"
                " phone_encrypted, occupation, address_encrypted, created_at, locale)"
                " FROM STDIN"
            ) as copy:
                now = dt.datetime.now(dt.UTC)
                for n in range(people):
                    pid = uuid.uuid4()
                    nik = f"3171{n:012d}"
                    copy.write_row((
                        ids["tenant"], pid, f"Person {n}",
                        dt.date(1990, 1, 1) + dt.timedelta(days=n % 9000),
                        "female" if n % 2 else "male", crypto.encrypt(nik, f"person:{pid}:nik"),
                        crypto.encrypt(f"+62812{n:07d}", f"person:{pid}:phone"), "Karyawan",
                        crypto.encrypt(f"Jl. Bench {n}", f"person:{pid}:address"), now, "id",
                    ))  # fmt: skip
            print(f"seed: {people:,} people encrypted and copied in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
            started = time.perf_counter()
            conn.execute(
                """
                INSERT INTO booking (tenant_id, id, person_id, campaign_id, venue_id, product_id,
                                     dose_number, status, source, created_at, voucher_code)
                SELECT p.tenant_id, gen_random_uuid(), p.id, %(campaign)s, %(venue)s,
                       %(product)s, d.n, 'vaccinated', 'online', now(),
                       -- unique per tenant: 10 random hex digits collide at a million
                       lpad((row_number() OVER ())::text, 10, '0')
                FROM person AS p CROSS JOIN generate_series(1, 2) AS d(n)
                WHERE p.tenant_id = %(tenant)s AND p.full_name LIKE 'Person %%'
                """,
                ids,
            )
            conn.execute(
                """
                INSERT INTO administration (tenant_id, id, booking_id, lot_id, dose_number,
                                            administered_at)
                SELECT b.tenant_id, gen_random_uuid(), b.id, %(lot)s, b.dose_number,
                       %(start)s::timestamptz
                         + ((b.dose_number - 1) * 14 + (hashtext(b.id::text) & 15))
                           * interval '1 day'
                         + (hashtext(b.person_id::text) & 32767) * interval '1 second'
                FROM booking AS b WHERE b.tenant_id = %(tenant)s AND b.status = 'vaccinated'
                """,
                {**ids, "start": dt.datetime(2030, 1, 7, 1, tzinfo=dt.UTC)},
            )
            conn.execute(SCREENINGS, ids)
            conn.execute(ADVERSE_EVENTS, ids)
            conn.execute("ANALYZE")
            conn.commit()
        seconds = time.perf_counter() - started
        print(f"seed: {doses:,} bookings and administrations, their screenings and adverse "
              f"events by generate_series in {seconds:.1f} s", flush=True)  # fmt: skip
    return ids


def seeded(owner_url: str) -> dict:
    """The ids :func:`seed` returned, read back from a kept database."""
    import psycopg

    with psycopg.connect(owner_url.replace("+psycopg", "")) as conn:
        (tenant,) = conn.execute("SELECT id FROM tenant WHERE slug = 'bench-export'").fetchone()
    return {"tenant": tenant}


def export(app_url: str, owner_url: str, tenant_id, fmt: str, queue) -> None:
    """One export run in this (fresh) process, as the job runs it."""
    try:
        _export(app_url, owner_url, tenant_id, fmt, queue)
    except BaseException as exc:
        queue.put((fmt, repr(exc)))
        raise


def _export(app_url: str, owner_url: str, tenant_id, fmt: str, queue) -> None:
    from core.app import create_app
    from core.extensions import db
    from core.tenancy import tenant_context
    from tenants.reporting import services
    from tenants.reporting.models import ExportRun

    # the job holds two connections: the reader's snapshot and the progress updates
    config = {**_config(app_url, owner_url), "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 2}}
    app = create_app(config)
    with app.app_context(), tenant_context(tenant_id):
        run = ExportRun(
            exporter="administered_doses",
            format=fmt,
            parameters={
                "date_from": DAY_ONE.isoformat(),
                "date_to": (DAY_ONE + dt.timedelta(days=60)).isoformat(),
                "campaign_id": None,
                "venue_id": None,
            },
        )
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        done = services.run_export(run_id)
        db.session.commit()
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        queue.put((fmt, done.rows_done, seconds, done.size, before / 1024, peak / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doses", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,xlsx", help="csv, xlsx, fhir (comma-separated)")
    parser.add_argument("--runs", type=int, default=1, help="exports per format")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--database", help="export from this database seeded with --keep")
    args = parser.parse_args()
    if args.database:
        name, owner_url, app_url = database_urls(args.database)
    else:
        name, owner_url, app_url = create_database()
    try:
        ids = seeded(owner_url) if args.database else seed(owner_url, app_url, args.doses)
        context = mp.get_context("spawn")  # a clean process: its peak is the export's own
        print(f"load average before: {os.getloadavg()}", flush=True)
        for fmt in [f for f in args.formats.split(",") for _ in range(args.runs)]:
            queue = context.Queue()
            proc = context.Process(
                target=export, args=(app_url, owner_url, ids["tenant"], fmt, queue)
            )
            proc.start()
            result = queue.get()
            proc.join()
            if len(result) == 2:
                print(f"{fmt:>4}: failed: {result[1]}", flush=True)
                continue
            fmt, rows, seconds, size, before, peak = result
            print(
                f"{fmt:>4}: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s), "
                f"{size / 1e6:.0f} MB file; worker peak RSS {peak:.0f} MB "
                f"(app loaded: {before:.0f} MB)",
                flush=True,
            )
        print(f"load average after: {os.getloadavg()}", flush=True)
    finally:
        if args.keep or args.database:
            print(f"kept database {name} (reuse: --database {name})")
        else:
            drop_database(name)


if __name__ == "__main__":
    main()
