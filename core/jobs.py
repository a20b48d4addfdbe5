"""Background jobs on rq, or in-process when no Redis is configured; periodic jobs.

Jobs are enqueued by dotted path with ids (tenant id included), only after the
transaction commits (:mod:`core.uow`): a rollback enqueues nothing. The job runner
pushes an app context, re-enters tenant scope (``tenant_context``) or a named
``cross_tenant`` scope, calls the function and commits once at the end; an exception
rolls back and is re-raised, so rq records the job as failed.

Delivery is at least once (rq has no exactly-once): jobs must be idempotent. Work
that must not be lost goes through a table written in the same transaction (the mail
outbox) and a periodic sweeper, so a Redis that is down at enqueue time costs a delay,
never the request: :func:`dispatch` logs the failure and the sweeper catches up.

Periodic jobs are listed in :data:`PERIODIC` (packages append to it at import) and
run by ``flask sentra scheduler``: each run has the job id
``periodic-<name>-<time bucket>``, enqueued with rq's ``unique=True``, so two
schedulers never enqueue the same run twice. (rq's own ``CronScheduler`` enqueues
without ids, so two of them double-enqueue; and it needs Redis, which the embedded
default has not.)
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from typing import Any
from typing import NamedTuple

from flask import Flask
from flask import current_app
from werkzeug.utils import import_string

from core.extensions import db
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from core.uow import after_commit

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
#: seconds a job may run before rq stops it, unless enqueued with its own ``timeout``
DEFAULT_TIMEOUT = 600
#: rq accepts only these characters in a job id
JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,200}")
#: the app a worker process runs jobs in (set by `flask sentra worker` or on first use)
_worker_app: Flask | None = None

# What dispatch() did with a job.
ENQUEUED = "enqueued"  # handed to rq
DUPLICATE = "duplicate"  # a job with this id exists already in Redis: dropped
UNAVAILABLE = "unavailable"  # Redis could not be reached: dropped and logged
RAN = "ran"  # no Redis: ran in-process and committed
FAILED = "failed"  # no Redis: ran in-process and raised (rolled back, logged)


def enqueue(
    path: str,
    *,
    tenant_id: uuid.UUID | None = None,
    job_id: str | None = None,
    scope: Scope | None = None,
    timeout: int | None = None,
    **kwargs: Any,
) -> None:
    """Run the job at ``path`` with ``kwargs`` after the current transaction commits.

    ``tenant_id`` scopes the job to a tenant; ``scope`` names a cross-tenant job.
    ``job_id`` (letters, digits, ``-``, ``_``) makes the enqueue idempotent on Redis:
    a second job with the same id is dropped while the first one's record exists.
    ``timeout`` (seconds) replaces the queue's default of 600 for a long job; rq stops
    a job that runs longer. ``kwargs`` must be picklable plain values (ids, strings),
    never ORM objects.
    """
    if job_id is not None and not JOB_ID_RE.fullmatch(job_id):
        raise ValueError(f"job id may only hold letters, digits, '-' and '_': {job_id!r}")
    if tenant_id is not None and scope is not None:
        raise ValueError("a job runs in one tenant or in a cross-tenant scope, not both")
    import_string(path)  # a typo fails in the request that made it, not later in a worker
    app = current_app._get_current_object()
    tid = str(tenant_id) if tenant_id else None
    sc = Scope(scope).value if scope else None
    options = {"timeout": timeout} if timeout else None
    after_commit(lambda: dispatch(app, path, tid, sc, kwargs, job_id, options=options))


def dispatch(
    app: Flask,
    path: str,
    tenant_id: str | None,
    scope: str | None,
    kwargs: dict,
    job_id: str | None = None,
    *,
    options: dict | None = None,
) -> str:
    """Hand a job to rq, or run it now in a fresh app context when there is no Redis.

    Never raises for an unreachable Redis or a duplicate id: the caller's transaction
    has committed already. ``options`` are rq job options (``result_ttl``, ``ttl``…).
    Returns one of ENQUEUED, DUPLICATE, UNAVAILABLE, RAN, FAILED.
    """
    if app.config.get("REDIS_URL"):
        from redis.exceptions import RedisError
        from rq.exceptions import DuplicateJobError

        try:
            get_queue(app).enqueue_call(
                "core.jobs.run",
                args=(path, tenant_id, scope, kwargs),
                job_id=job_id,
                unique=job_id is not None,
                description=path,
                **(options or {}),
            )
        except DuplicateJobError:
            log.info("job already enqueued", extra={"job": path, "job_id": job_id})
            return DUPLICATE
        except RedisError as exc:
            # The outbox sweeper re-enqueues mail; other jobs must be re-made by their
            # own sweeper. The request that caused the job has succeeded either way.
            log.error(
                "could not enqueue job: Redis unavailable",
                extra={"job": path, "job_id": job_id, "error": f"{type(exc).__name__}: {exc}"},
            )
            return UNAVAILABLE
        return ENQUEUED
    try:
        with app.app_context():
            execute(path, tenant_id, scope, kwargs)
    except Exception:
        log.exception("in-process job failed", extra={"job": path, "job_id": job_id})
        return FAILED
    return RAN


def queue_name(app: Flask) -> str:
    """The queue this app's jobs go to (``JOBS_QUEUE``, ``default`` unless set)."""
    return app.config.get("JOBS_QUEUE") or DEFAULT_QUEUE


def get_queue(app: Flask, name: str | None = None):
    """The rq queue for this app (one Redis connection pool per app)."""
    from redis import Redis
    from rq import Queue

    state = app.extensions.setdefault("sentra_rq", {})
    if "redis" not in state:
        state["redis"] = Redis.from_url(
            app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2
        )
    return Queue(
        name or queue_name(app), connection=state["redis"], default_timeout=DEFAULT_TIMEOUT
    )


