"""Column types and helpers shared by every model."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC: the only kind of datetime Sentra stores."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zones; this keeps both databases returning the same values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use core.db.utcnow() or an aware value")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def enum_column(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enum: VARCHAR with a CHECK constraint, storing the members' values."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def stream_rows(connection: sa.Connection, statement: sa.Select, size: int) -> Iterator[tuple]:
    """The rows of ``statement``, ``size`` at a time: for reads too big to hold at once.

    On PostgreSQL the query runs as one ordinary statement and the server sends its rows
    while the caller works on those already received (psycopg's ``Cursor.stream`` in
    libpq's chunked-rows mode). A server-side cursor (``DECLARE``, which SQLAlchemy's
    ``yield_per`` uses) makes the server wait for each ``FETCH`` and rules out parallel
    plans: the million-dose export spent 43 s that way and spends 24 s this way
    (docs/performance.md). Elsewhere (SQLite) ``yield_per``.

    Values come back as SQLAlchemy's own execution returns them (each column type's
    result processor) and parameters are bound through their types, but no execution
    events fire. The connection (its transaction, snapshot and row-level security
    setting are the query's) is busy until the rows are consumed; closing the iterator
    early cancels the query, which aborts the transaction.
    """
    if connection.dialect.driver != "psycopg":
        result = connection.execute(statement, execution_options={"yield_per": size})
        try:
            yield from result
        finally:
            result.close()
        return

    import psycopg

    dialect = connection.dialect
    # the SQL and parameters as SQLAlchemy's execution would send them: IN lists
    # expanded, literal_execute values rendered, each value through its type
    compiled = statement.compile(dialect=dialect)
    expanded = compiled.construct_expanded_state()
    unescaped = {escaped: name for name, escaped in compiled.escaped_bind_names.items()}
    params = {}
    for name, value in expanded.parameters.items():
        bind = expanded.processors.get(name)  # the values of an expanded IN list
        if bind is None and (param := compiled.binds.get(unescaped.get(name, name))) is not None:
            bind = param.type.dialect_impl(dialect).bind_processor(dialect)
        params[name] = bind(value) if bind else value
    if not psycopg.capabilities.has_stream_chunked():
        size = 1  # libpq before 17: row by row
    cursor = connection.connection.driver_connection.cursor()
    rows = cursor.stream(expanded.statement, params, size=size)
    try:
        first = next(rows, None)
        if first is None:
            return
        columns = zip(statement.selected_columns, cursor.description, strict=True)
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, described.type_code)
            for column, described in columns
        ]
        if not any(processors):
            yield first
            yield from rows
            return
        convert = [p or _unchanged for p in processors]
        for row in itertools.chain((first,), rows):
            yield tuple([f(v) for f, v in zip(convert, row, strict=True)])
    finally:
        rows.close()
        cursor.close()


def _unchanged(value):
    return value


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite (the embedded default) must enforce foreign keys and wait for locks."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
