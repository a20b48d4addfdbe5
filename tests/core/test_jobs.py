"""Jobs: after commit only, in-process or on rq, in the right tenant scope; the scheduler.

rq runs with fakeredis and ``SimpleWorker`` (no fork), and against the real Redis with
a real ``flask sentra worker --burst`` in a subprocess. Every app test also runs on
PostgreSQL as a role without BYPASSRLS, so the tenant scope is checked by the
database as well as by the ORM.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from fakeredis import FakeRedis
from rq import SimpleWorker
from rq.job import Job
from rq.job import JobStatus

from core import jobs
from core.extensions import db
from core.jobs import PERIODIC
from core.jobs import PeriodicJob
from core.jobs import Scheduler
from core.jobs import enqueue
from core.jobs import execute
from core.jobs import get_queue
from core.jobs import register_periodic
from core.tenancy import Scope
from core.tenancy import UnscopedQueryError
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from tests.core import sample_jobs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _reset():
    sample_jobs.calls.clear()
    yield
    jobs.set_worker_app(None)


@pytest.fixture
def fake_redis_app(app):
    """The app with REDIS_URL set and its rq connection pointed at an in-memory Redis."""
    app.config["REDIS_URL"] = "redis://fake/0"
    app.extensions["sentra_rq"] = {"redis": FakeRedis()}
    jobs.set_worker_app(app)
    return app


def run_worker(app) -> None:
    queue = get_queue(app)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def run_job(app, path: str, tenant_id=None, scope=None, **kwargs):
    """Run a job as a worker does: in its own app context (and so its own session)."""
    with app.app_context():
        return execute(path, str(tenant_id) if tenant_id else None, scope, kwargs)


def venues_of(tenant) -> list[str]:
    """The tenant's venues (a read: it neither commits nor drops pending jobs)."""
    with tenant_context(tenant):
        return sorted(db.session.scalars(sa.select(Venue.name)))


def two_tenants(create_tenant):
    a, b = create_tenant(), create_tenant()
    for tenant, name in ((a, "A1"), (b, "B1")):
        with tenant_context(tenant):
            db.session.add(Venue(name=name, address="x", province="p", city="c"))
            db.session.flush()
        db.session.commit()
    return a, b


# --- in-process (no REDIS_URL) --------------------------------------------------------


def test_in_process_job_runs_after_commit_and_never_after_rollback(app, create_tenant):
    tenant = create_tenant()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="rolled back")
    db.session.rollback()
    db.session.commit()
    assert venues_of(tenant) == []
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="committed")
    assert venues_of(tenant) == []  # not yet: enqueued, not committed
    db.session.commit()
    assert venues_of(tenant) == ["committed"]


def test_after_commit_actions_run_once_the_transaction_has_let_go_of_its_connection(app):
    """An in-process job takes a connection of its own: were the committing session
    still holding one, a small pool under many threads would deadlock (every thread
    holding one connection, waiting for a second)."""
    from core.uow import after_commit

    seen = []
    db.session.execute(sa.text("SELECT 1"))
    after_commit(lambda: seen.append(db.session().in_transaction()))
    db.session.commit()
    assert seen == [False]


def test_savepoints_neither_release_nor_drop_the_outer_transactions_jobs(app, create_tenant):
    """A released SAVEPOINT must not run jobs before the real commit (their rows would
    not be visible, and SQLite would be locked), and a rolled-back one drops only its
    own jobs (seed-demo books in savepoints and lost every voucher mail)."""
    tenant = create_tenant()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="outer")
    released = db.session.begin_nested()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="kept")
    inner = db.session.begin_nested()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="inner kept")
    inner.commit()
    released.commit()
    assert venues_of(tenant) == []  # released savepoints ran nothing
    undone = db.session.begin_nested()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="undone")
    undone.rollback()
    half = db.session.begin_nested()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="in a released child")
    child = db.session.begin_nested()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="child")
    child.commit()
    half.rollback()  # takes its released child's job with it
    db.session.commit()
    assert sorted(venues_of(tenant)) == ["inner kept", "kept", "outer"]


