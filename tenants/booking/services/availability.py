"""What the booking page shows, from the same counters the ledger moves."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from core.extensions import db
from onboarding.venues.models import Venue
from tenants.booking.services.common import day_bounds
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot
from tenants.stock.models import Stock


@dataclass(frozen=True)
class SlotAvailability:
    slot_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    seats_free: int
    doses_free: int

    @property
    def bookable(self) -> int:
        """What the booking page shows: min(seats free, doses free)."""
        return max(0, min(self.seats_free, self.doses_free))


def bookable_on_day(slots: list[SlotAvailability], after: dt.datetime | None = None) -> int:
    """How many more people can book that day: seats are per slot, doses are shared."""
    slots = [s for s in slots if after is None or s.starts_at > after]
    if not slots:
        return 0
    seats = sum(max(0, s.seats_free) for s in slots)
    return max(0, min(seats, slots[0].doses_free))


def availability(campaign: Campaign, venue_id: uuid.UUID, day: dt.date) -> list[SlotAvailability]:
    """Per slot of a local day: seats free and doses free at the venue, from the same
    counters the ledger moves (one query for the venue's zone, one for the slots).

    Doses are shared by the day's slots: each slot shows min(its seats, the venue's free
    doses), so the page never offers a seat without a dose behind it.
    """
    timezone = db.session.scalar(sa.select(Venue.timezone).where(Venue.id == venue_id))
    if timezone is None:
        return []
    start, end = day_bounds(day, timezone)
    rows = db.session.execute(
        sa.select(
            Slot.id,
            Slot.starts_at,
            Slot.ends_at,
            (Slot.capacity - Slot.booked).label("seats_free"),
            sa.func.coalesce(Stock.on_hand - Stock.promised, 0).label("doses_free"),
        )
        .outerjoin(
            Stock,
            sa.and_(
                Stock.tenant_id == Slot.tenant_id,
                Stock.venue_id == Slot.venue_id,
                Stock.product_id == campaign.product_id,
            ),
        )
        .where(
            Slot.campaign_id == campaign.id,
            Slot.venue_id == venue_id,
            Slot.starts_at >= start,
            Slot.starts_at < end,
        )
        .order_by(Slot.starts_at)
    ).all()
    return [SlotAvailability(*row) for row in rows]
