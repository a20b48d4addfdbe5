"""Reads for the dashboards: aggregates in SQL, per campaign and optionally one venue.

Days are the venue's local days (:func:`tenants.reporting.sql.local_date`). Stock
numbers (on hand, promised, days left, lots near expiry) are the ledger's own
counters and the stock screen's reads, never recomputed here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from core.extensions import db
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import BookingSource
from tenants.booking.models import BookingStatus
from tenants.booking.models import WaitlistEntry
from tenants.booking.models import WaitlistStatus
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignVenue
from tenants.campaigns.models import Slot
from tenants.campaigns.models import WalkInDay
from tenants.reporting.sql import local_date
from tenants.stock import queries as stock_queries


@dataclass
class DayRow:
    day: dt.date
    booked: int = 0  # appointments that day (not cancelled), walk-ins included
    walk_ins: int = 0
    no_shows: int = 0
    vaccinated: int = 0  # doses given that day (not voided)


@dataclass
class VenueStock:
    venue_id: uuid.UUID
    venue_name: str
    administered: int  # doses of this campaign given there
    promised: int  # doses held for bookings there (all campaigns of the vaccine)
    on_hand: int
    days_left: int | None
    waitlist: int


@dataclass
class Dashboard:
    days: list[DayRow]
    venues: list[VenueStock]
    expiring: list = field(default_factory=list)
    bookings: int = 0
    walk_ins: int = 0
    no_shows: int = 0
    attended: int = 0  # booked appointments that were kept (checked in or vaccinated)
    waitlist: int = 0

    @property
    def show_up_rate(self) -> float | None:
        """Kept appointments / (kept + no-shows), walk-ins not counted; None if none ended."""
        ended = self.attended + self.no_shows
        return self.attended / ended if ended else None


def campaign_dashboard(campaign: Campaign, venue: Venue | None = None) -> Dashboard:
    """The numbers of one campaign (at one venue, if given)."""
    b, v = Booking, Venue
    only_venue = [b.venue_id == venue.id] if venue else []
    day = sa.func.coalesce(local_date(Slot.starts_at, v.timezone), WalkInDay.day)
    not_cancelled = b.status != BookingStatus.CANCELLED
    per_day = db.session.execute(
        sa.select(
            day,
            sa.func.sum(sa.case((not_cancelled, 1), else_=0)),
            sa.func.sum(
                sa.case((sa.and_(not_cancelled, b.source == BookingSource.WALK_IN), 1), else_=0)
            ),
            sa.func.sum(sa.case((b.status == BookingStatus.NO_SHOW, 1), else_=0)),
        )
        .join(v, tenant_join(v, b.venue_id))
        .outerjoin(Slot, tenant_join(Slot, b.slot_id))
        .outerjoin(
            WalkInDay,
            tenant_join(WalkInDay, b.walk_in_day_id),
        )
        .where(b.campaign_id == campaign.id, *only_venue)
        .group_by(day)
    ).all()
    a = Administration
    dose_day = local_date(a.administered_at, v.timezone)
    doses = db.session.execute(
        sa.select(dose_day, b.venue_id, sa.func.count())
        .join(b, tenant_join(b, a.booking_id))
        .join(v, tenant_join(v, b.venue_id))
        .where(b.campaign_id == campaign.id, a.voided_at.is_(None), *only_venue)
        .group_by(dose_day, b.venue_id)
    ).all()
    days: dict[dt.date, DayRow] = {}
    for on, booked, walk_ins, no_shows in per_day:
        if on is not None:
            days[on] = DayRow(on, int(booked or 0), int(walk_ins or 0), int(no_shows or 0))
    given_at: dict[uuid.UUID, int] = {}
    for on, venue_id, count in doses:
        days.setdefault(on, DayRow(on)).vaccinated += count
        given_at[venue_id] = given_at.get(venue_id, 0) + count

    totals = dict(
        db.session.execute(
            sa.select(b.status, sa.func.count())
            .where(b.campaign_id == campaign.id, b.source != BookingSource.WALK_IN, *only_venue)
            .group_by(b.status)
        ).all()
    )
    waiting = dict(
        db.session.execute(
            sa.select(WaitlistEntry.venue_id, sa.func.count())
            .where(
                WaitlistEntry.campaign_id == campaign.id,
                WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
                *([WaitlistEntry.venue_id == venue.id] if venue else []),
            )
            .group_by(WaitlistEntry.venue_id)
        ).all()
    )
    venue_ids = (
        [venue.id]
        if venue
        else list(
            db.session.scalars(
                sa.select(CampaignVenue.venue_id).where(CampaignVenue.campaign_id == campaign.id)
            )
        )
    )
    stock = {
        row.venue_id: row
        for row in stock_queries.stock_rows()
        if row.product_id == campaign.product_id and row.venue_id in venue_ids
    }
    names = dict(
        db.session.execute(sa.select(Venue.id, Venue.name).where(Venue.id.in_(venue_ids))).all()
    )
    venues = [
        VenueStock(
            vid,
            names.get(vid, ""),
            given_at.get(vid, 0),
            stock[vid].promised if vid in stock else 0,
            stock[vid].on_hand if vid in stock else 0,
            stock[vid].days_left if vid in stock else None,
            waiting.get(vid, 0),
        )
        for vid in sorted(venue_ids, key=lambda i: names.get(i, ""))
    ]
    expiring = [
        row
        for row in stock_queries.lot_rows()
        if row.near_expiry
        and row.lot.product_id == campaign.product_id
        and row.lot.venue_id in venue_ids
    ]
    ordered = [days[d] for d in sorted(days)]
    return Dashboard(
        days=ordered,
        venues=venues,
        expiring=expiring,
        bookings=sum(d.booked for d in ordered),
        walk_ins=sum(d.walk_ins for d in ordered),
        no_shows=int(totals.get(BookingStatus.NO_SHOW, 0)),
        attended=int(
            totals.get(BookingStatus.VACCINATED, 0) + totals.get(BookingStatus.ARRIVED, 0)
        ),
        waitlist=sum(waiting.values()),
    )
