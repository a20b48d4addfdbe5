"""What the booking page reads and the one unit of work its confirmation runs.

Reads: the tenant's published campaigns, a campaign's venues, its days with seats left
(from the ledger's counters, the same as :func:`tenants.booking.services.availability`).
Write: :func:`confirm` registers (or recognises) the person and books the slot, or
puts them on the waitlist, in one transaction through ``run_in_transaction``.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from core.db import utcnow
from core.extensions import db
from core.tenancy import current_tenant_id
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus
from tenants.booking.models import Person
from tenants.booking.services import BookingError
from tenants.booking.services import book_slot
from tenants.booking.services import duplicate_person
from tenants.booking.services import join_waitlist
from tenants.booking.services import person_with_nik
from tenants.booking.services.common import local_day
from tenants.booking.transaction import run_in_transaction
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import CampaignVenue
from tenants.campaigns.models import Slot
from tenants.public import roster
from tenants.public.draft import Draft
from tenants.public.schemas import PRIVACY_NOTICE_VERSION
from tenants.public.schemas import person_kwargs
from tenants.stock.models import Stock

# --- reads ------------------------------------------------------------------------------


def published_campaigns() -> list[Campaign]:
    """The tenant's campaigns open to the public page, soonest first."""
    return list(
        db.session.scalars(
            sa.select(Campaign)
            .where(Campaign.status == CampaignStatus.PUBLISHED)
            .order_by(Campaign.starts_on, Campaign.name)
        )
    )


def campaign_venues(campaign: Campaign) -> list[Venue]:
    """The campaign's approved venues, by name."""
    return list(
        db.session.scalars(
            sa.select(Venue)
            .join(
                CampaignVenue,
                sa.and_(
                    CampaignVenue.tenant_id == Venue.tenant_id, CampaignVenue.venue_id == Venue.id
                ),
            )
            .where(CampaignVenue.campaign_id == campaign.id, Venue.status == VenueStatus.APPROVED)
            .order_by(Venue.name)
        )
    )


@dataclass(frozen=True)
class DayAvailability:
    day: dt.date
    bookable: int


def days_with_seats(campaign: Campaign, venue: Venue, now: dt.datetime) -> list[DayAvailability]:
    """Each local day of the campaign at the venue that still has slots to come, with how
    many more people can book it: min(seats left that day, doses free at the venue),
    the same rule as ``bookable_on_day`` (two queries, not one per day)."""
    rows = db.session.execute(
        sa.select(Slot.starts_at, Slot.capacity - Slot.booked)
        .where(Slot.campaign_id == campaign.id, Slot.venue_id == venue.id, Slot.starts_at > now)
        .order_by(Slot.starts_at)
    ).all()
    doses_free = db.session.scalar(
        sa.select(Stock.on_hand - Stock.promised).where(
            Stock.venue_id == venue.id, Stock.product_id == campaign.product_id
        )
    )
    seats: dict[dt.date, int] = defaultdict(int)
    for starts_at, free in rows:
        seats[local_day(starts_at, venue.timezone)] += max(0, free)
    doses = max(0, doses_free or 0)
    return [DayAvailability(day, min(free, doses)) for day, free in sorted(seats.items())]


def dose_number(campaign: Campaign) -> int:
    """The dose the public page books: the first the campaign offers (later doses are
    booked by the ledger when the earlier one is given)."""
    return min(campaign.doses_offered or [1])


# --- the person -------------------------------------------------------------------------


def _same_name(a: str, b: str) -> bool:
    def fold(name: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", name).casefold().split())

    return fold(a) == fold(b)


def person_for(details: dict, locale: str, now: dt.datetime) -> Person:
    """The person to book: a new one, or the one already registered with this NIK when
    the name and date of birth match too (a second campaign, a retry). Another name or
    birth date with a registered NIK is refused (``duplicate_person``), saying whom to
    ask; nothing about the registered person is shown."""
    person, created = person_with_nik(
        details["full_name"],
        details["date_of_birth"],
        **person_kwargs(details),
        locale=locale,
        consent_at=now,
        privacy_notice_version=PRIVACY_NOTICE_VERSION,
    )
    if created:
        return person
    if person.date_of_birth != details["date_of_birth"] or not _same_name(
        person.full_name, details["full_name"]
    ):
        raise duplicate_person()
    person.locale = locale
    person.consent_at = now
    person.privacy_notice_version = PRIVACY_NOTICE_VERSION
    return person


# --- confirmation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    kind: str  # "booking" or "waitlist"
    id: uuid.UUID


def confirm(
    campaign_id: uuid.UUID,
    draft: Draft,
    *,
    locale: str,
    now: dt.datetime | None = None,
) -> Confirmed:
    """Book the draft's slot (or join the waitlist of its day) for the draft's person, in
    one transaction: the ledger rechecks seats and doses now. Raises the ledger's
    ``BookingError`` (``slot_full``, ``no_doses``, ``duplicate_booking``,
    ``duplicate_person``, ``not_open``, ``age_limit``, ``busy``) or a roster refusal;
    nothing is kept then."""
    now = now or utcnow()
    tenant_id = current_tenant_id()

    def unit() -> Confirmed:
        campaign = db.session.get(Campaign, (tenant_id, campaign_id))
        if campaign is None:
            raise BookingError(_("This campaign is not taking bookings."), code="not_open")
        eligibility = roster.eligibility_for(campaign)
        if roster.needs_eligibility(campaign) and eligibility is None:
            raise BookingError(
                _("Please show again that you may book in this campaign."), code="not_eligible"
            )
        person = person_for(draft.person, locale, now)
        if draft.mode == "waitlist":
            entry = join_waitlist(
                campaign,
                draft.venue_id,
                draft.day,
                person.id,
                dose_number=dose_number(campaign),
                now=now,
            )
            return Confirmed("waitlist", entry.id)
        booking = book_slot(
            campaign, draft.slot_id, person.id, dose_number=dose_number(campaign), now=now
        )
        if eligibility is not None:
            roster.claim(eligibility, booking, dependant=draft.dependant)
        if draft.priority_group_id is not None:
            roster.declare(booking, draft.priority_group_id)
        return Confirmed("booking", booking.id)

    return run_in_transaction(unit)
