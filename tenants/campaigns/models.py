"""Campaigns, the venues they run at, their slots and each day's walk-in allowance."""

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


class Audience(enum.StrEnum):
    EMPLOYEES = "employees"  # a company's roster (and dependants)
    PUBLIC = "public"  # anyone within the age limits


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"


class Campaign(TenantOwned, db.Model):
    """A vaccination drive: one product, the dose numbers it offers, dates, venues, slots."""

    __tablename__ = "campaign"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "slug"),
        sa.CheckConstraint("ends_on >= starts_on", name="dates"),
        sa.CheckConstraint("slot_minutes BETWEEN 5 AND 480", name="slot_minutes"),
        sa.CheckConstraint("seats_per_slot IS NULL OR seats_per_slot >= 0", name="seats"),
        sa.CheckConstraint("walk_ins_per_day >= 0", name="walk_ins"),
        sa.CheckConstraint(
            "min_age_years IS NULL OR max_age_years IS NULL OR min_age_years <= max_age_years",
            name="age_range",
        ),
    )

    name: Mapped[str] = mapped_column(sa.String(200))
    #: lower-case, unique per tenant: /b/<tenant>/<slug>
    slug: Mapped[str] = mapped_column(sa.String(63))
    audience: Mapped[Audience] = mapped_column(enum_column(Audience, "campaign_audience"))
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("product.id", ondelete="RESTRICT"))
    #: dose numbers people may book, e.g. [1, 2] or [3] for a booster drive
    doses_offered: Mapped[list] = mapped_column(sa.JSON, default=lambda: [1])
    starts_on: Mapped[dt.date] = mapped_column(sa.Date)
    ends_on: Mapped[dt.date] = mapped_column(sa.Date)
    slot_minutes: Mapped[int] = mapped_column(default=15)
    #: seats per generated slot; None: the venue's number of stations
    seats_per_slot: Mapped[int | None] = mapped_column()
    #: booking window (UTC); None: open from publishing / until the slot starts
    opens_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    min_age_years: Mapped[int | None] = mapped_column()
    max_age_years: Mapped[int | None] = mapped_column()
    walk_ins_per_day: Mapped[int] = mapped_column(default=0)
    status: Mapped[CampaignStatus] = mapped_column(
        enum_column(CampaignStatus, "campaign_status"), default=CampaignStatus.DRAFT
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<Campaign {self.slug}>"


class CampaignVenue(TenantOwned, db.Model):
    """A venue a campaign runs at (approved venues only, checked by the services)."""

    __tablename__ = "campaign_venue"
    __table_args__ = (
        tenant_fk("campaign_id", "campaign", ondelete="CASCADE"),
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        sa.UniqueConstraint("tenant_id", "campaign_id", "venue_id"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    venue_id: Mapped[uuid.UUID] = mapped_column()


class Slot(TenantOwned, db.Model):
    """A time window at a venue with ``capacity`` seats; ``booked`` counts active bookings.

    The database keeps ``0 <= booked <= capacity``.
    """

    __tablename__ = "slot"
    __table_args__ = (
        tenant_fk("campaign_id", "campaign", ondelete="CASCADE"),
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        sa.UniqueConstraint("tenant_id", "campaign_id", "venue_id", "starts_at"),
        sa.CheckConstraint("booked >= 0", name="booked_not_negative"),
        sa.CheckConstraint("booked <= capacity", name="booked_within_capacity"),
        sa.CheckConstraint("ends_at > starts_at", name="times"),
        sa.Index("ix_slot_venue_starts_at", "tenant_id", "venue_id", "starts_at"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    venue_id: Mapped[uuid.UUID] = mapped_column()
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column()
    booked: Mapped[int] = mapped_column(default=0)


class WalkInDay(TenantOwned, db.Model):
    """How many walk-ins a campaign takes at a venue on one day, and how many it took."""

    __tablename__ = "walk_in_day"
    __table_args__ = (
        tenant_fk("campaign_id", "campaign", ondelete="CASCADE"),
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        sa.UniqueConstraint("tenant_id", "campaign_id", "venue_id", "day"),
        sa.CheckConstraint("used >= 0", name="used_not_negative"),
        sa.CheckConstraint("used <= allowance", name="used_within_allowance"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    venue_id: Mapped[uuid.UUID] = mapped_column()
    #: the venue's local date
    day: Mapped[dt.date] = mapped_column(sa.Date)
    allowance: Mapped[int] = mapped_column()
    used: Mapped[int] = mapped_column(default=0)
