"""Background jobs on rq, or in-process when no Redis is configured.

Jobs are enqueued by dotted path with ids (tenant id included), only after the
transaction commits (:mod:`core.uow`). The job runner pushes an app context,
re-enters tenant scope, calls the function, and commits once at the end; an
exception rolls back and is re-raised so rq records the failure.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

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
#: the app a worker process runs jobs in (set by `flask sentra worker` or on first use)
_worker_app: Flask | None = None


def enqueue(
    path: str,
    *,
    tenant_id: uuid.UUID | None = None,
    job_id: str | None = None,
    scope: Scope | None = None,
    **kwargs: Any,
) -> None:
    """Run the job at ``path`` with ``kwargs`` after the current transaction commits.

    ``tenant_id`` scopes the job to a tenant; ``scope`` names a cross-tenant job.
    ``job_id`` makes the enqueue idempotent on Redis (a second one is dropped).
    """
    app = current_app._get_current_object()
    tid = str(tenant_id) if tenant_id else None
    sc = str(scope) if scope else None
    after_commit(lambda: dispatch(app, path, tid, sc, kwargs, job_id))


def dispatch(
    app: Flask,
    path: str,
    tenant_id: str | None,
    scope: str | None,
    kwargs: dict,
    job_id: str | None = None,
) -> None:
    """Hand a job to rq, or run it now in a fresh app context when there is no Redis."""
    if app.config.get("REDIS_URL"):
        queue = get_queue(app)
        queue.enqueue(
            "core.jobs.run",
            path,
            tenant_id,
            scope,
            kwargs,
            job_id=job_id,
            unique=bool(job_id),
            description=path,
        )
        return
    try:
        with app.app_context():
            execute(path, tenant_id, scope, kwargs)
    except Exception:
        log.exception("in-process job failed", extra={"job": path})


def get_queue(app: Flask, name: str = DEFAULT_QUEUE):
    """The rq queue for this app (one Redis connection per app)."""
    from redis import Redis
    from rq import Queue

    state = app.extensions.setdefault("sentra_rq", {})
    if "redis" not in state:
        state["redis"] = Redis.from_url(
            app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2
        )
    return Queue(name, connection=state["redis"], default_timeout=600)


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


def set_worker_app(app: Flask) -> None:
    """Use this app for jobs run in this process (the `worker` command sets it)."""
    global _worker_app
    _worker_app = app
    app.extensions["sentra_pid"] = os.getpid()
