"""Tenant isolation, walls one and three: scoped ORM sessions and row-level security.

Inside ``tenant_context(tenant)`` every ORM query on a :class:`TenantOwned` model is
filtered by that tenant (``with_loader_criteria``), new tenant-owned rows get the
tenant's id, and on PostgreSQL each transaction sets ``app.tenant_id`` with
``set_config(..., true)`` so the row-level security policies made by the migrations
see it. Outside any context a query on a tenant-owned model raises: code that must
cross tenants says so with ``cross_tenant(Scope.X)``, which the database also knows
(``app.scope``) and grants only through its own narrow policies.

Wall two, composite keys, is :class:`TenantOwned` itself: primary key
``(tenant_id, id)`` and foreign keys between tenant-owned tables through
:func:`tenant_fk`, so the database refuses a cross-tenant reference.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session
from sqlalchemy.orm import declared_attr
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import with_loader_criteria

from core.extensions import db
from core.ids import uuid7


class Scope(enum.StrEnum):
    """Named reasons to cross tenants. Each is granted by its own RLS policies."""

    REVIEW = "review"  # ministry reviewers: venues and permit documents only
    PLATFORM = "platform"  # platform operators: tenants, audit trail
    SYSTEM = "system"  # workers sweeping every tenant (outbox, schedules)


class UnscopedQueryError(RuntimeError):
    """A tenant-owned table was queried with no tenant and no named cross-tenant scope."""


class TenantOwned:
    """Mixin for every table that belongs to one tenant.

    Primary key ``(tenant_id, id)``; ``id`` is a UUIDv7 made in Python. Rows created
    inside ``tenant_context`` get the tenant's id automatically.
    """

    __tenant_owned__ = True

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            sa.ForeignKey("tenant.id", ondelete="RESTRICT"), primary_key=True, sort_order=-20
        )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7, sort_order=-19)


def tenant_fk(column: str, target: str, **kwargs) -> sa.ForeignKeyConstraint:
    """A composite foreign key ``(tenant_id, column) → target(tenant_id, id)``.

    Because the tenant is part of the key, a row can only point at rows of its own tenant.
    """
    return sa.ForeignKeyConstraint(
        ["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"], **kwargs
    )


def tenant_join(target, foreign_key) -> sa.ColumnElement[bool]:
    """The ON clause from a row to the ``target`` row its composite foreign key names:
    same tenant, and ``target.id == foreign_key`` (e.g. ``tenant_join(Slot,
    Booking.slot_id)``). Works with aliases on either side."""
    return sa.and_(target.tenant_id == foreign_key.class_.tenant_id, target.id == foreign_key)


def is_tenant_owned(cls: type) -> bool:
    """Whether a mapped class belongs to one tenant."""
    return isinstance(cls, type) and issubclass(cls, TenantOwned)


def current_tenant_id(session: Session | None = None) -> uuid.UUID | None:
    """The tenant the session is scoped to, or None."""
    return (session or db.session()).info.get("tenant_id")


def current_scope(session: Session | None = None) -> Scope | None:
    """The named cross-tenant scope the session is in, or None."""
    return (session or db.session()).info.get("scope")


@contextmanager
def tenant_context(tenant, session: Session | None = None) -> Iterator[uuid.UUID]:
    """Scope every query and insert in the block to one tenant (an object or its id)."""
    tenant_id = tenant if isinstance(tenant, uuid.UUID) else tenant.id
    with _scoped(session or db.session(), tenant_id, None):
        yield tenant_id


@contextmanager
def cross_tenant(scope: Scope, session: Session | None = None) -> Iterator[None]:
    """Cross tenants for a named reason; the database policies decide what the block sees."""
    with _scoped(session or db.session(), None, Scope(scope)):
        yield


@contextmanager
def _scoped(session: Session, tenant_id: uuid.UUID | None, scope: Scope | None) -> Iterator[None]:
    info = session.info
    previous = (info.get("tenant_id"), info.get("scope"))
    info["tenant_id"], info["scope"] = tenant_id, scope
    _apply_to_open_transaction(session)
    try:
        yield
    finally:
        info["tenant_id"], info["scope"] = previous
        _apply_to_open_transaction(session)


def _apply_to_open_transaction(session: Session) -> None:
    # after_begin only runs when a transaction starts; a context entered mid-transaction
    # must update the setting of the transaction already open.
    txn = session.get_transaction()
    if txn is not None and txn.is_active:
        _set_database_scope(session.connection(), session.info)


def _set_database_scope(connection: sa.Connection, info: dict) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant_id, scope = info.get("tenant_id"), info.get("scope")
    # Transaction-local (the `true`): it ends at COMMIT/ROLLBACK, so a pooled connection
    # never carries one tenant's setting into another request. Never a session-level SET.
    connection.exec_driver_sql(
        "SELECT set_config('app.tenant_id', %(t)s, true), set_config('app.scope', %(s)s, true)",
        {"t": str(tenant_id) if tenant_id else "", "s": str(scope) if scope else ""},
    )


@event.listens_for(FlaskSession, "after_begin")
def _after_begin(session: Session, transaction, connection: sa.Connection) -> None:
    if session.info.get("tenant_id") or session.info.get("scope"):
        _set_database_scope(connection, session.info)


def tenant_criteria(tenant_id: uuid.UUID):
    """Wall one's filter as a statement option. The session adds it to every ORM
    statement itself; a select of ORM columns run on the session's *connection* (Core
    rows, no ORM loading: a million-row export) is compiled with it by the caller."""
    return with_loader_criteria(
        TenantOwned, lambda cls: cls.tenant_id == tenant_id, include_aliases=True
    )


@event.listens_for(FlaskSession, "do_orm_execute")
def _scope_orm_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria of the statement that loaded the parent already apply
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id is not None:
        state.statement = state.statement.options(tenant_criteria(tenant_id))
    elif state.session.info.get("scope") is None and any(
        is_tenant_owned(m.class_) for m in state.all_mappers
    ):
        names = ", ".join(m.class_.__name__ for m in state.all_mappers)
        raise UnscopedQueryError(
            f"query on tenant-owned {names} outside tenant_context() or cross_tenant()"
        )


@event.listens_for(FlaskSession, "before_flush")
def _stamp_tenant(session: Session, flush_context, instances) -> None:
    tenant_id = session.info.get("tenant_id")
    for obj in session.new:
        if not is_tenant_owned(type(obj)):
            continue
        if obj.tenant_id is None:
            if tenant_id is None:
                raise UnscopedQueryError(
                    f"new {type(obj).__name__} has no tenant and no tenant_context() is active"
                )
            obj.tenant_id = tenant_id
        elif tenant_id is not None and obj.tenant_id != tenant_id:
            raise UnscopedQueryError(
                f"new {type(obj).__name__} belongs to another tenant than the active context"
            )


def scope_request_to(tenant) -> None:
    """Scope the rest of this request's session to ``tenant`` (the session ends with it)."""
    session = db.session()
    session.info["tenant_id"], session.info["scope"] = tenant.id, None
    _apply_to_open_transaction(session)
