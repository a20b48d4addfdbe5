"""Venues: where a tenant vaccinates, once a ministry reviewer approves."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.db import UTCDateTime
from core.db import enum_column
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned


class VenueStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # waiting in the ministry's review queue
    APPROVED = "approved"  # may host campaigns
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"


class Venue(TenantOwned, db.Model):
    """A place where a tenant vaccinates; it hosts campaigns only once a reviewer approves it."""

    __tablename__ = "venue"

    name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str] = mapped_column(sa.Text)
    province: Mapped[str] = mapped_column(sa.String(100))
    city: Mapped[str] = mapped_column(sa.String(100))
    district: Mapped[str | None] = mapped_column(sa.String(100))
    latitude: Mapped[Decimal | None] = mapped_column(sa.Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(sa.Numeric(9, 6))
    #: {"0": [["08:00", "12:00"], ["13:00", "16:00"]], ...}, weekday 0 = Monday; local time
    opening_hours: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: IANA zone of the venue (WIB, WITA, WIT)
    timezone: Mapped[str] = mapped_column(sa.String(40), default="Asia/Jakarta")
    #: vaccination stations working in parallel: seats per slot by default
    stations: Mapped[int] = mapped_column(default=1)
    visitor_notes: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[VenueStatus] = mapped_column(
        enum_column(VenueStatus, "venue_status"), default=VenueStatus.DRAFT
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.CheckConstraint("stations >= 1", name="stations_positive"),)

    @property
    def is_approved(self) -> bool:
        return self.status == VenueStatus.APPROVED
