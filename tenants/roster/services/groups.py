"""Editing a campaign's priority groups (the booking page reads them through
:mod:`tenants.roster.priority`)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit import log_action
from core.errors import Conflict
from core.extensions import db
from core.models import User
from tenants.campaigns.models import Campaign
from tenants.roster.models import PriorityDeclaration
from tenants.roster.models import PriorityGroup


def add_priority_group(
    campaign: Campaign, name: str, declaration: str, *, actor: User | None
) -> PriorityGroup:
    """Add a priority group; from then on the campaign is restricted to its groups."""
    name, declaration = name.strip(), declaration.strip()
    if db.session.scalar(
        sa.select(PriorityGroup.id).where(
            PriorityGroup.campaign_id == campaign.id, PriorityGroup.name == name
        )
    ):
        raise Conflict(_("This campaign has a group with that name already."), code="group_exists")
    position = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(PriorityGroup.position), 0)).where(
            PriorityGroup.campaign_id == campaign.id
        )
    )
    group = PriorityGroup(
        campaign_id=campaign.id, name=name, declaration=declaration, position=position + 1
    )
    db.session.add(group)
    db.session.flush()
    log_action(group, "tenants.roster.priority_group_add", actor, {"name": name})
    return group


def update_priority_group(
    group: PriorityGroup, name: str, declaration: str, *, actor: User | None
) -> PriorityGroup:
    """Rename a group or change its statement (declarations made keep the old text)."""
    name, declaration = name.strip(), declaration.strip()
    if db.session.scalar(
        sa.select(PriorityGroup.id).where(
            PriorityGroup.campaign_id == group.campaign_id,
            PriorityGroup.name == name,
            PriorityGroup.id != group.id,
        )
    ):
        raise Conflict(_("This campaign has a group with that name already."), code="group_exists")
    group.name, group.declaration = name, declaration
    db.session.flush()
    log_action(group, "tenants.roster.priority_group_update", actor, {"name": name})
    return group


def remove_priority_group(group: PriorityGroup, *, actor: User | None) -> None:
    """Remove a group nobody has declared yet (declarations are a record of booking)."""
    if db.session.scalar(
        sa.select(PriorityDeclaration.id).where(PriorityDeclaration.group_id == group.id).limit(1)
    ):
        raise Conflict(
            _("People have booked under this group; it can be renamed but not removed."),
            code="group_in_use",
        )
    log_action(group, "tenants.roster.priority_group_remove", actor, {"name": group.name})
    db.session.delete(group)
    db.session.flush()