def test_job_reenters_its_tenant_or_named_scope(app, create_tenant):
    a, b = two_tenants(create_tenant)
    assert run_job(app, "tests.core.sample_jobs.venue_names", a.id) == ["A1"]
    assert run_job(app, "tests.core.sample_jobs.venue_names", b.id) == ["B1"]
    # Raw SQL in a tenant job: on PostgreSQL, RLS sees the same tenant as the ORM.
    if db.engine.dialect.name == "postgresql":
        assert run_job(app, "tests.core.sample_jobs.venue_count_raw", a.id) == 1
    enqueue("tests.core.sample_jobs.record", scope=Scope.SYSTEM, x=1)
    enqueue("tests.core.sample_jobs.record", tenant_id=a.id, x=2)
    db.session.commit()
    assert sample_jobs.calls == [
        {"kwargs": {"x": 1}, "tenant_id": None, "scope": "system"},
        {"kwargs": {"x": 2}, "tenant_id": str(a.id), "scope": None},
    ]


def test_failing_job_rolls_back_and_the_request_is_unharmed(app, create_tenant, caplog):
    tenant = create_tenant()
    with pytest.raises(RuntimeError):
        run_job(app, "tests.core.sample_jobs.add_venue_then_fail", tenant.id, name="x")
    enqueue("tests.core.sample_jobs.add_venue_then_fail", tenant_id=tenant.id, name="y")
    with caplog.at_level(logging.ERROR, logger="core.jobs"):
        db.session.commit()  # in-process: the failure is logged, not raised into the caller
    assert "in-process job failed" in caplog.text
    assert venues_of(tenant) == []


def test_enqueue_refuses_bad_ids_paths_and_mixed_scopes(app):
    with pytest.raises(ValueError):
        enqueue("tests.core.sample_jobs.record", job_id="has space")
    with pytest.raises(ValueError):
        enqueue("tests.core.sample_jobs.record", job_id="a:b")
    with pytest.raises(ValueError):
        enqueue("tests.core.sample_jobs.record", tenant_id=uuid.uuid4(), scope=Scope.SYSTEM)
    with pytest.raises(ImportError):
        enqueue("tests.core.sample_jobs.no_such_job")
    db.session.commit()
    assert sample_jobs.calls == []


# --- rq with fakeredis and SimpleWorker -----------------------------------------------


def test_rq_job_enqueued_after_commit_runs_in_its_tenant(fake_redis_app, create_tenant):
    a, b = two_tenants(create_tenant)
    queue = get_queue(fake_redis_app)
    enqueue("tests.core.sample_jobs.venue_names", tenant_id=a.id, job_id="names-a")
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=b.id, job_id="add-b", name="B2")
    assert queue.count == 0  # nothing before the commit
    db.session.commit()
    assert queue.job_ids == ["names-a", "add-b"]
    run_worker(fake_redis_app)
    names = Job.fetch("names-a", connection=queue.connection)
    assert names.get_status() == JobStatus.FINISHED
    assert names.return_value() == ["A1"]
    assert Job.fetch("add-b", connection=queue.connection).get_status() == JobStatus.FINISHED
    assert venues_of(b) == ["B1", "B2"]
    assert venues_of(a) == ["A1"]


def test_a_long_job_carries_its_own_timeout(fake_redis_app):
    """rq stops a job after the queue's default (10 minutes) unless told otherwise: an
    export of a million doses takes longer, so its enqueue names its own timeout."""
    from core.jobs import DEFAULT_TIMEOUT

    enqueue("tests.core.sample_jobs.venue_names", job_id="long", timeout=3 * 3600)
    enqueue("tests.core.sample_jobs.venue_names", job_id="short")
    db.session.commit()
    connection = get_queue(fake_redis_app).connection
    assert Job.fetch("long", connection=connection).timeout == 3 * 3600
    assert Job.fetch("short", connection=connection).timeout == DEFAULT_TIMEOUT


def test_rq_rollback_enqueues_nothing(fake_redis_app, create_tenant):
    tenant = create_tenant()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="never")
    db.session.rollback()
    db.session.commit()
    assert get_queue(fake_redis_app).count == 0


def test_rq_failing_job_is_failed_and_rolled_back(fake_redis_app, create_tenant):
    tenant = create_tenant()
    enqueue(
        "tests.core.sample_jobs.add_venue_then_fail",
        tenant_id=tenant.id,
        job_id="breaks",
        name="half-done",
    )
    db.session.commit()
    run_worker(fake_redis_app)
    queue = get_queue(fake_redis_app)
    job = Job.fetch("breaks", connection=queue.connection)
    assert job.get_status() == JobStatus.FAILED
    assert "the job broke after writing" in job.latest_result().exc_string
    assert "breaks" in queue.failed_job_registry.get_job_ids()
    assert venues_of(tenant) == []


