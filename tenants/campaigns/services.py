"""Campaign services: create, change a draft, generate slots, set capacity, publish, close.

Run inside ``tenant_context``; services flush, the caller commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit import log_action
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.models import Tenant
from core.models import TenantStatus
from core.models import User
from core.tenancy import current_tenant_id
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus
from tenants.booking.services.common import day_bounds
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import CampaignVenue
from tenants.campaigns.models import Slot
from tenants.stock.locks import begin_ledger
from tenants.stock.services import get_product


class CampaignError(DomainError):
    """A campaign rule refused the change; ``code`` says which."""

    status = 409
    code = "campaign"


def _tenant_id() -> uuid.UUID:
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise RuntimeError("campaign services run inside tenant_context()")
    return tenant_id


def _approved_venue(venue_id: uuid.UUID) -> Venue:
    venue = db.session.get(Venue, (_tenant_id(), venue_id))
    if venue is None:
        raise CampaignError(_("This venue does not exist."), code="unknown_venue")
    if venue.status != VenueStatus.APPROVED:
        raise CampaignError(
            _(
                "The venue %(name)s is not approved yet; campaigns run at approved venues only.",
                name=venue.name,
            ),
            code="venue_not_approved",
        )
    return venue


def _checked_shape(
    *,
    product_id: uuid.UUID,
    slug: str,
    starts_on: dt.date,
    ends_on: dt.date,
    venue_ids: list[uuid.UUID],
    doses_offered: list[int],
    campaign_id: uuid.UUID | None = None,
):
    """The rules a campaign's shape obeys, for creating and for changing a draft alike.

    Returns the product, the normalised slug and doses, and the venues by id in the order
    given. ``campaign_id`` is the campaign being changed (its own slug is not taken).
    """
    product = get_product(product_id)
    slug = slug.strip().lower()
    if not slug or not all(c.isalnum() or c == "-" for c in slug):
        raise CampaignError(_("Use letters, digits and dashes for the address."), code="invalid")
    if ends_on < starts_on:
        raise CampaignError(_("The campaign ends before it starts."), code="invalid")
    doses = sorted({int(d) for d in doses_offered})
    last = product.doses_in_series + (1 if product.booster else 0)
    if not doses or doses[0] < 1 or doses[-1] > last:
        raise CampaignError(
            _("%(name)s is given as doses 1 to %(last)s.", name=product.name, last=last),
            code="invalid_doses",
        )
    if not venue_ids:
        raise CampaignError(_("Choose at least one venue."), code="invalid")
    venues = {v: _approved_venue(v) for v in dict.fromkeys(venue_ids)}
    taken = sa.select(Campaign.id).where(Campaign.slug == slug)
    if campaign_id is not None:
        taken = taken.where(Campaign.id != campaign_id)
    if db.session.scalar(taken):
        raise CampaignError(_("Another campaign uses this address already."), code="slug_taken")
    return product, slug, doses, venues


def create_campaign(
    *,
    name: str,
    slug: str,
    audience: Audience,
    product_id: uuid.UUID,
    starts_on: dt.date,
    ends_on: dt.date,
    venue_ids: list[uuid.UUID],
    doses_offered: list[int] = (1,),
    slot_minutes: int = 15,
    seats_per_slot: int | None = None,
    opens_at: dt.datetime | None = None,
    closes_at: dt.datetime | None = None,
    min_age_years: int | None = None,
    max_age_years: int | None = None,
    walk_ins_per_day: int = 0,
) -> Campaign:
    """Create a draft campaign at approved venues."""
    product, slug, doses, venues = _checked_shape(
        product_id=product_id,
        slug=slug,
        starts_on=starts_on,
        ends_on=ends_on,
        venue_ids=venue_ids,
        doses_offered=doses_offered,
    )
    campaign = Campaign(
        name=name.strip(),
        slug=slug,
        audience=Audience(audience),
        product_id=product.id,
        doses_offered=doses,
        starts_on=starts_on,
        ends_on=ends_on,
        slot_minutes=slot_minutes,
        seats_per_slot=seats_per_slot,
        opens_at=opens_at,
        closes_at=closes_at,
        min_age_years=min_age_years if min_age_years is not None else product.min_age_years,
        max_age_years=max_age_years if max_age_years is not None else product.max_age_years,
        walk_ins_per_day=walk_ins_per_day,
    )
    db.session.add(campaign)
    db.session.flush()
    for venue_id in venues:
        db.session.add(CampaignVenue(campaign_id=campaign.id, venue_id=venue_id))
    db.session.flush()
    return campaign


def update_campaign(
    campaign: Campaign,
    *,
    name: str,
    slug: str,
    audience: Audience,
    product_id: uuid.UUID,
    starts_on: dt.date,
    ends_on: dt.date,
    venue_ids: list[uuid.UUID],
    doses_offered: list[int],
    slot_minutes: int,
    seats_per_slot: int | None = None,
    opens_at: dt.datetime | None = None,
    closes_at: dt.datetime | None = None,
    min_age_years: int | None = None,
    max_age_years: int | None = None,
    walk_ins_per_day: int = 0,
    actor: User | None = None,
) -> int:
    """Change a draft with the same rules as creating; return how many slots were removed.

    Only drafts change: nobody can have booked them yet, so slots that no longer fit the
    new dates, venues or slot length are removed (generate slots again to fill the new
    shape).
    """
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError(
            _("Only a draft campaign can be changed; this one is already published."),
            code="not_draft",
        )
    product, slug, doses, venues = _checked_shape(
        product_id=product_id,
        slug=slug,
        starts_on=starts_on,
        ends_on=ends_on,
        venue_ids=venue_ids,
        doses_offered=doses_offered,
        campaign_id=campaign.id,
    )
    removed = 0
    current = set(campaign_venue_ids(campaign))
    gone = current - set(venues)
    reshape = slot_minutes != campaign.slot_minutes
    for venue_id in current:
        query = sa.delete(Slot).where(
            Slot.campaign_id == campaign.id, Slot.venue_id == venue_id, Slot.booked == 0
        )
        if venue_id not in gone and not reshape:
            zone = venues[venue_id].timezone
            start = day_bounds(starts_on, zone)[0]
            end = day_bounds(ends_on, zone)[1]
            query = query.where(sa.or_(Slot.starts_at < start, Slot.starts_at >= end))
        removed += db.session.execute(query.execution_options(synchronize_session=False)).rowcount
    if gone:
        db.session.execute(
            sa.delete(CampaignVenue)
            .where(CampaignVenue.campaign_id == campaign.id, CampaignVenue.venue_id.in_(gone))
            .execution_options(synchronize_session=False)
        )
    for venue_id in venues:
        if venue_id not in current:
            db.session.add(CampaignVenue(campaign_id=campaign.id, venue_id=venue_id))

    campaign.name = name.strip()
    campaign.slug = slug
    campaign.audience = Audience(audience)
    campaign.product_id = product.id
    campaign.doses_offered = doses
    campaign.starts_on, campaign.ends_on = starts_on, ends_on
    campaign.slot_minutes = slot_minutes
    campaign.seats_per_slot = seats_per_slot
    campaign.opens_at, campaign.closes_at = opens_at, closes_at
    campaign.min_age_years = min_age_years if min_age_years is not None else product.min_age_years
    campaign.max_age_years = max_age_years if max_age_years is not None else product.max_age_years
    campaign.walk_ins_per_day = walk_ins_per_day
    log_action(campaign, "campaigns.campaign.updated", actor, {"slots_removed": removed})
    db.session.flush()
    return removed


def campaign_venue_ids(campaign: Campaign) -> list[uuid.UUID]:
    """The venues a campaign runs at."""
    return list(
        db.session.scalars(
            sa.select(CampaignVenue.venue_id).where(CampaignVenue.campaign_id == campaign.id)
        )
    )


def _windows(venue: Venue, day: dt.date) -> list[tuple[dt.time, dt.time]]:
    windows = []
    for start, end in (venue.opening_hours or {}).get(str(day.weekday()), []):
        windows.append((dt.time.fromisoformat(start), dt.time.fromisoformat(end)))
    return windows


def generate_slots(campaign: Campaign, venue_id: uuid.UUID | None = None) -> int:
    """Create the campaign's slots from each venue's opening hours (local time in the
    venue's zone), ``slot_minutes`` long, with ``seats_per_slot`` or the venue's stations
    as capacity. Idempotent: slots that exist are left as they are (capacity edits kept).
    Returns how many slots were created."""
    created = 0
    venue_ids = [venue_id] if venue_id else campaign_venue_ids(campaign)
    step = dt.timedelta(minutes=campaign.slot_minutes)
    for vid in venue_ids:
        venue = _approved_venue(vid)
        zone = ZoneInfo(venue.timezone)
        existing = set(
            db.session.scalars(
                sa.select(Slot.starts_at).where(
                    Slot.campaign_id == campaign.id, Slot.venue_id == venue.id
                )
            )
        )
        capacity = (
            campaign.seats_per_slot if campaign.seats_per_slot is not None else venue.stations
        )
        day = campaign.starts_on
        while day <= campaign.ends_on:
            for start, end in _windows(venue, day):
                at = dt.datetime.combine(day, start, zone)
                close = dt.datetime.combine(day, end, zone)
                while at + step <= close:
                    starts_at = at.astimezone(dt.UTC)
                    if starts_at not in existing:
                        db.session.add(
                            Slot(
                                campaign_id=campaign.id,
                                venue_id=venue.id,
                                starts_at=starts_at,
                                ends_at=(at + step).astimezone(dt.UTC),
                                capacity=capacity,
                                booked=0,
                            )
                        )
                        existing.add(starts_at)
                        created += 1
                    at += step
            day += dt.timedelta(days=1)
    db.session.flush()
    return created


def set_slot_capacity(slot_id: uuid.UUID, capacity: int, *, actor: User | None = None) -> Slot:
    """Change a slot's seats; never below the seats already booked (checked in the
    same statement that writes, so a booking racing in cannot be squeezed out)."""
    if capacity < 0:
        raise CampaignError(_("Capacity cannot be negative."), code="invalid")
    begin_ledger()
    row = db.session.execute(
        sa.update(Slot)
        .where(Slot.tenant_id == _tenant_id(), Slot.id == slot_id, Slot.booked <= capacity)
        .values(capacity=capacity)
        .returning(Slot.id, Slot.booked)
        .execution_options(synchronize_session=False)
    ).first()
    slot = db.session.get(Slot, (_tenant_id(), slot_id))
    if slot is None:
        raise CampaignError(_("This slot does not exist."), code="unknown_slot")
    db.session.refresh(slot)
    if row is None:
        raise CampaignError(
            _(
                "%(n)s people are booked in this slot; cancel or move bookings before "
                "lowering its seats below that.",
                n=slot.booked,
            ),
            code="below_booked",
        )
    log_action(slot, "campaigns.slot.capacity_set", actor, {"capacity": capacity})
    return slot


def publish_campaign(campaign: Campaign, *, actor: User | None = None) -> Campaign:
    """draft → published: the tenant must be active and every venue approved."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError(_("Only a draft campaign can be published."), code="not_draft")
    tenant = db.session.get(Tenant, campaign.tenant_id)
    if tenant.status != TenantStatus.ACTIVE:
        raise CampaignError(
            _(
                "Your organisation is not active yet; campaigns can be published once a "
                "venue is approved."
            ),
            code="tenant_not_active",
        )
    venue_ids = campaign_venue_ids(campaign)
    if not venue_ids:
        raise CampaignError(_("Add at least one venue."), code="no_venues")
    for vid in venue_ids:
        _approved_venue(vid)
    campaign.status = CampaignStatus.PUBLISHED
    campaign.published_at = utcnow()
    log_action(campaign, "campaigns.campaign.published", actor)
    db.session.flush()
    return campaign


def close_campaign(campaign: Campaign, *, actor: User | None = None) -> Campaign:
    """published → closed: no new bookings; existing bookings stay valid."""
    if campaign.status != CampaignStatus.PUBLISHED:
        raise CampaignError(_("Only a published campaign can be closed."), code="not_published")
    campaign.status = CampaignStatus.CLOSED
    campaign.closed_at = utcnow()
    log_action(campaign, "campaigns.campaign.closed", actor)
    db.session.flush()
    return campaign
