"""The console's campaign pages: create and edit, slots, seats, publish and close."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import Role
from core.models import TenantStatus
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus
from tenants.booking.services import availability
from tenants.booking.services import book_slot
from tenants.booking.services.availability import bookable_on_day
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import CampaignVenue
from tenants.campaigns.models import Slot
from tenants.stock.models import Lot
from tenants.stock.models import Stock
from tenants.stock.services import receive_lot
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import FAR_EXPIRY
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import TODAY
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_venue
from tests.tenants.ledger_support import scoped_world
from tests.tenants.ledger_support import short_interval_product


@pytest.fixture
def org(app, create_tenant, create_user, login, client):
    """An active tenant with two approved venues, a draft one and a product; its
    coordinator signed in."""
    tenant = create_tenant(status=TenantStatus.ACTIVE)
    user = create_user(tenant=tenant, role=Role.COORDINATOR)
    with tenant_context(tenant):
        a, b = make_venue("Puskesmas A", stations=3), make_venue("Klinik B")
        draft = make_venue("Draft venue", approved=False)
        product = short_interval_product()
        db.session.commit()
        ids = {"a": a.id, "b": b.id, "draft": draft.id, "product": product.id}
    login(client, user)
    return tenant, ids


def _url(tenant, path=""):
    return f"/o/{tenant.slug}/campaigns{path}"


def _form(ids, **overrides):
    data = {
        "name": "Flu drive 2030",
        "slug": "flu-2030",
        "audience": "public",
        "product_id": str(ids["product"]),
        "doses_offered": ["1", "2"],
        "venue_ids": [str(ids["a"])],
        "starts_on": START.isoformat(),
        "ends_on": (START + dt.timedelta(days=1)).isoformat(),
        "slot_minutes": "60",
        "seats_per_slot": "",
        "opens_at": "2029-12-20T08:00",
        "closes_at": "",
        "min_age_years": "18",
        "max_age_years": "",
        "walk_ins_per_day": "4",
    }
    data.update(overrides)
    return data


def _campaign(tenant, slug="flu-2030") -> Campaign:
    with tenant_context(tenant):
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.slug == slug))
        if campaign is not None:
            db.session.expunge(campaign)
        db.session.rollback()
    return campaign


def _create(client, tenant, ids, **overrides) -> Campaign:
    response = client.post(_url(tenant, "/new"), data=_form(ids, **overrides))
    assert response.status_code == 302, response.get_data(as_text=True)
    return _campaign(tenant, overrides.get("slug", "flu-2030"))


def test_create_a_campaign(org, client):
    tenant, ids = org
    form = client.get(_url(tenant, "/new")).get_data(as_text=True)
    assert "Puskesmas A" in form and "Draft venue" not in form  # approved venues only
    campaign = _create(client, tenant, ids, venue_ids=[str(ids["a"]), str(ids["b"])])
    assert campaign.status == CampaignStatus.DRAFT
    assert (campaign.name, campaign.audience.value, campaign.doses_offered) == (
        "Flu drive 2030",
        "public",
        [1, 2],
    )
    assert (campaign.slot_minutes, campaign.seats_per_slot, campaign.walk_ins_per_day) == (
        60,
        None,
        4,
    )
    # 08:00 in Jakarta (UTC+7) is 01:00 UTC
    assert campaign.opens_at == dt.datetime(2029, 12, 20, 1, tzinfo=dt.UTC)
    assert campaign.closes_at is None and campaign.min_age_years == 18
    with tenant_context(tenant):
        venues = set(
            db.session.scalars(
                sa.select(CampaignVenue.venue_id).where(CampaignVenue.campaign_id == campaign.id)
            )
        )
        db.session.rollback()
    assert venues == {ids["a"], ids["b"]}
    listing = client.get(_url(tenant)).get_data(as_text=True)
    assert "Flu drive 2030" in listing and "Draft" in listing


def test_campaign_form_errors_keep_values_and_link_to_fields(org, client):
    tenant, ids = org
    response = client.post(
        _url(tenant, "/new"),
        data=_form(
            ids,
            name="Flu drive kept",
            slug="Not A Slug",
            doses_offered=[],
            venue_ids=[],
            ends_on=(START - dt.timedelta(days=1)).isoformat(),
            slot_minutes="2",
            min_age_years="60",
            max_age_years="18",
        ),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in (
        "slug",
        "doses_offered",
        "venue_ids",
        "ends_on",
        "slot_minutes",
        "max_age_years",
    ):
        assert f'href="#{field}"' in html, field
    assert 'value="Flu drive kept"' in html
    assert 'value="60"' in html
    assert _campaign(tenant) is None


def test_a_venue_not_approved_is_refused_by_the_service(org, client):
    tenant, ids = org
    response = client.post(
        _url(tenant, "/new"), data=_form(ids, venue_ids=[str(ids["a"]), str(ids["draft"])])
    )
    assert response.status_code == 409
    assert "Draft venue is not approved yet" in response.get_data(as_text=True)
    assert _campaign(tenant) is None


def test_edit_a_draft_and_slots_that_no_longer_fit_are_removed(org, client):
    tenant, ids = org
    campaign = _create(client, tenant, ids, venue_ids=[str(ids["a"]), str(ids["b"])])
    assert client.post(_url(tenant, f"/{campaign.id}/generate")).status_code == 302
    page = client.get(_url(tenant, f"/{campaign.id}/edit")).get_data(as_text=True)
    assert 'value="2029-12-20T08:00"' in page  # shown back in local time
    response = client.post(
        _url(tenant, f"/{campaign.id}/edit"),
        data=_form(
            ids, name="Flu drive, one day", venue_ids=[str(ids["a"])], ends_on=START.isoformat()
        ),
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        slots = db.session.execute(
            sa.select(Slot.venue_id, Slot.starts_at).where(Slot.campaign_id == campaign.id)
        ).all()
        db.session.rollback()
    # venue A is open 08:00-10:00 on weekdays: two one-hour slots on the one day left
    assert {v for v, _ in slots} == {ids["a"]} and len(slots) == 2
    assert _campaign(tenant).name == "Flu drive, one day"
    response = client.post(_url(tenant, f"/{campaign.id}/edit"), data=_form(ids, slug=""))
    assert response.status_code == 422 and 'href="#slug"' in response.get_data(as_text=True)


def test_generate_slots_and_the_days_show_seats_booked_and_doses_from_the_ledger(
    app, client, create_user, login
):
    tenant, world = scoped_world(venues=1, stations=2, doses=5, days=2)
    login(client, create_user(tenant=tenant, role=Role.COORDINATOR))
    with tenant_context(tenant):
        campaign = world.campaign_in_session()
        first = world.slots()[0]
        book_slot(campaign, first.id, make_person().id, now=BEFORE)
        venue_id, campaign_id = world.venues[0].id, campaign.id
        db.session.commit()
    html = client.get(_url(tenant, f"/{campaign_id}")).get_data(as_text=True)
    rows = dict(
        re.findall(rf'<tr data-venue="{venue_id}" data-day="([0-9-]+)">(.*?)</tr>', html, re.S)
    )
    assert set(rows) == {START.isoformat(), (START + dt.timedelta(days=1)).isoformat()}

    def cells(day):
        return dict(re.findall(r'class="num ([a-z-]+)">(\d+)</td>', rows[day.isoformat()]))

    # two one-hour slots of 2 seats a day; 5 doses, 1 promised (4 free, shared by both
    # days): on day one the 3 free seats bind
    assert cells(START) == {"seats": "4", "booked": "1", "doses-free": "4", "bookable": "3"}
    assert cells(START + dt.timedelta(days=1)) == {
        "seats": "4",
        "booked": "0",
        "doses-free": "4",
        "bookable": "4",
    }
    with tenant_context(tenant):
        on_hand, promised = db.session.execute(
            sa.select(Stock.on_hand, Stock.promised).where(Stock.venue_id == venue_id)
        ).one()
        campaign = db.session.get(Campaign, (tenant.id, campaign_id))
        # what the booking page would offer, asked of the ledger itself
        ledger = {
            day: bookable_on_day(availability(campaign, venue_id, day))
            for day in (START, START + dt.timedelta(days=1))
        }
        db.session.rollback()
    assert on_hand - promised == 4
    assert {d: int(cells(d)["bookable"]) for d in ledger} == ledger


def test_slot_editor_changes_seats_never_below_booked(app, client, create_user, login):
    tenant, world = scoped_world(venues=1, stations=2, doses=10, days=1)
    login(client, create_user(tenant=tenant, role=Role.COORDINATOR))
    with tenant_context(tenant):
        campaign = world.campaign_in_session()
        first = world.slots()[0]
        for _ in range(2):
            book_slot(campaign, first.id, make_person().id, now=BEFORE)
        venue_id, campaign_id, slot_id = world.venues[0].id, campaign.id, first.id
        db.session.commit()
    page = client.get(
        _url(tenant, f"/{campaign_id}/slots"),
        query_string={"venue_id": venue_id, "day": START.isoformat()},
    ).get_data(as_text=True)
    assert f'id="slot-{slot_id}"' in page and "08:00\u201309:00" in page
    url = _url(tenant, f"/{campaign_id}/slots/{slot_id}")
    assert client.post(url, data={"capacity": "5"}).status_code == 302
    response = client.post(url, data={"capacity": "1"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "2 people are booked in this slot" in html
    assert f'href="#slot-{slot_id}"' in html and 'value="1"' in html
    response = client.post(url, data={"capacity": "many"})
    assert response.status_code == 422
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(Slot.capacity).where(Slot.id == slot_id)) == 5
        db.session.rollback()


def test_publish_refused_with_the_reason_when_a_venue_is_not_approved(org, client):
    tenant, ids = org
    campaign = _create(client, tenant, ids, venue_ids=[str(ids["a"]), str(ids["b"])])
    with tenant_context(tenant):
        # the venue moved: it is back in the ministry's review
        db.session.get(Venue, (tenant.id, ids["b"])).status = VenueStatus.SUBMITTED
        db.session.commit()
    response = client.post(_url(tenant, f"/{campaign.id}/publish"))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "The venue Klinik B is not approved yet" in html
    assert 'class="error-summary"' in html
    assert _campaign(tenant).status == CampaignStatus.DRAFT


def test_publish_refused_while_the_organisation_is_not_active(
    app, client, create_tenant, create_user, login
):
    tenant = create_tenant(status=TenantStatus.PENDING)
    login(client, create_user(tenant=tenant, role=Role.OWNER))
    with tenant_context(tenant):
        ids = {"a": make_venue("A").id, "product": short_interval_product().id}
        db.session.commit()
    campaign = _create(client, tenant, ids)
    response = client.post(_url(tenant, f"/{campaign.id}/publish"))
    assert response.status_code == 409
    assert "not active yet" in response.get_data(as_text=True)


def test_publish_then_close(org, client):
    tenant, ids = org
    campaign = _create(client, tenant, ids)
    assert client.post(_url(tenant, f"/{campaign.id}/publish")).status_code == 302
    assert _campaign(tenant).status == CampaignStatus.PUBLISHED
    # a published campaign's settings are fixed
    response = client.post(_url(tenant, f"/{campaign.id}/edit"), data=_form(ids, name="New"))
    assert response.status_code == 409 and "Only a draft" in response.get_data(as_text=True)
    assert client.post(_url(tenant, f"/{campaign.id}/close")).status_code == 302
    assert _campaign(tenant).status == CampaignStatus.CLOSED
    response = client.post(_url(tenant, f"/{campaign.id}/close"))
    assert response.status_code == 409


def test_another_tenants_campaign_and_slot_answer_404(app, client, create_user, login, org):
    tenant, ids = org
    other, world = scoped_world(venues=1, days=1)
    with tenant_context(other):
        foreign_campaign = world.campaign.id
        foreign_slot = world.slots()[0].id
        db.session.rollback()
    mine = _create(client, tenant, ids)
    for path in ("", "/edit", "/slots"):
        assert client.get(_url(tenant, f"/{foreign_campaign}{path}")).status_code == 404, path
    for path in ("/generate", "/publish", "/close", "/edit"):
        assert client.post(_url(tenant, f"/{foreign_campaign}{path}")).status_code == 404, path
    # another tenant's slot under my campaign
    response = client.post(_url(tenant, f"/{mine.id}/slots/{foreign_slot}"), data={"capacity": "0"})
    assert response.status_code == 404
    with tenant_context(other):
        assert db.session.scalar(sa.select(Slot.capacity).where(Slot.id == foreign_slot)) == 2
        db.session.rollback()


def test_checkin_staff_cannot_open_campaigns(org, client, create_user, login):
    tenant, ids = org
    campaign = _create(client, tenant, ids)
    login(client, create_user(tenant=tenant, role=Role.CHECKIN))
    assert client.get(_url(tenant)).status_code == 403
    assert client.post(_url(tenant, "/new"), data=_form(ids, slug="other")).status_code == 403
    assert client.post(_url(tenant, f"/{campaign.id}/publish")).status_code == 403
    assert _campaign(tenant).status == CampaignStatus.DRAFT


def test_stock_received_shows_up_as_doses_free(app, client, create_user, login):
    tenant, world = scoped_world(venues=1, doses=None, days=1)
    login(client, create_user(tenant=tenant, role=Role.COORDINATOR))
    with tenant_context(tenant):
        campaign_id, venue_id = world.campaign.id, world.venues[0].id
        product_id = world.product.id
        db.session.rollback()
    html = client.get(_url(tenant, f"/{campaign_id}")).get_data(as_text=True)
    assert re.search(r'class="num doses-free">0</td>', html)
    with tenant_context(tenant):
        receive_lot(venue_id, product_id, "L", FAR_EXPIRY, doses=7, today=TODAY)
        db.session.commit()
    html = client.get(_url(tenant, f"/{campaign_id}")).get_data(as_text=True)
    assert re.search(r'class="num doses-free">7</td>', html)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # layout: one database is enough
def test_stock_and_campaign_pages_fit_a_360px_phone(app, client, create_user, login, backend):
    """Rendered in Chromium at 360 px wide, no page scrolls sideways and the counters that
    matter (free doses, can book) are on screen, not in a scrolled-off column."""
    from pathlib import Path

    from tests.conftest import unavailable
    from tests.e2e.conftest import CHROMIUM

    if not Path(CHROMIUM).exists():
        unavailable("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        unavailable("playwright", str(exc))
    tenant, world = scoped_world(venues=2, doses=30, days=2)
    login(client, create_user(tenant=tenant, role=Role.OWNER))
    with tenant_context(tenant):
        campaign_id, venue_id = world.campaign.id, world.venues[0].id
        lot_id = db.session.scalar(sa.select(Lot.id))
        db.session.rollback()
    base = f"/o/{tenant.slug}"
    pages = [
        f"{base}/stock",
        f"{base}/stock/receive",
        f"{base}/stock/lots/{lot_id}",
        f"{base}/stock/products",
        f"{base}/campaigns",
        f"{base}/campaigns/new",
        f"{base}/campaigns/{campaign_id}",
        f"{base}/campaigns/{campaign_id}/edit",
        f"{base}/campaigns/{campaign_id}/slots?venue_id={venue_id}&day={START.isoformat()}",
    ]
    css = (Path(app.root_path) / "static" / "sentra.css").read_text()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 360, "height": 740})
        for url in pages:
            html = client.get(url).get_data(as_text=True)
            page.set_content(re.sub(r'<link rel="stylesheet"[^>]*>', f"<style>{css}</style>", html))
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, url
            for selector in ("td.free", "td.bookable"):
                for box in (cell.bounding_box() for cell in page.query_selector_all(selector)):
                    assert box["x"] + box["width"] <= 360, (url, selector)
        browser.close()
