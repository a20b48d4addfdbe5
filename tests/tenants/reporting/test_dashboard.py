"""The campaign dashboard: its numbers from SQL aggregates, its chart and tables."""

from __future__ import annotations

import datetime as dt

import pytest

from core.models import Role
from core.tenancy import tenant_context
from tenants.reporting.charts import bar_chart
from tenants.reporting.queries import campaign_dashboard
from tests.tenants.reporting.support import dataset_for


@pytest.fixture
def data(app, create_tenant, create_user):
    tenant = create_tenant()
    owner = create_user(tenant=tenant, role=Role.COORDINATOR)
    return tenant, owner, dataset_for(tenant, owner)


def test_numbers_per_campaign_and_venue(data):
    tenant, _, dataset = data
    with tenant_context(tenant):
        campaign = dataset.world.campaign_in_session()
        board = campaign_dashboard(campaign)
        one = campaign_dashboard(campaign, dataset.world.venues[0])
    day_one = dt.date(2030, 1, 7)
    # venue 1: Siti (vaccinated), Budi (no-show), Andi (walk-in); venue 2: four guests;
    # Siti's second dose two days later
    first = board.days[0]
    assert (first.day, first.booked, first.walk_ins, first.no_shows, first.vaccinated) == (
        day_one,
        7,
        1,
        1,
        1,
    )
    assert [(d.day, d.booked) for d in board.days[1:]] == [(dt.date(2030, 1, 9), 1)]
    assert (board.bookings, board.walk_ins, board.no_shows, board.waitlist) == (8, 1, 1, 1)
    assert board.show_up_rate == 0.5  # Siti came, Budi did not; walk-ins do not count
    v1, v2 = board.venues
    # 10 received, Siti's dose given; the voided one is back; Siti's 2nd dose and
    # Andi's (arrived again after the void) promised
    assert (v1.venue_name, v1.administered, v1.on_hand, v1.promised, v1.waitlist) == (
        "Venue 1",
        1,
        9,
        2,
        0,
    )
    assert (v2.administered, v2.on_hand, v2.promised, v2.waitlist) == (0, 10, 4, 1)
    assert board.expiring == []  # the lots expire in 2031
    assert [v.venue_name for v in one.venues] == ["Venue 1"] and one.waitlist == 0
    assert one.days[0].booked == 3


def test_the_page_shows_each_chart_with_its_table(data, client, login):
    tenant, coordinator, dataset = data
    with tenant_context(tenant):
        campaign_id, venue = dataset.world.campaign.id, dataset.world.venues[1].id
    login(client, coordinator)
    page = client.get(f"/o/{tenant.slug}/reports/campaigns/{campaign_id}")
    assert page.status_code == 200
    html = page.data.decode()
    assert html.count("<svg") == 2 and 'role="img"' in html
    assert '<table id="days">' in html and '<th scope="row">2030-01-07</th>' in html
    assert "style=" not in html and "<script" not in html.split("</header>")[-1]
    venue = dataset.world.venues[1].id
    page = client.get(
        f"/o/{tenant.slug}/reports/campaigns/{dataset.world.campaign.id}?venue={venue}"
    )
    assert page.status_code == 200 and "Venue 1" not in page.data.decode().split("<h1>")[1]


def test_bar_chart_escapes_labels_and_scales_to_the_largest_value():
    svg = str(bar_chart([("<b>", 3), ("x", 12)], title="T & t"))
    assert "&lt;b&gt;" in svg and "<b>" not in svg and "T &amp; t" in svg
    assert svg.count("<rect") == 2 and ">15</text>" in svg  # gridlines up to a round 15
    assert "<rect" not in str(bar_chart([], title="empty"))
