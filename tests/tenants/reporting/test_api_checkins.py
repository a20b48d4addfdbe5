"""/api/v1/check-ins: a read-only list, the tenant's own only, filterable."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.extensions import db
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.onsite.models import CheckIn
from tests.api_support import bearer
from tests.api_support import issue_key
from tests.tenants.ledger_support import make_tenant
from tests.tenants.reporting.support import dataset_for

AT = dt.datetime(2030, 1, 7, 2, tzinfo=dt.UTC)


def _check_in_everyone(tenant) -> list[str]:
    with tenant_context(tenant):
        bookings = db.session.scalars(
            sa.select(Booking).where(Booking.dose_number == 1).order_by(Booking.id)
        ).all()
        rows = []
        for i, booking in enumerate(bookings):
            at = AT + dt.timedelta(minutes=i)
            rows.append(CheckIn(booking_id=booking.id, venue_id=booking.venue_id, checked_in_at=at))
        db.session.add_all(rows)
        db.session.commit()
        return [str(r.id) for r in rows], str(bookings[0].venue_id)


def test_lists_the_tenants_check_ins_with_filters(client, create_user):
    tenant, other = make_tenant(), make_tenant()
    for t in (tenant, other):
        dataset_for(t, create_user())
    ids, venue_id = _check_in_everyone(tenant)
    _check_in_everyone(other)
    headers = bearer(issue_key(tenant, scopes=["read"]))
    listing = client.get("/api/v1/check-ins?limit=200", headers=headers)
    assert listing.status_code == 200
    assert sorted(c["id"] for c in listing.json["data"]) == sorted(ids)
    one_venue = client.get(f"/api/v1/check-ins?venue_id={venue_id}", headers=headers).json
    assert one_venue["data"] and {c["venue_id"] for c in one_venue["data"]} == {venue_id}
    since = (AT + dt.timedelta(minutes=len(ids) - 1)).isoformat()
    latest = client.get("/api/v1/check-ins", query_string={"since": since}, headers=headers)
    assert len(latest.json["data"]) == 1 and latest.json["data"][0]["walk_in"] is False
