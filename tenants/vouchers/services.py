"""What the manage and offer links do, each one ledger unit of work.

The ledger services do the counting; these add the rules of the public links (a
reschedule stays at the same venue; a freed seat goes to the waitlist at once) and
return ids, since ``run_in_transaction`` commits and expires loaded objects.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date
from babel.dates import format_time
from flask_babel import get_locale
from flask_babel import gettext as _

from core.extensions import db
from onboarding.venues.models import Venue
from tenants.booking.models import Booking
from tenants.booking.models import WaitlistEntry
from tenants.booking.services import BookingError
from tenants.booking.services import accept_offer
from tenants.booking.services import availability
from tenants.booking.services import cancel_booking
from tenants.booking.services import offer_seat_freed_in
from tenants.booking.services import reschedule_booking
from tenants.booking.services.common import tenant_id
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot
from tenants.stock.models import Product
from tenants.stock.models import Stock
from tenants.vouchers.details import time_range

#: how many future times the reschedule page lists
OPTION_LIMIT = 60


@dataclass(frozen=True)
class SlotOption:
    slot_id: uuid.UUID
    day: str
    time: str
    seats: int


def _options(rows, zone: ZoneInfo) -> list[SlotOption]:
    locale = str(get_locale() or "id")
    out = []
    for slot_id, starts_at, ends_at, seats in rows:
        start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
        out.append(
            SlotOption(
                slot_id,
                format_date(start.date(), "full", locale=locale),
                time_range(start, end),
                seats,
            )
        )
    return out


def reschedule_options(booking: Booking, now: dt.datetime) -> list[SlotOption]:
    """Future slots of the booking's campaign at its venue with a seat and a dose free
    (from the same counters the ledger moves), soonest first."""
    dialect = db.session.get_bind().dialect.name
    bookable = sa.func.least if dialect == "postgresql" else sa.func.min
    seats = Slot.capacity - Slot.booked
    doses = sa.func.coalesce(Stock.on_hand - Stock.promised, 0)
    rows = db.session.execute(
        sa.select(Slot.id, Slot.starts_at, Slot.ends_at, bookable(seats, doses))
        .outerjoin(
            Stock,
            sa.and_(
                Stock.tenant_id == Slot.tenant_id,
                Stock.venue_id == Slot.venue_id,
                Stock.product_id == booking.product_id,
            ),
        )
        .where(
            Slot.campaign_id == booking.campaign_id,
            Slot.venue_id == booking.venue_id,
            Slot.starts_at > now,
            Slot.id != booking.slot_id,
            seats > 0,
            doses > 0,
        )
        .order_by(Slot.starts_at)
        .limit(OPTION_LIMIT)
    ).all()
    timezone = db.session.scalar(sa.select(Venue.timezone).where(Venue.id == booking.venue_id))
    return _options(rows, ZoneInfo(timezone))


def reschedule(booking_id: uuid.UUID, slot_id: uuid.UUID, *, now: dt.datetime | None = None):
    """Move the booking to ``slot_id`` (same campaign and venue), then offer the old
    seat to the waitlist. ``invalid`` for a slot elsewhere; the ledger's codes else."""
    booking = db.session.get(Booking, (tenant_id(), booking_id))
    slot = db.session.get(Slot, (booking.tenant_id, slot_id))
    if slot is None or slot.campaign_id != booking.campaign_id or slot.venue_id != booking.venue_id:
        raise BookingError(_("Choose one of the times listed."), code="invalid")
    old_slot_id = booking.slot_id
    reschedule_booking(booking_id, slot_id, now=now)
    offer_seat_freed_in(old_slot_id, booking.campaign_id, now=now)
    return booking_id


def cancel(booking_id: uuid.UUID, *, now: dt.datetime | None = None):
    """Cancel the booking (seat and dose back at once), then offer the seat. Only while
    it is booked: once checked in, the staff at the venue decide (``checked_in``)."""
    booking = cancel_booking(booking_id, now=now, only_if_booked=True)
    offer_seat_freed_in(booking.slot_id, booking.campaign_id, now=now)
    return booking_id


def accept(entry_id: uuid.UUID, slot_id: uuid.UUID, *, now: dt.datetime | None = None):
    """Accept a waitlist offer for ``slot_id``; returns the new booking's id."""
    return accept_offer(entry_id, slot_id, now=now).id


@dataclass(frozen=True)
class OfferDetails:
    campaign: str
    product: str
    venue: Venue
    day: str
    expires: str


def offer_details(entry: WaitlistEntry) -> OfferDetails:
    campaign = db.session.get(Campaign, (entry.tenant_id, entry.campaign_id))
    product = db.session.get(Product, campaign.product_id)
    venue = db.session.get(Venue, (entry.tenant_id, entry.venue_id))
    zone, locale = ZoneInfo(venue.timezone), str(get_locale() or "id")
    expires = entry.offer_expires_at.astimezone(zone)
    return OfferDetails(
        campaign.name,
        product.name,
        venue,
        format_date(entry.day, "full", locale=locale),
        f"{format_time(expires, 'HH:mm', locale=locale)} {expires.tzname()}",
    )


def offer_options(entry: WaitlistEntry, now: dt.datetime) -> list[SlotOption]:
    """The offered day's slots that can still be booked."""
    campaign = db.session.get(Campaign, (entry.tenant_id, entry.campaign_id))
    venue = db.session.get(Venue, (entry.tenant_id, entry.venue_id))
    rows = [
        (s.slot_id, s.starts_at, s.ends_at, s.bookable)
        for s in availability(campaign, entry.venue_id, entry.day)
        if s.bookable > 0 and s.starts_at > now
    ]
    return _options(rows, ZoneInfo(venue.timezone))
