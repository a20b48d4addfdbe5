"""core.db.stream_rows: a big read's rows as SQLAlchemy's own execution returns them, on
PostgreSQL streamed by the server as one statement (no server-side cursor)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa

from core.db import UTCDateTime
from core.db import enum_column
from core.db import stream_rows
from core.extensions import db
from tenants.stock.models import Product


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


MOMENT = dt.datetime(2030, 1, 7, 6, 30, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def _statement() -> sa.Select:
    """The catalogue's products (seeded by the migrations) with values of every kind
    whose type converts on the way in or out."""
    return (
        sa.select(
            Product.id,
            Product.name,
            Product.booster,
            Product.created_at,
            sa.literal(Colour.BLUE, enum_column(Colour, "colour")).label("colour"),
            sa.literal(MOMENT, UTCDateTime()).label("moment"),
            sa.literal(dt.date(2030, 1, 7), sa.Date()).label("day"),
            sa.literal({"doses": [1, 2]}, sa.JSON()).label("data"),  # bound as JSON text
            # a literal percent sign in the SQL beside bound parameters
            sa.literal_column("'50%'", sa.String()).label("share"),
        )
        .where(Product.name.like("%"), Product.owner_tenant_id.is_(None))
        .order_by(Product.name, Product.id)
    )


def test_rows_are_what_execute_returns(app):
    expected = [tuple(row) for row in db.session.execute(_statement())]
    assert len(expected) > 3  # the seeded catalogue

    rows = list(stream_rows(db.session.connection(), _statement(), 3))  # chunks of 3

    assert rows == expected
    first = rows[0]
    assert isinstance(first[0], uuid.UUID) and first[4] is Colour.BLUE
    assert first[5] == MOMENT and first[5].tzinfo == dt.UTC
    assert first[6] == dt.date(2030, 1, 7) and first[7] == {"doses": [1, 2]}
    assert first[8] == "50%"


def test_no_rows(app):
    statement = _statement().where(Product.name == "no such vaccine")
    assert list(stream_rows(db.session.connection(), statement, 3)) == []


def test_on_postgresql_the_server_runs_one_statement_not_a_cursor(app, backend):
    """A server-side cursor (DECLARE … FETCH) waits for each fetch and never runs a
    parallel plan; the rows are streamed from the SELECT itself."""
    connection = db.session.connection()
    rows = stream_rows(connection, _statement(), 2)
    next(rows)
    if backend == "postgresql":
        pid = connection.connection.driver_connection.info.backend_pid
        with db.engine.connect() as other:
            query = other.execute(
                sa.text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar_one()
        assert query.lstrip().startswith("SELECT"), query
    rows.close()
    db.session.rollback()  # closing early cancels the query on PostgreSQL
    assert db.session.execute(sa.select(sa.func.count()).select_from(Product)).scalar() > 3


def test_an_in_list_of_parameters(app):
    names = [row[1] for row in db.session.execute(_statement())][:2]
    statement = _statement().where(Product.name.in_(names))
    rows = list(stream_rows(db.session.connection(), statement, 3))
    assert [row[1] for row in rows] == sorted(names) and len(rows) == 2
