"""The booking page's view of rosters and priority groups (``tenants.roster``, issue 4).

Employee campaigns need a proof of eligibility first (the roster's proof page keeps it
in the session); a public campaign with priority groups asks which group the person
declares. These few calls are the whole interface the booking page uses.
"""

from __future__ import annotations

import uuid

from tenants.booking.models import Booking
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.roster import eligibility as _eligibility
from tenants.roster import priority as _priority
from tenants.roster.eligibility import Eligibility
from tenants.roster.models import PriorityGroup

PROOF_ENDPOINT = "roster_public.proof"


def needs_eligibility(campaign: Campaign) -> bool:
    return campaign.audience == Audience.EMPLOYEES


def eligibility_for(campaign: Campaign) -> Eligibility | None:
    """The visitor's proven eligibility for an employee campaign (None for others)."""
    if not needs_eligibility(campaign):
        return None
    return _eligibility.current_eligibility(campaign)


def claim(eligibility: Eligibility, booking: Booking, *, dependant: bool) -> None:
    _eligibility.claim_booking(eligibility, booking, dependant=dependant)


def priority_groups(campaign: Campaign) -> list[PriorityGroup]:
    if needs_eligibility(campaign):
        return []
    return _priority.groups_for(campaign)


def declare(booking: Booking, group_id: uuid.UUID) -> None:
    _priority.record_declaration(booking, group_id)
