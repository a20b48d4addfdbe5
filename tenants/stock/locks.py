"""Locking discipline shared by every service that moves a ledger counter.

One fixed lock order everywhere, so two transactions never wait on each other in a
cycle:

1. the booking row(s) being changed (a status transition guarded by ``WHERE status``),
2. the walk-in day,
3. slots, in id order,
4. stocks, in id order,
5. lots (a lot is only changed while its venue's stock row for the product is held,
   so lots never need an order of their own).

Counters move only through conditional ``UPDATE ... RETURNING`` statements: no
counter is read into Python and written back. On PostgreSQL each ledger transaction
sets ``lock_timeout`` so a stuck lock turns into a retryable error, not a hang.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.extensions import db

#: how long a ledger statement waits for a row lock before giving up (then retried)
LOCK_TIMEOUT = "3s"

#: SQLSTATEs worth retrying the whole unit of work for
RETRYABLE_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available (lock_timeout)
    }
)

_TXN_KEY = "ledger_transaction"


def begin_ledger(session: Session | None = None) -> None:
    """Prepare the current transaction for counter updates (once per transaction).

    On PostgreSQL: ``SET LOCAL lock_timeout``; transaction-local like the tenant
    setting, so it never leaks to the next user of a pooled connection.
    """
    session = session or db.session()
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    txn = session.get_transaction()
    if session.info.get(_TXN_KEY) is txn:
        return
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    session.info[_TXN_KEY] = txn


def lock_timeout_column(session: Session | None = None):
    """A column that sets the ledger's ``lock_timeout`` when selected (PostgreSQL; None
    elsewhere), so a read the service makes anyway carries it: one round trip fewer on
    the booking path. Call :func:`mark_ledger_begun` after executing it."""
    session = session or db.session()
    if session.get_bind().dialect.name != "postgresql":
        return None
    return sa.func.set_config("lock_timeout", LOCK_TIMEOUT, True).label("lock_timeout")


def mark_ledger_begun(session: Session | None = None) -> None:
    """Record that the open transaction has its lock timeout (see lock_timeout_column)."""
    session = session or db.session()
    session.info[_TXN_KEY] = session.get_transaction()


def is_retryable(exc: BaseException) -> bool:
    """Whether a database error means "try the whole unit of work again"."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    # SQLite (the embedded default): a writer that waited past busy_timeout.
    return isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(orig)
