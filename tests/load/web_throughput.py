"""Requests per second one web node serves, measured with the production process setup.

    .venv/bin/python tests/load/web_throughput.py [--seconds 15] [--clients 16]

Makes a throwaway PostgreSQL database, migrates it as the owner, loads the demo data
as the app role, and starts gunicorn exactly as platform/Procfile's ``web`` line does
(platform/gunicorn.conf.py; workers from the cores unless WEB_CONCURRENCY is set),
connected as a role under row-level security. Then client processes (on the same
machine, so they compete with the server for the cores) request each path for the
given time and the script prints requests/s and latency percentiles. gunicorn and the
database are stopped and dropped at the end. Not run by `make test`.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
APP_ROLE = "sentra_bench_web"
DEMO_USER = ("owner@demo-clinic.example", "sentra-demo-2026")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sign_in(base: str) -> str:
    """Sign the demo owner in once; returns the session cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/sign-in").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"csrf_token": token, "email": DEMO_USER[0], "password": DEMO_USER[1], "next": ""}
    ).encode()
    opener.open(f"{base}/sign-in", data=data).read()
    assert opener.open(f"{base}/o/demo-clinic/").status == 200
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _client(url: str, cookie: str, seconds: float, results) -> None:
    latencies, errors = [], 0
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            latencies.append(time.perf_counter() - start)
        except OSError:
            errors += 1
    results.put((latencies, errors))


def measure(url: str, cookie: str, seconds: float, clients: int) -> str:
    results = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_client, args=(url, cookie, seconds, results))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    latencies, errors = [], 0
    for _ in procs:
        lat, err = results.get()
        latencies += lat
        errors += err
    for p in procs:
        p.join()
    if not latencies:
        return f"no successful requests ({errors} errors)"
    q = statistics.quantiles(latencies, n=100)
    return (
        f"{len(latencies) / seconds:7.0f} req/s   p50 {q[49] * 1000:6.1f} ms   "
        f"p95 {q[94] * 1000:6.1f} ms   errors {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    name = f"sentra_bench_web_{uuid.uuid4().hex[:8]}"
    base_url = ADMIN_URL.rsplit("/", 1)[0]
    host_part = base_url.split("@", 1)[1]
    admin = psycopg.connect(ADMIN_URL, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    instance = tempfile.mkdtemp(prefix="sentra-bench-")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "MAIL_URL", "STORAGE_URL", "SECRET_KEY")
    }
    env.update(SENTRA_INSTANCE_PATH=instance, LOG_LEVEL="WARNING")
    flask = [str(ROOT / ".venv/bin/flask"), "--app", "wsgi"]
    server = None
    try:
        owner = {**env, "DATABASE_URL": f"{base_url}/{name}"}
        subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=owner, check=True,
                       capture_output=True)  # fmt: skip
        with psycopg.connect(f"{base_url}/{name}", autocommit=True) as conn:
            conn.execute(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') "
                f"THEN CREATE ROLE {APP_ROLE} LOGIN NOBYPASSRLS IN ROLE sentra_app; END IF; END $$"
            )
        env["DATABASE_URL"] = f"postgresql://{APP_ROLE}@{host_part}/{name}"
        subprocess.run([*flask, "sentra", "seed-demo"], cwd=ROOT, env=env, check=True,
                       capture_output=True)  # fmt: skip
        port = _free_port()
        env["BIND"] = f"127.0.0.1:{port}"
        command = ["gunicorn", "wsgi:app", "-c", "platform/gunicorn.conf.py"]
        server = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        cookie = _sign_in(base)
        workers = env.get("WEB_CONCURRENCY") or f"2 x {len(os.sched_getaffinity(0))} cores + 1"
        print(
            f"gunicorn ({workers} sync workers), PostgreSQL as a role under RLS, "
            f"{args.clients} client processes on the same machine, {args.seconds:.0f}s per path"
        )
        for path, what in (
            ("/healthz", "no database"),
            ("/readyz", "SELECT 1"),
            ("/o/demo-clinic/", "signed-in console: user, membership, tenant scope, template"),
        ):
            print(f"{path:18} {measure(base + path, cookie, args.seconds, args.clients)}  ({what})")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f"DROP ROLE IF EXISTS {APP_ROLE}")
        admin.close()


if __name__ == "__main__":
    main()