def test_rq_same_job_id_is_enqueued_once(fake_redis_app, caplog):
    for _ in range(2):
        enqueue("tests.core.sample_jobs.record", scope=Scope.SYSTEM, job_id="once-only", n=1)
        with caplog.at_level(logging.INFO, logger="core.jobs"):
            db.session.commit()
    assert get_queue(fake_redis_app).job_ids == ["once-only"]
    assert "job already enqueued" in caplog.text
    run_worker(fake_redis_app)
    assert sample_jobs.calls == [{"kwargs": {"n": 1}, "tenant_id": None, "scope": "system"}]


def test_unreachable_redis_does_not_fail_the_commit(app, create_tenant, caplog):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    tenant = create_tenant()
    enqueue("tests.core.sample_jobs.add_venue", tenant_id=tenant.id, name="kept")
    with tenant_context(tenant):
        db.session.add(Venue(name="the request's own row", address="x", province="p", city="c"))
        db.session.flush()
    with caplog.at_level(logging.ERROR, logger="core.jobs"):
        db.session.commit()
    assert "Redis unavailable" in caplog.text
    assert venues_of(tenant) == ["the request's own row"]


# --- the real Redis and a real worker process -----------------------------------------


def test_real_worker_on_real_redis(app, app_config, redis_url, create_tenant, tmp_path):
    queue_name = f"test-{uuid.uuid4().hex[:12]}"
    app.config.update(REDIS_URL=redis_url, JOBS_QUEUE=queue_name)
    a, b = two_tenants(create_tenant)
    enqueue("tests.core.sample_jobs.venue_names", tenant_id=a.id, job_id=f"{queue_name}-names")
    enqueue(
        "tests.core.sample_jobs.add_venue", tenant_id=b.id, job_id=f"{queue_name}-add", name="B2"
    )
    enqueue(
        "tests.core.sample_jobs.add_venue_then_fail",
        tenant_id=a.id,
        job_id=f"{queue_name}-fail",
        name="half-done",
    )
    db.session.commit()
    queue = get_queue(app)
    assert queue.count == 3

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SENTRA_", "DATABASE_"))},
        "SENTRA_ENV": "testing",
        "SENTRA_INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": app_config["SECRET_KEY"],
        "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url,
        "MAIL_URL": app_config["MAIL_URL"],
        "STORAGE_URL": app_config["STORAGE_URL"],
        "LOG_LEVEL": "WARNING",
    }
    flask = Path(sys.executable).with_name("flask")
    done = subprocess.run(
        [str(flask), "--app", "wsgi", "sentra", "worker", "--burst", queue_name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    names = Job.fetch(f"{queue_name}-names", connection=queue.connection)
    assert names.get_status() == JobStatus.FINISHED
    assert names.return_value() == ["A1"]
    assert Job.fetch(f"{queue_name}-add", connection=queue.connection).get_status() == (
        JobStatus.FINISHED
    )
    failed = Job.fetch(f"{queue_name}-fail", connection=queue.connection)
    assert failed.get_status() == JobStatus.FAILED
    assert f"{queue_name}-fail" in queue.failed_job_registry.get_job_ids()
    db.session.rollback()
    assert venues_of(a) == ["A1"]  # the failed job's write was rolled back
    assert venues_of(b) == ["B1", "B2"]
    for job_id in queue.failed_job_registry.get_job_ids():
        queue.failed_job_registry.remove(job_id, delete_job=True)
    queue.delete(delete_jobs=True)


# --- the scheduler --------------------------------------------------------------------

MINUTELY = PeriodicJob("minutely", "tests.core.sample_jobs.record", 60, Scope.SYSTEM)
HOURLY = PeriodicJob("hourly", "tests.core.sample_jobs.record", 3600, None)


def test_due_computation_without_sleeping():
    scheduler = Scheduler(app=None, jobs=[MINUTELY, HOURLY])
    t0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, a whole hour
    assert [(j.name, b) for j, b in scheduler.due(t0 + 5)] == [
        ("minutely", 30_000_000),
        ("hourly", 500_000),
    ]
    scheduler.last_bucket = {"minutely": 30_000_000, "hourly": 500_000}
    assert scheduler.due(t0 + 59.9) == []
    assert [j.name for j, _ in scheduler.due(t0 + 60)] == ["minutely"]
    assert [j.name for j, _ in scheduler.due(t0 + 3600)] == ["minutely", "hourly"]
    assert scheduler.due(t0 - 60) == []  # a clock stepping back does not re-run a bucket
    assert scheduler.seconds_until_next(t0 + 5) == pytest.approx(55)
    assert scheduler.seconds_until_next(t0 + 59.5) == pytest.approx(0.5)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_two_schedulers_enqueue_each_run_once(fake_redis_app):
    t = 1_800_000_000.0
    first, second = Scheduler(fake_redis_app, [MINUTELY]), Scheduler(fake_redis_app, [MINUTELY])
    assert first.tick(t + 1) == [("periodic-minutely-30000000", jobs.ENQUEUED)]
    assert second.tick(t + 2) == [("periodic-minutely-30000000", jobs.DUPLICATE)]
    assert first.tick(t + 30) == []  # same bucket: not due again
    assert second.tick(t + 61) == [("periodic-minutely-30000001", jobs.ENQUEUED)]
    queue = get_queue(fake_redis_app)
    assert queue.job_ids == ["periodic-minutely-30000000", "periodic-minutely-30000001"]
    job = queue.fetch_job("periodic-minutely-30000000")
    assert job.ttl == 60  # not picked up before the next run ⇒ dropped, not piled up
    run_worker(fake_redis_app)
    assert [c["scope"] for c in sample_jobs.calls] == ["system", "system"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_two_schedulers_on_the_real_redis_enqueue_once(app, redis_url):
    name = f"t{uuid.uuid4().hex[:12]}"
    app.config.update(REDIS_URL=redis_url, JOBS_QUEUE=name)
    job = PeriodicJob(name, "tests.core.sample_jobs.record", 60, Scope.SYSTEM)
    t = time.time()
    outcomes = [Scheduler(app, [job]).tick(t)[0][1] for _ in range(3)]
    assert outcomes == [jobs.ENQUEUED, jobs.DUPLICATE, jobs.DUPLICATE]
    queue = get_queue(app)
    try:
        assert queue.job_ids == [f"periodic-{name}-{int(t // 60)}"]
    finally:
        queue.delete(delete_jobs=True)


def test_scheduler_once_runs_due_jobs_in_process(app, runner, monkeypatch):
    monkeypatch.setattr(jobs, "PERIODIC", [*PERIODIC, MINUTELY])
    result = runner.invoke(args=["sentra", "scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "periodic-outbox-sweep-" in result.output
    assert "periodic-minutely-" in result.output and ": ran" in result.output
    assert sample_jobs.calls == [{"kwargs": {}, "tenant_id": None, "scope": "system"}]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_scheduler_process_ticks_and_stops_on_sigterm(app, app_config, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SENTRA_", "DATABASE_"))},
        "SENTRA_ENV": "testing",
        "SENTRA_INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": app_config["SECRET_KEY"],
        "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "MAIL_URL": app_config["MAIL_URL"],
        "LOG_LEVEL": "INFO",
    }
    flask = Path(sys.executable).with_name("flask")
    with subprocess.Popen(
        [str(flask), "--app", "wsgi", "sentra", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True)
        reader.start()
        try:
            assert "Scheduler running in-process" in proc.stdout.readline()
            # The first tick runs at once: its log line says the outbox sweep ran.
            deadline = time.monotonic() + 60
            while True:
                try:
                    line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    pytest.fail("the scheduler logged no tick within a minute")
                if '"periodic job"' in line:
                    assert '"outcome": "ran"' in line and "periodic-outbox-sweep-" in line
                    break
            proc.terminate()
            out = proc.stdout.read()
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            reader.join(timeout=10)
    assert proc.returncode == 0
    assert "Scheduler stopped." in out


def test_register_periodic(monkeypatch):
    monkeypatch.setattr(jobs, "PERIODIC", list(PERIODIC))
    job = register_periodic("nightly-report", "tests.core.sample_jobs.record", 86400)
    assert job in jobs.PERIODIC and job.scope == Scope.SYSTEM
    assert register_periodic("nightly-report", "tests.core.sample_jobs.record", 86400) is job
    with pytest.raises(ValueError):
        register_periodic("nightly-report", "tests.core.sample_jobs.other", 86400)
    with pytest.raises(ValueError):
        register_periodic("bad name", "x.y", 60)
    with pytest.raises(ValueError):
        register_periodic("zero", "x.y", 0)


def test_cross_tenant_job_sees_what_its_scope_grants(app, create_tenant):
    two_tenants(create_tenant)
    # Venue grants the PLATFORM scope SELECT (on PostgreSQL through its RLS policy).
    assert run_job(app, "tests.core.sample_jobs.venue_names", scope="platform") == ["A1", "B1"]
    with pytest.raises(UnscopedQueryError):
        run_job(app, "tests.core.sample_jobs.venue_names")
