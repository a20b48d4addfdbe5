"""Where one booking confirmation's time goes, in-process (not run by `make test`).

The booking page's confirmation POST through Flask's test client (no HTTP server, no
other process competing in the same interpreter), on PostgreSQL as the app role under
row-level security, with Redis for rate limits and jobs, CSRF and every limit on (the
per-address one raised, as in bench_booking_http). Each attempt is prepared as a
browser would (slot page, slot POST, details form, details POST), then the
confirmations are timed. Prints per confirmation: this process's CPU time (user and
system), the SQL statements by kind, the Redis commands, the connection checkouts,
and with ``--profile`` the cProfile of the confirmations, heaviest first.

    .venv/bin/python tests/load/profile_confirm.py --attempts 300
    .venv/bin/python tests/load/profile_confirm.py --attempts 300 --profile
    .venv/bin/py-spy record -o confirm.svg -- .venv/bin/python tests/load/profile_confirm.py

Needs PostgreSQL and Redis as bench_ledger.py does. Capacity is 90% of the attempts,
so the last tenth is refused (slot full), as in the HTTP benchmark.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_booking_http as web  # noqa: E402
import bench_ledger as ledger  # noqa: E402


def prepared_clients(app, world: dict, base: str, day_path: str, slot_id, attempts: int):
    """One test client per attempt, holding a draft ready to confirm."""
    clients = []
    for n in range(attempts):
        client = app.test_client()
        page = client.get(day_path).get_data(as_text=True)
        csrf = web._CSRF.search(page).group(1)
        chosen = client.post(day_path, data={"csrf_token": csrf, "slot": slot_id})
        assert chosen.status_code == 302, chosen.status_code
        page = client.get(f"{base}/details").get_data(as_text=True)
        nik, born, sex = web.valid_nik(web.OFFSET + n)
        details = client.post(
            f"{base}/details",
            data={
                "csrf_token": csrf,
                "started": web._STARTED.search(page).group(1),
                "for_whom": "self",
                "full_name": f"Peserta Uji {n}",
                "nik": nik,
                "date_of_birth": born.isoformat(),
                "sex": sex,
                "phone": f"+6281{(web.OFFSET + n) % 10**9:09d}",
                "email": "",
                "address": "Jl. Uji Beban 1, Bandung",
                "occupation": "",
                "consent": "yes",
                "website": "",
            },
        )
        assert details.status_code == 302 and details.location.endswith("/review")
        clients.append((client, csrf))
    return clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile the confirmations")
    args = parser.parse_args()

    import psycopg
    import redis.connection
    import sqlalchemy as sa

    from core.app import create_app
    from core.extensions import db

    print(f"load average before: {os.getloadavg()}", flush=True)
    name, owner_url, app_url = ledger.create_database()
    try:
        world = ledger.seed(app_url, owner_url, args.attempts, 1)
        config = ledger._config(app_url, owner_url)
        config.update(
            RATELIMIT_STORAGE_URI=ledger.REDIS_URL,
            PUBLIC_BOOKING_RATE_PER_IP="1000000/minute",
            PUBLIC_BOOKING_MIN_FILL_SECONDS=0,
            SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},  # as in production
        )
        app = create_app(config)
        with psycopg.connect(owner_url.replace("+psycopg", "")) as conn:
            slug = conn.execute(
                "SELECT slug FROM tenant WHERE id = %s", (world["tenant_id"],)
            ).fetchone()[0]
        base = f"/b/{slug}/bench"
        slot_id = world["slot_ids"][0]
        day = web.slot_days(owner_url, world)[slot_id]
        day_path = f"{base}/venue/{world['venue_id']}/{day.isoformat()}"
        clients = prepared_clients(app, world, base, day_path, slot_id, args.attempts)

        statements: collections.Counter = collections.Counter()
        commands: collections.Counter = collections.Counter()
        with app.app_context():
            engine = db.engine

        @sa.event.listens_for(engine, "before_cursor_execute")
        def count_statement(conn, cursor, statement, *rest):
            statements[" ".join(statement.split()[:4])] += 1

        @sa.event.listens_for(engine, "checkout")
        def count_checkout(*rest):
            statements["(pool checkout: pre-ping)"] += 1

        send_command = redis.connection.AbstractConnection.send_command

        def counting(self, *command, **kwargs):
            commands[str(command[0])] += 1
            return send_command(self, *command, **kwargs)

        redis.connection.AbstractConnection.send_command = counting

        profiler = cProfile.Profile() if args.profile else None
        outcomes: collections.Counter = collections.Counter()
        times0, started = os.times(), time.perf_counter()
        if profiler:
            profiler.enable()
        for client, csrf in clients:
            answer = client.post(f"{base}/confirm", data={"csrf_token": csrf, "website": ""})
            outcomes["ok" if answer.location.endswith("/done") else answer.status_code] += 1
        if profiler:
            profiler.disable()
        elapsed, times1 = time.perf_counter() - started, os.times()
        n = len(clients)
        print(
            f"{n} confirmations {dict(outcomes)}: CPU per confirmation "
            f"user {1000 * (times1.user - times0.user) / n:.2f} ms, "
            f"system {1000 * (times1.system - times0.system) / n:.2f} ms; "
            f"wall {1000 * elapsed / n:.2f} ms{' (profiled)' if profiler else ''}"
        )
        print(f"SQL statements per confirmation: {sum(statements.values()) / n:.2f}")
        for kind, count in statements.most_common():
            print(f"  {count / n:5.2f}  {kind}")
        print(f"Redis commands per confirmation: {sum(commands.values()) / n:.2f}")
        for kind, count in commands.most_common():
            print(f"  {count / n:5.2f}  {kind}")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
    finally:
        ledger.drop_database(name)
        ledger.empty_job_queue()


if __name__ == "__main__":
    main()