def run(path: str, tenant_id: str | None, scope: str | None, kwargs: dict) -> Any:
    """The function rq calls in a worker: run one job inside the app."""
    global _worker_app
    if _worker_app is None:
        from core.app import create_app

        _worker_app = create_app()
    with _worker_app.app_context():
        if os.getpid() != _worker_app.extensions.get("sentra_pid"):
            # rq forks a work horse per job; never share the parent's pooled connections.
            db.engine.dispose(close=False)
            _worker_app.extensions["sentra_pid"] = os.getpid()
        return execute(path, tenant_id, scope, kwargs)


def execute(path: str, tenant_id: str | None, scope: str | None, kwargs: dict) -> Any:
    """Call the job function in its tenant scope and commit once; roll back on error."""
    fn = import_string(path)
    session = db.session()
    try:
        if tenant_id:
            with tenant_context(uuid.UUID(tenant_id)):
                result = fn(**kwargs)
                session.commit()
        elif scope:
            with cross_tenant(Scope(scope)):
                result = fn(**kwargs)
                session.commit()
        else:
            result = fn(**kwargs)
            session.commit()
        return result
    except BaseException:
        session.rollback()
        raise
    finally:
        db.session.remove()


def set_worker_app(app: Flask | None) -> None:
    """Use this app for jobs run in this process (the `worker` command sets it)."""
    global _worker_app
    _worker_app = app
    if app is not None:
        app.extensions["sentra_pid"] = os.getpid()


# --- periodic jobs --------------------------------------------------------------------


class PeriodicJob(NamedTuple):
    """A job the scheduler enqueues every ``interval`` seconds (aligned to the epoch)."""

    name: str  # unique; letters, digits, '-' and '_' (it is part of the job id)
    path: str  # dotted path of the function; called with no arguments
    interval: int  # seconds
    scope: Scope | None = Scope.SYSTEM  # periodic work sweeps every tenant


#: Every periodic job. Packages append with :func:`register_periodic` when imported.
PERIODIC: list[PeriodicJob] = [
    PeriodicJob("outbox-sweep", "core.mail.sweep_outbox", 60, Scope.SYSTEM),
]


def register_periodic(
    name: str, path: str, interval: int, scope: Scope | None = Scope.SYSTEM
) -> PeriodicJob:
    """Add a periodic job (idempotent for the same definition; a clashing name raises)."""
    job = PeriodicJob(name, path, int(interval), Scope(scope) if scope else None)
    if not JOB_ID_RE.fullmatch(name) or len(name) > 100:
        raise ValueError(f"periodic job name may only hold letters, digits, '-', '_': {name!r}")
    if job.interval < 1:
        raise ValueError("periodic job interval must be at least one second")
    for existing in PERIODIC:
        if existing.name == name:
            if existing != job:
                raise ValueError(f"another periodic job is named {name!r}")
            return existing
    PERIODIC.append(job)
    return job


def periodic_job_id(job: PeriodicJob, bucket: int) -> str:
    """The id of one run: the same for every scheduler that computes the same bucket."""
    return f"periodic-{job.name}-{bucket}"


class Scheduler:
    """Enqueues each periodic job once per time bucket (``floor(epoch / interval)``).

    A bucket is due when this scheduler has not enqueued it yet; on start the current
    bucket of every job is due. Two schedulers compute the same bucket and job id, and
    rq's unique enqueue keeps only the first. Without Redis the jobs run in-process.
    """

    def __init__(self, app: Flask, jobs: list[PeriodicJob] | None = None):
        self.app = app
        self.jobs = list(PERIODIC if jobs is None else jobs)
        self.last_bucket: dict[str, int] = {}

    @staticmethod
    def bucket(job: PeriodicJob, now: float) -> int:
        return int(now // job.interval)

    def due(self, now: float) -> list[tuple[PeriodicJob, int]]:
        """The jobs whose current bucket this scheduler has not enqueued yet."""
        found = []
        for job in self.jobs:
            bucket = self.bucket(job, now)
            last = self.last_bucket.get(job.name)
            if last is None or bucket > last:
                found.append((job, bucket))
        return found

    def tick(self, now: float | None = None) -> list[tuple[str, str]]:
        """Enqueue every due job; returns ``(job id, outcome)`` for each."""
        now = time.time() if now is None else now
        done = []
        for job, bucket in self.due(now):
            job_id = periodic_job_id(job, bucket)
            outcome = dispatch(
                self.app,
                job.path,
                None,
                job.scope.value if job.scope else None,
                {},
                job_id,
                options={
                    # A run nobody picked up before the next one is due is dropped.
                    "ttl": job.interval,
                    # Keep the finished run's id long enough to refuse a late duplicate.
                    "result_ttl": max(2 * job.interval, 500),
                    "failure_ttl": 7 * 24 * 3600,
                },
            )
            self.last_bucket[job.name] = bucket
            log.info("periodic job", extra={"job_id": job_id, "outcome": outcome})
            done.append((job_id, outcome))
        return done

    def seconds_until_next(self, now: float) -> float:
        """How long to sleep until the earliest next bucket starts."""
        if not self.jobs:
            return 60.0
        return max(0.0, min((self.bucket(j, now) + 1) * j.interval - now for j in self.jobs))

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set (SIGTERM from the `scheduler` command sets it)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad tick must not end the scheduler
                log.exception("scheduler tick failed")
            # A little past the boundary, so the clock has really entered the new bucket.
            stop.wait(self.seconds_until_next(time.time()) + 0.05)
