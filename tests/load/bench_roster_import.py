"""Benchmark of the roster import on PostgreSQL (not run by `make test`).

Imports a generated CSV of ``--rows`` employees (NIK, date of birth, email,
dependants) into one employee campaign through the same service the console and the
API use (``read_roster_file`` → ``import_roster`` → commit), as the app role under
row-level security, three times:

* first:     every row new (parse, validate NIK, blind-index and encrypt NIK and email,
             ``INSERT … ON CONFLICT DO UPDATE`` in batches);
* unchanged: the same file again (every row compared, nothing written);
* changed:   every name changed (every row re-encrypted and updated in place).

It prints, per phase, wall time and rows/s, and the CPU time of this process (the
app's share: parsing, validation, encryption, the driver; the rest is PostgreSQL or
waiting for a core, which matters on a shared machine), and checks the roster holds
exactly ``--rows`` lines.

    .venv/bin/python tests/load/bench_roster_import.py               # 100,000 rows
    .venv/bin/python tests/load/bench_roster_import.py --rows 20000

Needs PostgreSQL (TEST_DATABASE_URL, default postgresql://root@127.0.0.1:5432/test, a
superuser that may create a scratch database, dropped at the end).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.load.bench_ledger import _config  # noqa: E402
from tests.load.bench_ledger import create_database  # noqa: E402
from tests.load.bench_ledger import drop_database  # noqa: E402


def roster_csv(rows: int, suffix: str = "") -> bytes:
    """``rows`` employees with valid NIKs (DKI Jakarta), dates of birth and emails."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["Nomor karyawan", "Nama lengkap", "NIK", "Tanggal lahir", "Email", "Tanggungan"]
    )
    for i in range(rows):
        born = dt.date(1960 + i % 40, 1 + (i // 40) % 12, 1 + (i // 480) % 28)
        nik = f"317101{born:%d%m%y}{i % 9999 + 1:04d}"
        writer.writerow(
            [f"E{i:07d}", f"Karyawan {i}{suffix}", nik, born.isoformat(), f"k{i}@pt.example", i % 4]
        )
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    name, owner_url, app_url = create_database()
    try:
        import sqlalchemy as sa

        from core.app import create_app
        from core.extensions import db
        from core.models import Tenant
        from core.models import TenantKind
        from core.models import TenantStatus
        from core.tenancy import tenant_context
        from tenants.campaigns.models import Audience
        from tenants.campaigns.models import Campaign
        from tenants.roster.files import read_roster_file
        from tenants.roster.models import RosterEntry
        from tenants.roster.services import import_roster
        from tenants.stock.services import create_product

        app = create_app(_config(app_url, owner_url))
        with app.app_context():
            tenant = Tenant(
                slug=f"bench-{uuid.uuid4().hex[:6]}",
                name="Bench",
                kind=TenantKind.COMPANY,
                status=TenantStatus.ACTIVE,
            )
            db.session.add(tenant)
            db.session.commit()
            with tenant_context(tenant):
                product = create_product("Bench vaccine", "Bench")
                campaign = Campaign(
                    name="Bench",
                    slug="bench",
                    audience=Audience.EMPLOYEES,
                    product_id=product.id,
                    starts_on=dt.date(2030, 1, 7),
                    ends_on=dt.date(2030, 1, 31),
                )
                db.session.add(campaign)
                db.session.commit()
                campaign_id = campaign.id

            files = {
                "first": roster_csv(args.rows),
                "unchanged": None,
                "changed": roster_csv(args.rows, " (b)"),
            }
            files["unchanged"] = files["first"]
            print(f"roster import, {args.rows:,} rows, PostgreSQL, app role under RLS")
            for phase, data in files.items():
                with tenant_context(tenant):
                    started, cpu = time.perf_counter(), time.process_time()
                    table = read_roster_file("roster.csv", data)
                    parsed = time.perf_counter()
                    campaign = db.session.get(Campaign, (tenant.id, campaign_id))
                    report = import_roster(campaign, table.rows)
                    db.session.commit()
                    done, cpu = time.perf_counter(), time.process_time() - cpu
                    total = db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry))
                    db.session.rollback()
                seconds = done - started
                print(
                    f"  {phase:9}  {seconds:6.2f} s  {args.rows / seconds:7,.0f} rows/s  "
                    f"(app CPU {cpu:.2f} s, file read {parsed - started:.2f} s)  "
                    f"{report.counts}  roster={total:,}"
                )
                assert total == args.rows, "the roster must hold each employee exactly once"
                assert report.counts["refused"] == 0, report.refused[:3]
            db.session.remove()
            db.engine.dispose()
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
