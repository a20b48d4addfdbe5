"""An employee campaign's roster: bulk upsert (HR systems) and the list.

The upsert goes through the same import service as the console's file upload, so a
row is accepted, updated, unchanged or refused for the same reasons, reported per row
(``index`` is the row's position in the request). Rows are matched by employee
number: sending the same rows again changes nothing and duplicates nothing, which also
makes the call safe to retry (an ``Idempotency-Key`` additionally replays the answer).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask_babel import gettext as _

from core.access import get_or_404
from core.api.models import ApiScope
from core.api.pagination import paginate
from core.errors import Conflict
from tenants.api.blueprint import api
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.roster.models import RosterEntry
from tenants.roster.schemas import RosterEntrySchema
from tenants.roster.schemas import RosterUpsertResultSchema
from tenants.roster.schemas import RosterUpsertSchema
from tenants.roster.services import import_roster


def _employee_campaign(campaign_id: uuid.UUID) -> Campaign:
    campaign = get_or_404(Campaign, campaign_id)
    if campaign.audience != Audience.EMPLOYEES:
        raise Conflict(_("Only an employee campaign has a roster."), code="not_employee_campaign")
    return campaign


@api.operation(
    "/campaigns/<uuid:campaign_id>/roster",
    method="POST",
    summary="Add or update employees on a campaign's roster",
    scope=ApiScope.ROSTER,
    body=RosterUpsertSchema(),
    response=RosterUpsertResultSchema(),
    status=200,
    tags=["roster"],
    errors={
        404: "No such campaign in this tenant.",
        409: "The campaign is not an employee campaign (`not_employee_campaign`).",
    },
)
def upsert_roster(campaign_id: uuid.UUID, data: dict):
    """Upsert up to 10,000 employees by employee number in one call. Each row's result
    says whether it was accepted (new), updated, unchanged or refused, with reasons a
    person can act on (an invalid NIK, neither NIK nor date of birth, a bad email, a
    negative number of dependants, an employee number repeated in the request, an
    allowance below the dependants already booked). Refused rows change nothing; the
    others are saved."""
    campaign = _employee_campaign(campaign_id)
    report = import_roster(campaign, enumerate(data["rows"]))
    return {
        "counts": report.counts,
        "rows": [
            {
                "index": r.row,
                "employee_number": r.employee_number,
                "status": r.status,
                "reasons": r.reasons,
            }
            for r in report.rows
        ],
    }


@api.operation(
    "/campaigns/<uuid:campaign_id>/roster",
    summary="List a campaign's roster",
    scope=ApiScope.READ,
    response=RosterEntrySchema(),
    paginated=True,
    tags=["roster"],
    errors={
        404: "No such campaign in this tenant.",
        409: "The campaign is not an employee campaign (`not_employee_campaign`).",
    },
)
def list_roster(campaign_id: uuid.UUID, page: dict):
    """The campaign's employees in the order they were first added; NIKs masked."""
    campaign = _employee_campaign(campaign_id)
    statement = sa.select(RosterEntry).where(RosterEntry.campaign_id == campaign.id)
    return paginate(statement, RosterEntry.id, f"roster-{campaign.id}", **page)
