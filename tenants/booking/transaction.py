"""Run a ledger unit of work in its own transaction, retrying lock conflicts.

Why here and not a SAVEPOINT inside each service: the retry must restart the *whole*
unit of work from a fresh transaction (fresh snapshot, no locks held), and a
savepoint would add two round trips while the slot row is locked (SAVEPOINT before
the first UPDATE, RELEASE after the INSERT), which is exactly the time that bounds
throughput on a hot slot. Deadlocks and lock timeouts are also raised at any
statement, including ones after the service returns. So the edge that commits owns
the retry: views, jobs, CLI commands and tests call ``run_in_transaction(fn)``,
which calls ``fn`` (loading objects by id inside it, since a rollback expires them),
commits, and on a retryable error rolls back and tries again, a bounded number of
times with jittered backoff; then ``BookingError("busy")``. A ``DomainError`` is not
retried: it rolls back and propagates (nothing was taken).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from core.extensions import db
from tenants.booking.services.common import BookingError
from tenants.stock.locks import is_retryable

T = TypeVar("T")

ATTEMPTS = 5


def run_in_transaction(
    fn: Callable[[], T], *, attempts: int = ATTEMPTS, session: Session | None = None
) -> T:
    """Call ``fn`` and commit; retry the whole unit on deadlock, lock timeout or
    serialization failure. Start with no uncommitted work in the session: it would be
    committed (or rolled back) with this unit."""
    session = session or db.session()
    for attempt in range(1, attempts + 1):
        try:
            result = fn()
            session.commit()
            return result
        except Exception as exc:
            session.rollback()
            if not is_retryable(exc):
                raise
            if attempt == attempts:
                raise BookingError(
                    _("Many people are booking right now; please try again in a moment."),
                    code="busy",
                    status=503,
                ) from exc
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter
    raise AssertionError("unreachable")  # pragma: no cover
