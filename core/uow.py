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
_READY = "after_commit_ready"


def after_commit(fn: Callable[[], object], session: Session | None = None) -> None:
    """Run ``fn`` once the current transaction commits; never if it rolls back.

    Inside a SAVEPOINT (``begin_nested``) the action belongs to that savepoint: its
    release hands the action to the enclosing transaction, its rollback drops it, and
    only the outermost commit runs it. (SQLAlchemy emits ``after_commit`` and
    ``after_rollback`` for savepoints too; without this, a released savepoint ran its
    jobs before the data was committed, and a rolled-back one dropped everyone's.)
    """
    session = session or db.session()
    session.info.setdefault(_KEY, []).append((session.get_nested_transaction(), fn))


@event.listens_for(FlaskSession, "after_commit")
def _release(session: Session) -> None:
    if (savepoint := session.get_nested_transaction()) is not None:
        # A savepoint was released: its actions now wait for the enclosing transaction.
        parent = savepoint.parent if savepoint.parent and savepoint.parent.nested else None
        session.info[_KEY] = [
            (parent if owner is savepoint else owner, fn)
            for owner, fn in session.info.get(_KEY, [])
        ]
        return
    # The outermost transaction committed, but its connection is still checked out
    # until the transaction ends: run the actions then, so an in-process job taking a
    # connection of its own never waits on ours (with a small pool, every thread would
    # hold one connection and wait for a second).
    session.info[_READY] = session.info.pop(_KEY, [])


@event.listens_for(FlaskSession, "after_transaction_end")
def _run_ready(session: Session, transaction) -> None:
    if transaction.parent is not None:
        return
    for _owner, fn in session.info.pop(_READY, []):
        try:
            fn()
        except Exception:
            # The commit has happened; a failed side effect must not turn it into an
            # error page. The outbox sweeper retries what did not go out.
            log.exception("after-commit action failed", extra={"action": repr(fn)})


@event.listens_for(FlaskSession, "after_rollback")
def _drop(session: Session) -> None:
    if (savepoint := session.get_nested_transaction()) is not None:
        # Only the actions of the savepoint rolled back go; the enclosing ones stay.
        session.info[_KEY] = [
            (owner, fn) for owner, fn in session.info.get(_KEY, []) if owner is not savepoint
        ]
        return
    session.info.pop(_KEY, None)
