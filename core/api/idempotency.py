"""``Idempotency-Key`` on POSTs: a retried request gets the first one's response.

Stored per (tenant, key) with a fingerprint of the request and, once it succeeds,
its response. The record is inserted at the start of the request, *in the request's
own transaction*, and completed just before the commit at the edge. So:

* same key, same request → the stored response is replayed (``Idempotent-Replayed``);
* same key, another request (method, path or body) → 422 problem;
* two requests with one key at the same time → the unique ``(tenant_id, key)`` makes
  the second INSERT wait for the first transaction; once the first commits, the second
  replays its response; if the first failed (rolled back: nothing happened, nothing is
  stored) the second runs. The wait is bounded by ``IDEMPOTENCY_LOCK_TIMEOUT``
  (PostgreSQL); past it the client gets a 409 problem and retries later. Waiting was
  chosen over an immediate 409 because the record and the effect commit together: a
  client never sees a "done" record whose work was rolled back.
* failed requests (status >= 400) store nothing: they changed nothing, so a retry
  after fixing the request is welcome to run.

Records older than ``IDEMPOTENCY_TTL`` are deleted hourly by
:func:`purge_idempotency_records` (a periodic job of ``flask sentra scheduler``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import sqlalchemy as sa
from flask import Response
from flask import current_app
from flask import g
from flask import request
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import OperationalError

from core.api.errors import ApiError
from core.api.models import ApiKey
from core.api.models import IdempotencyRecord
from core.db import utcnow
from core.errors import Conflict
from core.extensions import db
from core.ids import uuid7
from core.jobs import register_periodic
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import current_tenant_id

HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL = dt.timedelta(hours=24)
#: response headers worth replaying
_KEPT_HEADERS = ("Content-Type", "Location")


def request_fingerprint() -> str:
    """SHA-256 over method, path and the body (JSON canonicalised: key order is free)."""
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.full_path.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def begin(api_key: ApiKey) -> Response | None:
    """Claim the request's Idempotency-Key; return the stored response to replay, if any."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ApiError(
            _("Idempotency-Key must be 1 to 255 printable characters."),
            code="idempotency_key_invalid",
        )
    fingerprint = request_fingerprint()
    record_id = uuid7()
    values = {
        "tenant_id": current_tenant_id(),
        "id": record_id,
        "key": key,
        "api_key_id": api_key.id,
        "fingerprint": fingerprint,
        "response_headers": {},
        "created_at": utcnow(),
    }
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    statement = (
        insert(IdempotencyRecord.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        .returning(IdempotencyRecord.__table__.c.id)
    )
    inserted = _insert_waiting(statement, dialect)
    if inserted is not None:
        g.idempotency_record_id = inserted
        return None
    existing = db.session.scalar(sa.select(IdempotencyRecord).where(IdempotencyRecord.key == key))
    if existing is None or existing.response_status is None:
        # Only a streamed response is committed without a stored body.
        raise Conflict(
            _("The response to this Idempotency-Key cannot be replayed; use a new key."),
            code="idempotency_key_in_use",
        )
    if existing.fingerprint != fingerprint:
        raise ApiError(
            _("This Idempotency-Key was used for a different request."),
            code="idempotency_key_reused",
            status=422,
        )
    response = current_app.response_class(existing.response_body, status=existing.response_status)
    for name, value in (existing.response_headers or {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    g.idempotency_replayed = True
    return response


def _insert_waiting(statement, dialect: str):
    """Run the INSERT … ON CONFLICT DO NOTHING, waiting a bounded time for a twin."""
    if dialect != "postgresql":
        return db.session.execute(statement).scalar()
    timeout_ms = int(current_app.config.get("IDEMPOTENCY_LOCK_TIMEOUT", 10) * 1000)
    connection = db.session.connection()
    previous = connection.exec_driver_sql("SHOW lock_timeout").scalar()
    try:
        with db.session.begin_nested():
            connection.exec_driver_sql(
                "SELECT set_config('lock_timeout', %(t)s, true)", {"t": f"{timeout_ms}ms"}
            )
            return db.session.execute(statement).scalar()
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise Conflict(
            _("A request with this Idempotency-Key is still running; retry in a moment."),
            code="idempotency_key_in_use",
        ) from None
    finally:
        connection.exec_driver_sql(
            "SELECT set_config('lock_timeout', %(t)s, true)", {"t": previous}
        )


def complete(response: Response) -> Response:
    """Store a successful response on the request's record (before the edge commits)."""
    record_id = g.pop("idempotency_record_id", None)
    if record_id is None or response.status_code >= 400 or response.direct_passthrough:
        return response
    headers = {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}
    db.session.execute(
        sa.update(IdempotencyRecord)
        .where(
            IdempotencyRecord.tenant_id == current_tenant_id(),
            IdempotencyRecord.id == record_id,
        )
        .values(
            response_status=response.status_code,
            response_body=response.get_data(as_text=True),
            response_headers=headers,
        )
        .execution_options(synchronize_session=False)
    )
    return response


def purge_idempotency_records(now: dt.datetime | None = None) -> int:
    """Delete records past their time to live, across tenants; returns how many."""
    cutoff = (now or utcnow()) - IDEMPOTENCY_TTL
    with cross_tenant(Scope.SYSTEM):
        result = db.session.execute(
            sa.delete(IdempotencyRecord)
            .where(IdempotencyRecord.created_at < cutoff)
            .execution_options(synchronize_session=False)
        )
    return result.rowcount


PURGE_JOB = register_periodic(
    "api-idempotency-purge", "core.api.idempotency.purge_idempotency_records", 3600, Scope.SYSTEM
)
