"""Helpers for the public booking page tests: a tenant with a published campaign, and
the steps walked through the test client as a person without JavaScript would."""

from __future__ import annotations

import re

from core.extensions import db
from core.tenancy import tenant_context
from tests.tenants.ledger_support import scoped_world

#: a woman born 1 January 1990 in Jakarta (the NIK's day is 41: 1 + 40)
NIK = "3171014101900001"
PERSON = {
    "full_name": "Siti Aminah",
    "nik": NIK,
    "date_of_birth": "1990-01-01",
    "sex": "female",
    "phone": "0812 3456 7890",
    "email": "siti@example.test",
    "address": "Jl. Melati 5, Jakarta",
    "occupation": "Guru",
    "consent": "yes",
}


def public_world(**kwargs):
    """(tenant, world) with one venue by default; ids and slugs read while committed."""
    kwargs.setdefault("venues", 1)
    tenant, world = scoped_world(**kwargs)
    with tenant_context(tenant):
        world.slot_ids = [s.id for s in world.slots()]
        world.venue_ids = [v.id for v in world.venues]
        world.campaign_slug = world.campaign.slug
        world.tenant_slug = tenant.slug
        db.session.rollback()
    return tenant, world


def base(world) -> str:
    return f"/b/{world.tenant_slug}/{world.campaign_slug}"


def choose_slot(client, world, slot_index: int = 0, day: str = "2030-01-07"):
    response = client.post(
        f"{base(world)}/venue/{world.venue_ids[0]}/{day}",
        data={"slot": str(world.slot_ids[slot_index])},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/details")
    return response


def started_stamp(client, world) -> str:
    """The signed "form shown at" stamp from the details page."""
    page = client.get(f"{base(world)}/details").get_data(as_text=True)
    return re.search(r'name="started" value="([^"]+)"', page).group(1)


def fill_details(client, world, **overrides):
    data = {**PERSON, "started": started_stamp(client, world), **overrides}
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(f"{base(world)}/details", data=data)


def book(client, world, slot_index: int = 0, **overrides):
    """Slot → details → confirm; returns the confirmation POST's response."""
    choose_slot(client, world, slot_index)
    response = fill_details(client, world, **overrides)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client.post(f"{base(world)}/confirm", data={})


# --- the permission matrix (tests/onboarding/test_permissions.py) ---------------------


def matrix_campaign(w, slug: str = "alpha") -> dict:
    """A published public campaign of the matrix world's tenant, without venues (made
    once per world). Its slug names the tenant, so beta's slug under alpha's address
    must answer 404."""
    made = w.__dict__.setdefault("_public_campaigns", {})
    if slug not in made:
        import datetime as dt

        from tenants.campaigns.models import Audience
        from tenants.campaigns.models import Campaign
        from tenants.campaigns.models import CampaignStatus
        from tenants.stock.services import create_product

        with tenant_context(w._tenant(slug)):
            product = create_product("Matrix public vaccine", "Test")
            campaign = Campaign(
                name="Matrix public",
                slug=f"matrix-public-{slug}",
                audience=Audience.PUBLIC,
                product_id=product.id,
                starts_on=dt.date(2030, 1, 7),
                ends_on=dt.date(2030, 1, 7),
                status=CampaignStatus.PUBLISHED,
            )
            db.session.add(campaign)
            db.session.commit()
            made[slug] = campaign.slug
    return {"campaign_slug": made[slug]}


def matrix_venue_day(w, slug: str = "alpha") -> dict:
    """The matrix campaign with the tenant's (unapproved, so not bookable) venue."""
    return {**matrix_campaign(w, slug), "venue_id": w.venues[slug], "day": "2030-01-07"}
