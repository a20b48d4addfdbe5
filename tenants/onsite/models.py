"""The day of vaccination, following the ministry's four tables: check-in
(registration), screening, administration with its opened vials, observation and
adverse events (KIPI), and each venue's end-of-day close.

The ledger's rows (bookings, administrations, stock) stay in ``tenants.booking`` and
``tenants.stock``; these tables only add what happens at the desks.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.db import UTCDateTime
from core.db import enum_column
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned
from core.tenancy import tenant_fk

_ACTIVE_CHECKIN_SQL = "released_at IS NULL"


class CheckIn(TenantOwned, db.Model):
    """Staff matched the voucher and the KTP: the booking became ``arrived``.

    At most one active check-in per booking (a partial unique index on both
    databases); a deferral at screening releases it, so the person can be checked in
    again on their return date. ``client_nonce`` makes a retried request from a flaky
    connection answer with the check-in it already made.
    """

    __tablename__ = "checkin"
    __table_args__ = (
        tenant_fk("booking_id", "booking", ondelete="RESTRICT"),
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        sa.Index(
            "uq_checkin_active_booking",
            "tenant_id",
            "booking_id",
            unique=True,
            sqlite_where=sa.text(_ACTIVE_CHECKIN_SQL),
            postgresql_where=sa.text(_ACTIVE_CHECKIN_SQL),
        ),
        sa.UniqueConstraint("tenant_id", "client_nonce"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column()
    venue_id: Mapped[uuid.UUID] = mapped_column()
    checked_in_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: a random value the form carries; a retry with the same value is the same check-in
    client_nonce: Mapped[str | None] = mapped_column(sa.String(64))
    #: walk-ins are registered at the desk (no voucher to match)
    walk_in: Mapped[bool] = mapped_column(default=False)
    #: set when a deferral sends the person away with a new appointment
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ScreeningEffect(enum.StrEnum):
    """What a "yes" to a question suggests (staff decide; the form proposes)."""

    NONE = "none"
    DEFER = "defer"
    DO_NOT_VACCINATE = "do_not_vaccinate"


class ScreeningQuestion(TenantOwned, db.Model):
    """One question of the tenant's screening form, seeded from the ministry's and
    editable (rules change: pregnancy was a deferral, later not)."""

    __tablename__ = "screening_question"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key"),)

    #: stable identifier kept in answers (``fever``, ``pregnant``, ...)
    key: Mapped[str] = mapped_column(sa.String(40))
    text: Mapped[str] = mapped_column(sa.String(500))
    position: Mapped[int] = mapped_column(default=0)
    effect: Mapped[ScreeningEffect] = mapped_column(
        enum_column(ScreeningEffect, "screening_effect"), default=ScreeningEffect.DEFER
    )
    active: Mapped[bool] = mapped_column(default=True)


class ScreeningOutcome(enum.StrEnum):
    VACCINATE = "vaccinate"
    DEFER = "defer"
    DO_NOT_VACCINATE = "do_not_vaccinate"


class Screening(TenantOwned, db.Model):
    """The screening desk's answers and decision for one booking (one per visit; a
    deferred person is screened again when they return). Read by the ministry report."""

    __tablename__ = "screening"
    __table_args__ = (
        tenant_fk("booking_id", "booking", ondelete="RESTRICT"),
        sa.Index("ix_screening_booking", "tenant_id", "booking_id"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column()
    outcome: Mapped[ScreeningOutcome] = mapped_column(
        enum_column(ScreeningOutcome, "screening_outcome")
    )
    #: {question key: {"q": question text as asked, "yes": bool}}
    answers: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: a deferral's return date (the booking was moved to a slot on or after it)
    return_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user_account.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VialOpening(TenantOwned, db.Model):
    """A multi-dose vial opened at a venue: its doses must be given before
    ``closes_at`` (opened_at + the product's open-vial hours); what is left when it
    closes is wasted (a stock movement on its lot)."""

    __tablename__ = "vial_opening"
    __table_args__ = (
        tenant_fk("lot_id", "lot", ondelete="RESTRICT"),
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        sa.CheckConstraint("doses_used >= 0", name="doses_used_not_negative"),
        sa.CheckConstraint("doses_used <= doses_in_vial", name="doses_used_within_vial"),
        sa.Index("ix_vial_opening_open", "tenant_id", "venue_id", "closed_at"),
    )

    lot_id: Mapped[uuid.UUID] = mapped_column()
    venue_id: Mapped[uuid.UUID] = mapped_column()
    doses_in_vial: Mapped[int] = mapped_column()
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    doses_used: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: doses recorded as waste when it closed (None while open)
    leftover_wasted: Mapped[int | None] = mapped_column()
    opened_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user_account.id"))

    @property
    def doses_left(self) -> int:
        return self.doses_in_vial - self.doses_used


class Observation(TenantOwned, db.Model):
    """The 30 minutes after a dose during which staff watch for adverse events."""

    __tablename__ = "observation"
    __table_args__ = (
        tenant_fk("administration_id", "administration", ondelete="RESTRICT"),
        tenant_fk("booking_id", "booking", ondelete="RESTRICT"),
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        tenant_fk("vial_opening_id", "vial_opening", ondelete="RESTRICT"),
        sa.UniqueConstraint("tenant_id", "administration_id"),
        sa.Index("ix_observation_until", "tenant_id", "observation_until"),
    )

    administration_id: Mapped[uuid.UUID] = mapped_column()
    booking_id: Mapped[uuid.UUID] = mapped_column()
    venue_id: Mapped[uuid.UUID] = mapped_column()
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: server time; the page's countdown only displays it
    observation_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: the opened vial the dose came from (multi-dose products)
    vial_opening_id: Mapped[uuid.UUID | None] = mapped_column()


class Severity(enum.StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class AdverseEvent(TenantOwned, db.Model):
    """An adverse event following immunisation (KIPI) seen during observation or
    reported later. Read by the ministry report."""

    __tablename__ = "adverse_event"
    __table_args__ = (
        tenant_fk("administration_id", "administration", ondelete="RESTRICT"),
        sa.Index("ix_adverse_event_administration", "tenant_id", "administration_id"),
    )

    administration_id: Mapped[uuid.UUID] = mapped_column()
    severity: Mapped[Severity] = mapped_column(enum_column(Severity, "adverse_event_severity"))
    description: Mapped[str] = mapped_column(sa.Text)
    observed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user_account.id"))


class DayClose(TenantOwned, db.Model):
    """A venue's day, closed: no-shows marked, open vials closed. One per venue and
    day, inserted in the same transaction as the work, so closing twice is a no-op."""

    __tablename__ = "day_close"
    __table_args__ = (
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        sa.UniqueConstraint("tenant_id", "venue_id", "day"),
    )

    venue_id: Mapped[uuid.UUID] = mapped_column()
    day: Mapped[dt.date] = mapped_column(sa.Date)
    closed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: the day summary as it was at closing (counts per status, vials, waste)
    summary: Mapped[dict] = mapped_column(sa.JSON, default=dict)
