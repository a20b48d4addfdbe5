"""Surge benchmark of the public booking page's confirmation POST (not run by `make test`).

The real flow, through gunicorn (platform/gunicorn.conf.py) on PostgreSQL as a role
under row-level security, with Redis for rate limits and jobs, CSRF on:

* preparation (not timed), one browser session per attempt: GET the slot page (session
  cookie, CSRF token), POST the chosen slot, GET the details form (its signed "shown at"
  stamp), wait the page's minimum fill time, POST the person's details (a valid NIK for
  ``stdnum.id.nik``, unique per attempt, with a unique phone);
* measured: the confirmation POST of every session, by ``--concurrency`` client threads
  on keep-alive connections. A booking is a 302 to ``…/done``; anything else is counted
  by kind (``slot_full`` = back to the slot page, ``http_4xx``/``5xx``, ``error``).

After each row it prints the CPU time each process spent per confirmation, by role
(gunicorn workers, this database's PostgreSQL backends, Redis, this client, the rest):
the machine's cores divided by their sum is the most this machine could serve, whatever
else runs on it. ``--floor`` first measures ``GET /healthz`` the same way.

Only the per-IP limit on the confirmation is raised (the generator is one address:
``PUBLIC_BOOKING_RATE_PER_IP``); the per-NIK and per-phone limits, the honeypot, the fill
time and CSRF stay on. Each run gets a fresh tenant (bench_ledger.seed: capacity 90% of
the attempts, in one hot slot or 100 slots) and ends with the oversell check: bookings
counted = successful responses = sum(slot.booked) = stock.promised, no slot over
capacity.

    .venv/bin/python tests/load/bench_booking_http.py                       # 1, 16, 64
    .venv/bin/python tests/load/bench_booking_http.py --concurrency 64 --attempts 1200
    .venv/bin/python tests/load/bench_booking_http.py --floor       # GET /healthz first
    WEB_CONCURRENCY=4 GUNICORN_THREADS=2 .venv/bin/python tests/load/bench_booking_http.py

Needs PostgreSQL (TEST_DATABASE_URL, as bench_ledger) and Redis (BENCH_REDIS_URL).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import http.client
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_ledger as ledger  # noqa: E402

ROOT = ledger.ROOT
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_STARTED = re.compile(r'name="started" value="([^"]+)"')
MIN_FILL_SECONDS = 3
OFFSET = random.randrange(10**8)  # this invocation's first NIK/phone number
SESSION_COOKIE = "sentra"  # SESSION_COOKIE_NAME outside production (no TLS here)


def valid_nik(n: int) -> tuple[str, dt.date, str]:
    """The n-th NIK of the run: region 32.73.01, a birth date spread over 1960-1999, the
    day + 40 for women, and a serial; unique for n < 14,600 x 9,999."""
    born = dt.date(1960, 1, 1) + dt.timedelta(days=n % 14600)
    sex = "female" if n % 2 else "male"
    day = born.day + (40 if sex == "female" else 0)
    serial = n // 14600 + 1
    return f"327301{day:02d}{born:%m%y}{serial:04d}", born, sex


class Browser:
    """One session: a cookie jar of one cookie, on a keep-alive connection."""

    def __init__(self, port: int):
        self.port, self.cookie, self.conn = port, "", None

    def request(self, method: str, path: str, form: dict | None = None):
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None  # the worker was recycled (max_requests): reconnect once
                if attempt == 2:
                    raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith(SESSION_COOKIE + "="):
                self.cookie = value.split(";", 1)[0]
        return response.status, response.getheader("Location") or "", data.decode()


def start_server(app_url: str, port: int, env_extra: dict) -> subprocess.Popen:
    env = {
        k: v for k, v in os.environ.items() if k not in ("MAIL_URL", "STORAGE_URL", "SECRET_KEY")
    }
    instance = Path(ledger.tempfile.gettempdir()) / "sentra-bench-http"
    env.update(
        DATABASE_URL=app_url.replace("+psycopg", ""),
        REDIS_URL=ledger.REDIS_URL,
        JOBS_QUEUE=ledger.JOBS_QUEUE,
        SECRET_KEY=ledger._config(app_url, app_url)["SECRET_KEY"],
        SENTRA_INSTANCE_PATH=str(instance),
        MAIL_URL=f"file://{instance / 'outbox'}",
        STORAGE_URL=f"file://{instance / 'files'}",
        LOG_LEVEL="WARNING",
        BIND=f"127.0.0.1:{port}",
        PUBLIC_BOOKING_RATE_PER_IP="1000000/minute",
        PUBLIC_BOOKING_MIN_FILL_SECONDS=str(MIN_FILL_SECONDS),
        **env_extra,
    )
    log = open(instance.parent / "sentra-bench-http.log", "w")  # noqa: SIM115 - the server's
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "wsgi:app",
            "-c",
            "platform/gunicorn.conf.py",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log.name}") from None
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def slot_days(owner_url: str, world: dict) -> dict:
    """slot id → the venue's local day (the page's URL names the day)."""
    import psycopg

    with psycopg.connect(owner_url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT s.id, s.starts_at, v.timezone FROM slot s JOIN venue v "
            "ON v.tenant_id = s.tenant_id AND v.id = s.venue_id WHERE s.tenant_id = %s",
            (world["tenant_id"],),
        ).fetchall()
    return {sid: starts.astimezone(ZoneInfo(tz)).date() for sid, starts, tz in rows}


def prepare(port: int, world: dict, days: dict, base: str, n0: int) -> Browser:
    """Steps 3 and 4 for one attempt; returns the session ready to confirm."""
    j = n0 % len(world["person_ids"])
    slot_id = world["slot_ids"][j % len(world["slot_ids"])]
    browser = Browser(port)
    day_path = f"{base}/venue/{world['venue_id']}/{days[slot_id].isoformat()}"
    status, _, page = browser.request("GET", day_path)
    assert status == 200, (status, page[:300])
    csrf = _CSRF.search(page).group(1)
    status, location, _ = browser.request("POST", day_path, {"csrf_token": csrf, "slot": slot_id})
    assert status == 302 and location.endswith("/details"), (status, location)
    status, _, page = browser.request("GET", f"{base}/details")
    assert status == 200, status
    browser.form_started = _STARTED.search(page).group(1)
    browser.csrf = csrf
    # NIK and phone unique across runs and invocations: the per-NIK (5/hour) and
    # per-phone limits live in Redis for an hour and must not be what is measured
    browser.n = OFFSET + n0
    return browser


def fill_details(browser: Browser, base: str) -> None:
    nik, born, sex = valid_nik(browser.n)
    status, location, page = browser.request(
        "POST",
        f"{base}/details",
        {
            "csrf_token": browser.csrf,
            "started": browser.form_started,
            "for_whom": "self",
            "full_name": f"Peserta Uji {browser.n}",
            "nik": nik,
            "date_of_birth": born.isoformat(),
            "sex": sex,
            "phone": f"+6281{browser.n % 10**9:09d}",
            "email": "",
            "address": "Jl. Uji Beban 1, Bandung",
            "occupation": "",
            "consent": "yes",
            "website": "",
        },
    )
    assert status == 302 and location.endswith("/review"), (status, location, page[:500])


def confirm(browser: Browser, base: str) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        status, location, _ = browser.request(
            "POST", f"{base}/confirm", {"csrf_token": browser.csrf, "website": ""}
        )
    except OSError as exc:
        return time.perf_counter() - started, f"error:{type(exc).__name__}"
    elapsed = time.perf_counter() - started
    if status == 302 and location.endswith("/done"):
        return elapsed, "ok"
    if status == 302 and "/venue/" in location:
        return elapsed, "slot_full"  # back to the times: slot_full / no_doses
    return elapsed, f"http_{status}"


def check(owner_url: str, world: dict, successes: int) -> str:
    import psycopg

    with psycopg.connect(owner_url.replace("+psycopg", "")) as conn:
        tid = world["tenant_id"]
        bookings = conn.execute(
            "SELECT count(*) FROM booking WHERE tenant_id = %s AND status = 'booked'", (tid,)
        ).fetchone()[0]
        booked, over = conn.execute(
            "SELECT sum(booked), count(*) FILTER (WHERE booked > capacity) FROM slot "
            "WHERE tenant_id = %s",
            (tid,),
        ).fetchone()
        promised = conn.execute(
            "SELECT sum(promised) FROM stock WHERE tenant_id = %s", (tid,)
        ).fetchone()[0]
    ok = bookings == booked == promised == successes and not over
    return (
        f"oversell check {'OK' if ok else 'FAILED'}: {bookings} bookings, {successes} "
        f"successful responses, slot.booked {booked}, stock.promised {promised}, capacity "
        f"{world['capacity']}, slots over capacity {over}"
    )


def run(port, app_url, owner_url, scenario, slots, concurrency, attempts, run_no) -> bool:
    world = ledger.seed(app_url, owner_url, attempts, slots)
    import psycopg

    with psycopg.connect(owner_url.replace("+psycopg", "")) as conn:
        slug = conn.execute(
            "SELECT slug FROM tenant WHERE id = %s", (world["tenant_id"],)
        ).fetchone()[0]
    base = f"/b/{slug}/bench"
    days = slot_days(owner_url, world)
    prep_started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        browsers = list(
            pool.map(
                lambda n: prepare(port, world, days, base, n),
                range(run_no * attempts, (run_no + 1) * attempts),
            )
        )
        time.sleep(MIN_FILL_SECONDS + 0.2)
        list(pool.map(lambda b: fill_details(b, base), browsers))
    prep = time.perf_counter() - prep_started
    for b in browsers:  # the measured phase opens its own connections
        if b.conn is not None:
            b.conn.close()
            b.conn = None
    queue = list(browsers)
    lock = threading.Lock()
    results: list[tuple[float, str]] = []

    def client() -> None:
        conn = None
        while True:
            with lock:
                if not queue:
                    break
                browser = queue.pop()
            browser.conn = conn  # one keep-alive connection per client thread
            outcome = confirm(browser, base)
            conn = browser.conn
            with lock:
                results.append(outcome)
        if conn is not None:
            conn.close()

    print(f"measuring {scenario} c={concurrency} …", flush=True)
    elapsed, cpu = timed(client, concurrency, app_url.rsplit("/", 1)[1])
    kinds: dict[str, int] = {}
    for _, kind in results:
        kinds[kind] = kinds.get(kind, 0) + 1
    latencies = sorted(lat for lat, _ in results)
    ok = kinds.get("ok", 0)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{scenario:4} slots={slots:<3} c={concurrency:<3} attempts={attempts:<5} "
        f"{ok / elapsed:6.0f} bookings/s  {len(results) / elapsed:6.0f} confirms/s  "
        f"p50 {q[49] * 1000:7.1f} ms  p99 {q[98] * 1000:7.1f} ms  outcomes {kinds}  "
        f"(prep {prep:.0f} s)",
        flush=True,
    )
    print(
        "     CPU ms per confirmation: "
        + ", ".join(f"{role} {ms / len(results):.1f}" for role, ms in sorted(cpu.items()))
        + f"; all {sum(cpu.values()) / len(results):.1f} (of {2000 * elapsed / len(results):.1f}"
        " ms of core time the machine had per confirmation)",
        flush=True,
    )
    verdict = check(owner_url, world, ok)
    print(f"     {verdict}", flush=True)
    return verdict.startswith("oversell check OK")


def timed(client, concurrency: int, database: str) -> tuple[float, dict[str, float]]:
    """Run ``client`` in ``concurrency`` threads until they end: the seconds it took and
    the CPU ms each role spent meanwhile (:func:`cpu_by_role`)."""
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    before, started = cpu_snapshot(database), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return elapsed, cpu_by_role(before, cpu_snapshot(database))


def floor(port: int, database: str, concurrency: int, requests: int, quiet: bool = False) -> None:
    """The same server answering ``GET /healthz`` (no database, no session, no limit):
    what any request costs this stack on this machine, the floor under a booking."""
    lock = threading.Lock()
    left = [requests]
    latencies: list[float] = []

    def client() -> None:
        browser = Browser(port)
        while True:
            with lock:
                if not left[0]:
                    break
                left[0] -= 1
            started = time.perf_counter()
            status, _, _ = browser.request("GET", "/healthz")
            assert status == 200, status
            with lock:
                latencies.append(time.perf_counter() - started)

    elapsed, cpu = timed(client, concurrency, database)
    if quiet:
        return
    q = statistics.quantiles(sorted(latencies), n=100)
    print(
        f"floor GET /healthz c={concurrency:<3} {requests / elapsed:6.0f} requests/s  "
        f"p50 {q[49] * 1000:7.1f} ms  p99 {q[98] * 1000:7.1f} ms",
        flush=True,
    )
    print(
        "     CPU ms per request: "
        + ", ".join(f"{role} {ms / requests:.2f}" for role, ms in sorted(cpu.items())),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 16, 64])
    parser.add_argument("--attempts", type=int, default=600)
    parser.add_argument("--scenarios", nargs="*", default=["hot", "wide"])
    parser.add_argument(
        "--floor", action="store_true", help="first time GET /healthz, the cost of any request"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    name, owner_url, app_url = ledger.create_database()
    port = ledger_port()
    server = start_server(app_url, port, {})
    workers = os.environ.get("WEB_CONCURRENCY") or "2 x cores + 1"
    threads = os.environ.get("GUNICORN_THREADS") or "1"
    print(f"gunicorn: {workers} workers x {threads} threads; client threads on this machine")
    ok, run_no = True, 0
    try:
        if args.floor:
            time.sleep(5)  # the workers import the app after the port opens
            floor(port, app_url.rsplit("/", 1)[1], 16, 400, quiet=True)  # warm every worker
            for concurrency in args.concurrency:
                floor(port, app_url.rsplit("/", 1)[1], concurrency, args.attempts * 4)
        for concurrency in args.concurrency:
            for scenario, slots in (("hot", 1), ("wide", 100)):
                if scenario in args.scenarios:
                    run_no += 1
                    ok &= run(port, app_url, owner_url, scenario, slots, concurrency,
                              args.attempts, run_no)  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        ledger.drop_database(name)
    print(f"load average after: {os.getloadavg()}")
    sys.exit(0 if ok else 1)


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(database: str) -> dict[int, tuple[str, float, float]]:
    """pid → (role, CPU ms of the process, CPU ms of its reaped children) for every
    process on this machine. Roles: the web workers (gunicorn), PostgreSQL (the backends
    serving ``database`` and the server's own processes; backends of other databases
    are someone else's), Redis, this load generator, and everything else."""
    ours = f" {database} ".encode()
    snapshot = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(proc.name) == os.getpid():
            role = "client"
        elif b"gunicorn" in cmdline:
            role = "web"
        elif cmdline.startswith(b"postgres:") and b"(" in cmdline:
            # a client's backend, "postgres: 15/main: user database host(port) state"
            role = "postgres" if ours in cmdline else "other"
        elif b"postgres" in cmdline:
            role = "postgres"
        elif b"redis-server" in cmdline:
            role = "redis"
        else:
            role = "other"
        own = (int(fields[11]) + int(fields[12])) * _TICK_MS  # utime + stime
        children = (int(fields[13]) + int(fields[14])) * _TICK_MS  # cutime + cstime
        snapshot[int(proc.name)] = (role, own, children)
    return snapshot


def cpu_by_role(before: dict, after: dict) -> dict[str, float]:
    """CPU ms spent between two snapshots, by role. A gunicorn worker recycled meanwhile
    (``max_requests``) is counted through its master's reaped-children time, less what
    it had used before; other processes that ended are not counted."""
    used: dict[str, float] = {}
    for pid, (role, own, children) in after.items():
        _, own0, children0 = before.get(pid, (role, 0.0, 0.0))
        spent = own - own0
        if role == "web":
            spent += children - children0
        used[role] = used.get(role, 0.0) + spent
    for pid, (role, own0, _) in before.items():
        if pid not in after and role == "web":
            used["web"] -= own0  # its whole life is in the master's children time now
    return used


def ledger_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
