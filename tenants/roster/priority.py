"""Priority groups of a public campaign, for the booking page.

A campaign is **restricted to priority groups exactly when it has at least one**
(derived, not a separate switch: a coordinator restricts a campaign by adding its
first group and opens it again by removing the last). A restricted campaign's
booking page asks which group the person belongs to, shows that group's statement,
and records the self-declaration with the booking through :func:`record_declaration`.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask_babel import gettext as _

from core.extensions import db
from tenants.booking.models import Booking
from tenants.campaigns.models import Campaign
from tenants.roster.models import PriorityDeclaration
from tenants.roster.models import PriorityGroup
from tenants.roster.services import RosterError


def groups_for(campaign: Campaign) -> list[PriorityGroup]:
    """The campaign's priority groups in the order the coordinator set (empty: open to
    everyone within the age limits)."""
    return list(
        db.session.scalars(
            sa.select(PriorityGroup)
            .where(PriorityGroup.campaign_id == campaign.id)
            .order_by(PriorityGroup.position, PriorityGroup.name)
        )
    )


def is_restricted(campaign: Campaign) -> bool:
    """Whether booking needs a priority group's declaration (the campaign has groups)."""
    return (
        db.session.scalar(
            sa.select(PriorityGroup.id).where(PriorityGroup.campaign_id == campaign.id).limit(1)
        )
        is not None
    )


def record_declaration(booking: Booking, group_id: uuid.UUID | str) -> PriorityDeclaration:
    """Record that the person booked as a member of the group, with the statement as it
    reads now. ``unknown_group`` if the group is not one of the booking's campaign.
    Call in the booking's transaction (a refusal rolls the booking back too)."""
    try:
        gid = group_id if isinstance(group_id, uuid.UUID) else uuid.UUID(str(group_id))
    except ValueError:
        gid = None
    group = db.session.get(PriorityGroup, (booking.tenant_id, gid)) if gid else None
    if group is None or group.campaign_id != booking.campaign_id:
        raise RosterError(
            _("Choose one of the priority groups this campaign is for."),
            code="unknown_group",
            status=422,
        )
    declaration = PriorityDeclaration(
        booking_id=booking.id, group_id=group.id, declaration=group.declaration
    )
    db.session.add(declaration)
    db.session.flush()
    return declaration
