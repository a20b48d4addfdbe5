"""The unit of work: side effects wait for the commit.

Mails, jobs and file deletions are queued on the session during a request or job
and released only after the transaction commits; a rollback drops them. So a worker
never reads a row that is not there yet, and nothing is sent for work undone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.extensions import db

log = logging.getLogger(__name__)

_KEY = "after_commit"


def after_commit(fn: Callable[[], object], session: Session | None = None) -> None:
    """Run ``fn`` once the current transaction commits; never if it rolls back."""
    (session or db.session()).info.setdefault(_KEY, []).append(fn)


@event.listens_for(FlaskSession, "after_commit")
def _release(session: Session) -> None:
    pending = session.info.pop(_KEY, [])
    for fn in pending:
        try:
            fn()
        except Exception:
            # The commit has happened; a failed side effect must not turn it into an
            # error page. The outbox sweeper retries what did not go out.
            log.exception("after-commit action failed", extra={"action": repr(fn)})


@event.listens_for(FlaskSession, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
