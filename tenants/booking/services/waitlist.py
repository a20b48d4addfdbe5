"""The waitlist: join when a day is full, get offered a freed seat in turn.

An offer does not reserve a seat in the counters (the ledger has no "held" state): it
gives the person first claim for ``hold`` by limiting outstanding offers to the seats
actually bookable that day, and is accepted through :func:`book_slot` like any other
booking, so the counters stay the only truth. An offer not accepted in time expires and
the seat is offered to the next person (:func:`expire_offers`).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from blinker import Namespace
from flask_babel import gettext as _

from core.db import utcnow
from core.extensions import db
from onboarding.venues.models import Venue
from tenants.booking.models import Booking
from tenants.booking.models import BookingSource
from tenants.booking.models import WaitlistEntry
from tenants.booking.models import WaitlistStatus
from tenants.booking.services.availability import availability
from tenants.booking.services.availability import bookable_on_day
from tenants.booking.services.common import BookingError
from tenants.booking.services.common import local_day
from tenants.booking.services.common import tenant_id
from tenants.booking.services.ledger import book_slot
from tenants.booking.services.ledger import check_campaign_open
from tenants.booking.services.ledger import check_not_booked
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot

_signals = Namespace()
#: sender: the WaitlistEntry just offered a seat (receivers enqueue the email after commit)
waitlist_offered = _signals.signal("waitlist-offered")

DEFAULT_HOLD = dt.timedelta(hours=2)


def join_waitlist(
    campaign: Campaign,
    venue_id: uuid.UUID,
    day: dt.date,
    person_id: uuid.UUID,
    *,
    dose_number: int = 1,
    now: dt.datetime | None = None,
) -> WaitlistEntry:
    """Put a person on the waitlist for a venue's day; only when nothing is bookable
    that day (``seats_available`` otherwise: book instead)."""
    now = now or utcnow()
    check_campaign_open(campaign, dose_number, now)
    check_not_booked(campaign, person_id, dose_number)
    if bookable_on_day(availability(campaign, venue_id, day), now) > 0:
        raise BookingError(_("There are still seats that day; book one."), code="seats_available")
    existing = db.session.scalar(
        sa.select(WaitlistEntry).where(
            WaitlistEntry.campaign_id == campaign.id,
            WaitlistEntry.venue_id == venue_id,
            WaitlistEntry.day == day,
            WaitlistEntry.person_id == person_id,
            WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
        )
    )
    if existing is not None:
        return existing
    entry = WaitlistEntry(
        campaign_id=campaign.id,
        venue_id=venue_id,
        day=day,
        person_id=person_id,
        dose_number=dose_number,
        status=WaitlistStatus.WAITING,
        created_at=now,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def offer_freed_seat(
    campaign: Campaign,
    venue_id: uuid.UUID,
    day: dt.date,
    *,
    hold: dt.timedelta = DEFAULT_HOLD,
    now: dt.datetime | None = None,
) -> list[WaitlistEntry]:
    """Offer the day's bookable seats to the people waiting longest, one offer per seat
    not already under offer. Returns the entries offered now."""
    now = now or utcnow()
    bookable = bookable_on_day(availability(campaign, venue_id, day), now)
    queue = sa.select(WaitlistEntry).where(
        WaitlistEntry.campaign_id == campaign.id,
        WaitlistEntry.venue_id == venue_id,
        WaitlistEntry.day == day,
    )
    outstanding = db.session.scalar(
        sa.select(sa.func.count()).select_from(
            queue.where(
                WaitlistEntry.status == WaitlistStatus.OFFERED,
                WaitlistEntry.offer_expires_at > now,
            ).subquery()
        )
    )
    free = bookable - outstanding
    if free <= 0:
        return []
    entries = db.session.scalars(
        queue.where(WaitlistEntry.status == WaitlistStatus.WAITING)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(free)
        .with_for_update(skip_locked=True)
    ).all()
    for entry in entries:
        entry.status = WaitlistStatus.OFFERED
        entry.offered_at = now
        entry.offer_expires_at = now + hold
    db.session.flush()
    for entry in entries:
        waitlist_offered.send(entry)
    return entries


def offer_seat_freed_in(
    slot_id: uuid.UUID | None, campaign_id: uuid.UUID, *, now: dt.datetime | None = None
) -> list[WaitlistEntry]:
    """A seat came free in ``slot_id`` (a cancellation, or the old slot of a reschedule):
    offer it to whoever waits for that venue and day. Every edge that frees a seat calls
    this in the same transaction (the ledger's own services leave it to them)."""
    if slot_id is None:  # a walk-in held no seat
        return []
    slot = db.session.get(Slot, (tenant_id(), slot_id))
    venue_timezone = db.session.scalar(sa.select(Venue.timezone).where(Venue.id == slot.venue_id))
    campaign = db.session.get(Campaign, (slot.tenant_id, campaign_id))
    day = local_day(slot.starts_at, venue_timezone)
    return offer_freed_seat(campaign, slot.venue_id, day, now=now)


def accept_offer(
    entry_id: uuid.UUID, slot_id: uuid.UUID, *, now: dt.datetime | None = None
) -> Booking:
    """Book the offered seat (any bookable slot of that day) through the ledger.
    ``offer_expired`` if the hold has passed; ``slot_full`` / ``no_doses`` as any booking."""
    now = now or utcnow()
    entry = db.session.get(WaitlistEntry, (tenant_id(), entry_id), populate_existing=True)
    if entry is None or entry.status != WaitlistStatus.OFFERED:
        raise BookingError(_("There is no open offer."), code="offer_expired")
    if entry.offer_expires_at <= now:
        raise BookingError(_("The offer has expired."), code="offer_expired")
    campaign = db.session.get(Campaign, (tenant_id(), entry.campaign_id))
    slot = db.session.get(Slot, (tenant_id(), slot_id))
    if slot is None or slot.venue_id != entry.venue_id:
        raise BookingError(_("The offer is for another venue."), code="invalid")
    booking = book_slot(
        campaign,
        slot_id,
        entry.person_id,
        dose_number=entry.dose_number,
        source=BookingSource.WAITLIST,
        now=now,
    )
    entry.status = WaitlistStatus.ACCEPTED
    entry.booking_id = booking.id
    db.session.flush()
    return booking


def expire_offers(*, now: dt.datetime | None = None) -> int:
    """Expire offers past their hold and offer those seats to the next people (periodic).
    Returns how many offers expired."""
    now = now or utcnow()
    expired = db.session.scalars(
        sa.select(WaitlistEntry).where(
            WaitlistEntry.status == WaitlistStatus.OFFERED,
            WaitlistEntry.offer_expires_at <= now,
        )
    ).all()
    days = set()
    for entry in expired:
        entry.status = WaitlistStatus.EXPIRED
        days.add((entry.campaign_id, entry.venue_id, entry.day))
    db.session.flush()
    for campaign_id, venue_id, day in sorted(days):
        campaign = db.session.get(Campaign, (tenant_id(), campaign_id))
        offer_freed_seat(campaign, venue_id, day, now=now)
    return len(expired)
