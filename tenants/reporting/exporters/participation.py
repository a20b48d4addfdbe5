"""Employee-campaign participation: per campaign, the roster against the people booked
and vaccinated through it (registration far outran real doses in the private
employer programme; this is the number companies and the chamber report)."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from core.tenancy import tenant_join
from tenants.booking.models import ACTIVE_STATUSES
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.campaigns.models import Campaign
from tenants.reporting.exporters.base import Exporter
from tenants.roster.models import RosterBooking
from tenants.roster.models import RosterEntry


class EmployeeParticipation(Exporter):
    identifier = "employee_participation"
    name = _l("Employee participation per campaign")
    description = _l(
        "Per campaign running in the period: employees on the roster, employees and "
        "dependants booked through it, and how many of them got at least one dose. "
        "Counts only."
    )

    def header(self) -> list:
        return [
            _l("Campaign"),
            _l("Employees on the roster"),
            _l("Employees booked"),
            _l("Employees vaccinated"),
            _l("Dependants booked"),
            _l("Dependants vaccinated"),
        ]

    def records(self) -> Iterator[tuple]:
        campaigns = sa.select(Campaign.id, Campaign.name).where(
            Campaign.starts_on <= self.params["date_to"],
            Campaign.ends_on >= self.params["date_from"],
        )
        if self.params.get("campaign_id"):
            campaigns = campaigns.where(Campaign.id == self.params["campaign_id"])
        campaigns = self.session.execute(campaigns.order_by(Campaign.name)).all()
        ids = [cid for cid, _ in campaigns]
        roster = dict(
            self.session.execute(
                sa.select(RosterEntry.campaign_id, sa.func.count())
                .where(RosterEntry.campaign_id.in_(ids))
                .group_by(RosterEntry.campaign_id)
            ).all()
        )
        rb, b = RosterBooking, Booking
        # one person counts once however many doses: who is booked (an active booking
        # made through the roster) and who has had a dose in the campaign
        dosed = aliased(Booking)
        given = (
            sa.select(Administration.id)
            .join(
                dosed,
                tenant_join(dosed, Administration.booking_id),
            )
            .where(
                dosed.person_id == b.person_id,
                dosed.campaign_id == rb.campaign_id,
                Administration.voided_at.is_(None),
            )
            .exists()
        )
        person = sa.case((rb.dependant, b.person_id), else_=None)
        employee = sa.case((rb.dependant, None), else_=rb.entry_id)
        statement = (
            sa.select(
                rb.campaign_id,
                sa.func.count(sa.distinct(employee)),
                sa.func.count(sa.distinct(sa.case((given, employee), else_=None))),
                sa.func.count(sa.distinct(person)),
                sa.func.count(sa.distinct(sa.case((given, person), else_=None))),
            )
            .join(b, tenant_join(b, rb.booking_id))
            .where(rb.campaign_id.in_(ids), rb.entry_id.is_not(None), b.status.in_(ACTIVE_STATUSES))
            .group_by(rb.campaign_id)
        )
        if self.params.get("venue_id"):
            statement = statement.where(b.venue_id == self.params["venue_id"])
        counts = {cid: rest for cid, *rest in self.session.execute(statement)}
        for cid, name in campaigns:
            yield (name, roster.get(cid, 0), *counts.get(cid, (0, 0, 0, 0)))
