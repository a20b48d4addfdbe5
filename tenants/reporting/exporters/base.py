"""The exporter interface: an identifier, a name, a parameters schema, the role that
may run it, and ``rows()``, an iterator whose first item is the header.

Exporters only read, and stream: ``rows()`` pulls rows from the database in batches
(:func:`core.db.stream_rows`), so memory stays constant however many rows there are.
Writers (:mod:`tenants.reporting.writers`) turn the rows into CSV or XLSX; an exporter
that also has a FHIR form says so in ``formats``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import ClassVar

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validates_schema
from sqlalchemy.orm import Session

from core.db import stream_rows
from core.models import Role
from core.tenancy import UnscopedQueryError
from core.tenancy import current_tenant_id
from core.tenancy import tenant_criteria

#: rows fetched from the database per round trip
BATCH = 2000
#: the longest period one export may cover
MAX_DAYS = 366


class PeriodSchema(Schema):
    """Parameters every exporter takes: a period of venue-local days, optional filters."""

    date_from = fields.Date(required=True, metadata={"description": "First day (venue-local)"})
    date_to = fields.Date(required=True, metadata={"description": "Last day, included"})
    campaign_id = fields.UUID(load_default=None, allow_none=True)
    venue_id = fields.UUID(load_default=None, allow_none=True)

    @validates_schema
    def _period(self, data, **kwargs):
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                raise ValidationError(_l("The last day is before the first."), "date_to")
            if (end - start).days >= MAX_DAYS:
                raise ValidationError(
                    _l("Export at most %(n)d days at a time.", n=MAX_DAYS), "date_to"
                )


class Exporter:
    """Base class; subclasses set the class attributes and implement :meth:`rows`."""

    identifier: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: the lowest console role that may run and download it
    required_role: ClassVar[Role] = Role.COORDINATOR
    formats: ClassVar[tuple[str, ...]] = ("csv", "xlsx")
    parameters: ClassVar[type[Schema]] = PeriodSchema

    def __init__(self, session: Session, params: dict):
        self.session = session
        self.params = params

    def header(self) -> list[str]:
        raise NotImplementedError

    def records(self) -> Iterator[tuple]:
        """The data rows (without the header)."""
        raise NotImplementedError

    def rows(self) -> Iterator[list | tuple]:
        """The header, then every row."""
        yield [str(label) for label in self.header()]
        yield from self.records()

    # -- helpers for subclasses
    def stream(self, statement: sa.Select) -> Iterator[tuple]:
        """Rows of ``statement``, streamed in batches (:func:`core.db.stream_rows`: on
        PostgreSQL the server sends them while the writer works).

        Run on the session's connection, so rows come back as plain tuples (the ORM's
        per-row loading was half the cost of fetching a million); wall one's tenant filter
        is compiled in here because the session's hook only sees ORM executions. The
        connection is the session's: same transaction, snapshot and RLS setting, and it
        runs nothing else until the rows are read.
        """
        tenant_id = current_tenant_id(self.session)
        if tenant_id is None:
            raise UnscopedQueryError("an export runs inside one tenant's tenant_context()")
        statement = statement.options(tenant_criteria(tenant_id))
        yield from stream_rows(self.session.connection(), statement, BATCH)

    def filtered(self, statement: sa.Select, day, campaign_col=None, venue_col=None) -> sa.Select:
        """``statement`` limited to the period (``day``: a local-date expression) and
        the optional campaign and venue."""
        statement = statement.where(day >= self.params["date_from"], day <= self.params["date_to"])
        if campaign_col is not None and self.params.get("campaign_id"):
            statement = statement.where(campaign_col == self.params["campaign_id"])
        if venue_col is not None and self.params.get("venue_id"):
            statement = statement.where(venue_col == self.params["venue_id"])
        return statement


def iso(value) -> str:
    """Dates and times as ISO 8601 text (times in UTC with their offset)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="seconds")
    return value.isoformat()
