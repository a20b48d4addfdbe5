"""SQL helpers the reports share: a venue-local calendar day on both databases, and
the text of dates, times, ages and ids as the exports write them.

A dose given at 06:30 in Jayapura is on that day there, and on the day before in UTC;
reports count days where the venue is. PostgreSQL converts with ``AT TIME ZONE``;
SQLite (the embedded default) has no time zones, so the same expression calls a
Python function registered on each SQLite connection.

The text helpers exist for the million-row exports: formatting in the database runs on
the server's core while Python decrypts and writes, and spares Python parsing the values
into objects only to print them again. Each gives what its Python counterpart gives
(``date.isoformat()``, ``datetime.isoformat(timespec="seconds")`` in UTC, whole years
of age, ``str(uuid)``); tests/tenants/reporting/test_sql.py checks that on both
databases.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class local_date(FunctionElement):
    """``local_date(timestamp column, time zone column)``: the calendar day there."""

    type = sa.Date()
    inherit_cache = True
    name = "local_date"


@compiles(local_date, "postgresql")
def _local_date_pg(element, compiler, **kw):
    ts, zone = list(element.clauses)
    moment, where = compiler.process(ts, **kw), compiler.process(zone, **kw)
    return f"CAST(({moment} AT TIME ZONE {where}) AS DATE)"


@compiles(local_date)
def _local_date_sqlite(element, compiler, **kw):
    return f"sentra_local_date({compiler.process(element.clauses, **kw)})"


def _sqlite_local_date(value: str | None, zone: str | None) -> str | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:  # core.db.UTCDateTime stores UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(zone or "UTC")).date().isoformat()


@sa.event.listens_for(sa.Engine, "connect")
def _register_sqlite_functions(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function(
            "sentra_local_date", 2, _sqlite_local_date, deterministic=True
        )


class iso_date(FunctionElement):
    """``iso_date(date)``: ``YYYY-MM-DD``."""

    type = sa.String()
    inherit_cache = True
    name = "iso_date"


@compiles(iso_date, "postgresql")
def _iso_date_pg(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD')"


@compiles(iso_date)
def _iso_date_sqlite(element, compiler, **kw):
    return f"strftime('%Y-%m-%d', {compiler.process(element.clauses, **kw)})"


class iso_utc(FunctionElement):
    """``iso_utc(timestamp)``: ``YYYY-MM-DDTHH:MM:SS+00:00`` in UTC, fractions cut off."""

    type = sa.String()
    inherit_cache = True
    name = "iso_utc"


@compiles(iso_utc, "postgresql")
def _iso_utc_pg(element, compiler, **kw):
    moment = compiler.process(element.clauses, **kw)
    return f"""to_char(({moment}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')"""


@compiles(iso_utc)
def _iso_utc_sqlite(element, compiler, **kw):
    # core.db.UTCDateTime stores UTC without an offset on SQLite
    return f"strftime('%Y-%m-%dT%H:%M:%S+00:00', {compiler.process(element.clauses, **kw)})"


class age_years(FunctionElement):
    """``age_years(born, day)``: whole years of age on ``day``."""

    type = sa.Integer()
    inherit_cache = True
    name = "age_years"


@compiles(age_years, "postgresql")
def _age_years_pg(element, compiler, **kw):
    born, day = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"(CAST(EXTRACT(YEAR FROM {day}) - EXTRACT(YEAR FROM {born}) AS INTEGER)"
        f" - CAST(to_char({day}, 'MMDD') < to_char({born}, 'MMDD') AS INTEGER))"
    )


@compiles(age_years)
def _age_years_sqlite(element, compiler, **kw):
    born, day = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"(CAST(strftime('%Y', {day}) AS INTEGER) - CAST(strftime('%Y', {born}) AS INTEGER)"
        f" - (strftime('%m%d', {day}) < strftime('%m%d', {born})))"
    )


class uuid_text(FunctionElement):
    """``uuid_text(id)``: the id as ``str(uuid)`` writes it (lower case, dashes)."""

    type = sa.String()
    inherit_cache = True
    name = "uuid_text"


@compiles(uuid_text, "postgresql")
def _uuid_text_pg(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


@compiles(uuid_text)
def _uuid_text_sqlite(element, compiler, **kw):
    # SQLAlchemy's Uuid is 32 hex digits on SQLite
    x = compiler.process(element.clauses, **kw)
    parts = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    return "lower(" + " || '-' || ".join(f"substr({x}, {a}, {n})" for a, n in parts) + ")"
