"""SQL helpers the reports share: a venue-local calendar day on both databases.

A dose given at 06:30 in Jayapura is on that day there, and on the day before in UTC;
reports count days where the venue is. PostgreSQL converts with ``AT TIME ZONE``;
SQLite (the embedded default) has no time zones, so the same expression calls a
Python function registered on each SQLite connection.
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
