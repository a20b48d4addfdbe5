"""The walk-in desk: register someone without a booking and give them one of the
day's walk-in places and a dose, through the ledger."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit import log_action
from core.extensions import db
from core.models import User
from tenants.booking.models import Booking
from tenants.booking.models import Person
from tenants.booking.services import person_with_nik
from tenants.booking.services import register_walk_in
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import CampaignVenue
from tenants.onsite.models import CheckIn
from tenants.onsite.services.common import OnsiteError
from tenants.onsite.services.common import tenant_id


def campaigns_today(venue_id: uuid.UUID, day: dt.date) -> list[Campaign]:
    """Published campaigns running at the venue on ``day`` (where walk-ins may go)."""
    return list(
        db.session.scalars(
            sa.select(Campaign)
            .join(
                CampaignVenue,
                sa.and_(
                    CampaignVenue.tenant_id == Campaign.tenant_id,
                    CampaignVenue.campaign_id == Campaign.id,
                ),
            )
            .where(
                CampaignVenue.venue_id == venue_id,
                Campaign.status == CampaignStatus.PUBLISHED,
                Campaign.starts_on <= day,
                Campaign.ends_on >= day,
            )
            .order_by(Campaign.name)
        )
    )


def _same_person(person: Person, full_name: str, date_of_birth: dt.date) -> bool:
    return (
        " ".join(person.full_name.lower().split()) == " ".join(full_name.lower().split())
        and person.date_of_birth == date_of_birth
    )


def admit_walk_in(
    campaign_id: uuid.UUID,
    venue_id: uuid.UUID,
    *,
    full_name: str,
    date_of_birth: dt.date,
    nik: str,
    dose_number: int = 1,
    actor: User | None,
    now: dt.datetime,
    **details,
) -> Booking:
    """Register (or find, by NIK) the person and take a walk-in place and a dose.

    ``details`` holds the other keyword arguments of ``person_with_nik`` (sex, phone,
    email, address, occupation, consent), as the booking page's ``PersonSchema``
    gives them (``tenants.public.schemas.person_kwargs``).

    A NIK already registered under another name or birth date is refused with what
    collided, never silently merged: a mistyped NIK elsewhere is for staff review.
    The ledger refuses ``walk_ins_full`` / ``no_doses`` / ``duplicate_booking`` with
    its own message; the new booking is ``arrived`` and checked in at once, and
    ``booking_created`` sends its voucher when an email was given.
    """
    campaign = db.session.get(Campaign, (tenant_id(), campaign_id))
    if campaign is None:
        raise OnsiteError(_("Unknown campaign."), code="invalid", status=404)
    person, created = person_with_nik(full_name, date_of_birth, nik=nik, **details)
    if not created and not _same_person(person, full_name, date_of_birth):
        raise OnsiteError(
            _(
                "This NIK is registered already, under another name or date of birth. "
                "Check the KTP and the NIK typed. If the NIK was mistyped in an earlier "
                "registration, a coordinator reviews that record; do not register twice."
            ),
            code="duplicate_person",
        )
    booking = register_walk_in(campaign, venue_id, person.id, dose_number=dose_number, now=now)
    checkin = CheckIn(
        booking_id=booking.id,
        venue_id=venue_id,
        checked_in_at=now,
        by_id=actor.id if actor else None,
        walk_in=True,
    )
    db.session.add(checkin)
    db.session.flush()
    log_action(checkin, "onsite.walk_in.admitted", actor, {"booking_id": str(booking.id)})
    return booking
