"""/api/v1 campaigns, availability and bookings, through the ledger's services."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tests.api_support import bearer
from tests.api_support import issue_key
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import assert_consistent
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import counters
from tests.tenants.ledger_support import make_tenant

_nik = iter(range(3171020202900001, 3171020202999999))


@pytest.fixture
def world(app):
    """A tenant with two venues (1 station each, 3 doses each) and a published campaign."""
    tenant = make_tenant()
    with tenant_context(tenant):
        built = build_world(venues=2, stations=1, doses=3)
        # plain ids: outside the tenant's context the ORM objects cannot be refreshed
        built.slot_ids = [s.id for s in built.slots(built.venues[0])]
        built.campaign_id = built.campaign.id
        built.venue_ids = [v.id for v in built.venues]
        built.tenant_id = tenant.id
    built.token = issue_key(tenant, scopes=["read", "bookings"])
    return built


def _booking_body(world, slot_id=None, nik=None, **person):
    return {
        "campaign_id": str(world.campaign_id),
        "slot_id": str(slot_id or world.slot_ids[0]),
        "person": {
            "full_name": "Siti Rahma",
            "date_of_birth": "1990-04-01",
            "nik": nik or str(next(_nik)),
            **person,
        },
    }


def test_campaigns_and_availability(client, world):
    headers = bearer(world.token)
    listing = client.get("/api/v1/campaigns", headers=headers)
    assert listing.status_code == 200
    [campaign] = listing.json["data"]
    assert campaign["id"] == str(world.campaign_id)
    assert campaign["status"] == "published"
    assert sorted(campaign["venue_ids"]) == sorted(str(v) for v in world.venue_ids)
    one = client.get(f"/api/v1/campaigns/{world.campaign_id}", headers=headers)
    assert one.json == campaign

    venue_id = world.venue_ids[0]
    url = f"/api/v1/campaigns/{world.campaign_id}/availability?venue_id={venue_id}&day={START}"
    day = client.get(url, headers=headers)
    assert day.status_code == 200
    slots = day.json["slots"]
    assert [s["slot_id"] for s in slots] == [str(i) for i in world.slot_ids[: len(slots)]]
    assert all(s["seats_free"] == 1 and s["doses_free"] == 3 and s["bookable"] == 1 for s in slots)
    missing_day = client.get(url.split("&day=")[0], headers=headers)
    assert missing_day.status_code == 422 and "day" in missing_day.json["errors"]


def test_create_get_cancel_a_booking(client, world):
    headers = bearer(world.token)
    created = client.post("/api/v1/bookings", json=_booking_body(world), headers=headers)
    assert created.status_code == 201, created.json
    booking = created.json
    assert booking["status"] == "booked" and booking["dose_number"] == 1
    assert booking["venue_id"] == str(world.venue_ids[0])
    assert "nik" not in str(booking) and "Siti" not in str(booking)
    assert created.headers["Location"].endswith(f"/api/v1/bookings/{booking['id']}")
    with tenant_context(world.tenant_id):
        assert counters(world.venues[0], world.product) == (3, 1)

    fetched = client.get(f"/api/v1/bookings/{booking['id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.json == booking

    cancelled = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "cancelled" and cancelled.json["cancelled_at"]
    again = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=headers)
    assert again.status_code == 409 and again.json["code"] == "not_active"
    with tenant_context(world.tenant_id):
        assert counters(world.venues[0], world.product) == (3, 0)
        assert_consistent()


def test_ledger_refusals_are_problems_and_take_nothing(client, world):
    headers = bearer(world.token)
    first = client.post("/api/v1/bookings", json=_booking_body(world), headers=headers)
    assert first.status_code == 201
    full = client.post("/api/v1/bookings", json=_booking_body(world), headers=headers)
    assert full.status_code == 409
    assert full.mimetype == "application/problem+json"
    assert full.json["code"] == "slot_full"
    bad = client.post(
        "/api/v1/bookings", json=_booking_body(world, nik="123", email="x"), headers=headers
    )
    assert bad.status_code == 422
    assert set(bad.json["errors"]["person"]) == {"nik", "email"}
    with tenant_context(world.tenant_id):
        assert counters(world.venues[0], world.product) == (3, 1)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1
        assert_consistent()


def test_idempotent_booking_is_made_once(client, world):
    headers = bearer(world.token, **{"Idempotency-Key": str(uuid.uuid4())})
    body = _booking_body(world)
    first = client.post("/api/v1/bookings", json=body, headers=headers)
    retry = client.post("/api/v1/bookings", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json["id"] == first.json["id"]
    changed = client.post("/api/v1/bookings", json=_booking_body(world), headers=headers)
    assert changed.status_code == 422 and changed.json["code"] == "idempotency_key_reused"
    with tenant_context(world.tenant_id):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1


def test_reschedule_moves_the_booking(client, world):
    headers = bearer(world.token)
    booking = client.post("/api/v1/bookings", json=_booking_body(world), headers=headers).json
    moved = client.post(
        f"/api/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": str(world.slot_ids[1])},
        headers=headers,
    )
    assert moved.status_code == 200, moved.json
    assert moved.json["slot_id"] == str(world.slot_ids[1])
    with tenant_context(world.tenant_id):
        assert_consistent()


def test_a_seat_freed_through_the_api_is_offered_to_the_waitlist(client, world):
    from tenants.booking.models import WaitlistEntry
    from tenants.booking.models import WaitlistStatus
    from tenants.booking.services import join_waitlist
    from tests.tenants.ledger_support import make_person

    headers = bearer(world.token)
    day_one = world.slot_ids[:2]  # 08:00 and 09:00 on the first day, one seat each
    taken = [
        client.post("/api/v1/bookings", json=_booking_body(world, slot), headers=headers).json
        for slot in day_one
    ]
    with tenant_context(world.tenant_id):
        entry_id = join_waitlist(
            world.campaign_in_session(), world.venue_ids[0], START, make_person().id
        ).id
        db.session.commit()
    assert (
        client.post(f"/api/v1/bookings/{taken[0]['id']}/cancel", headers=headers).status_code == 200
    )
    with tenant_context(world.tenant_id):
        entry = db.session.get(WaitlistEntry, (world.tenant_id, entry_id))
        assert entry.status == WaitlistStatus.OFFERED and entry.offer_expires_at


def test_read_key_cannot_book_and_other_tenants_see_404(client, world, create_tenant):
    reader = issue_key(world.tenant_id, scopes=["read"])
    refused = client.post("/api/v1/bookings", json=_booking_body(world), headers=bearer(reader))
    assert refused.status_code == 403 and refused.json["code"] == "scope_missing"
    with tenant_context(world.tenant_id):
        assert counters(world.venues[0], world.product) == (3, 0)

    booking = client.post(
        "/api/v1/bookings", json=_booking_body(world), headers=bearer(world.token)
    ).json
    stranger = issue_key(create_tenant(), scopes=["read", "bookings"])
    for method, url in (
        ("get", f"/api/v1/bookings/{booking['id']}"),
        ("post", f"/api/v1/bookings/{booking['id']}/cancel"),
        ("get", f"/api/v1/campaigns/{world.campaign_id}"),
    ):
        response = getattr(client, method)(url, headers=bearer(stranger))
        assert response.status_code == 404, url
    # booking into another tenant's campaign is a 404 too, and takes nothing
    planted = client.post("/api/v1/bookings", json=_booking_body(world), headers=bearer(stranger))
    assert planted.status_code == 404
    with tenant_context(world.tenant_id):
        assert db.session.get(Booking, (world.tenant_id, uuid.UUID(booking["id"]))).status == (
            "booked"
        )
        assert counters(world.venues[0], world.product) == (3, 1)
