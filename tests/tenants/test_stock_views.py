"""The console's stock pages: receiving, transfers, waste, vaccines, and what they show."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.extensions import db
from core.models import Role
from core.tenancy import tenant_context
from tenants.booking.services import book_slot
from tenants.stock.models import Lot
from tenants.stock.models import MovementKind
from tenants.stock.models import Product
from tenants.stock.models import Stock
from tenants.stock.models import StockMovement
from tenants.stock.services import receive_lot
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import assert_consistent
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_venue
from tests.tenants.ledger_support import short_interval_product

SOON = dt.date.today() + dt.timedelta(days=10)
LATE = dt.date.today() + dt.timedelta(days=300)


@pytest.fixture
def org(app, create_tenant, create_user, login, client):
    """A tenant with two venues and one product, and its coordinator signed in."""
    tenant = create_tenant()
    user = create_user(tenant=tenant, role=Role.COORDINATOR)
    with tenant_context(tenant):
        a, b = make_venue("Puskesmas A"), make_venue("Klinik B")
        product = short_interval_product()
        db.session.commit()
        ids = {"a": a.id, "b": b.id, "product": product.id}
    login(client, user)
    return tenant, user, ids


def _url(tenant, path=""):
    return f"/o/{tenant.slug}/stock{path}"


def _receive(tenant, ids, venue="a", **fields):
    with tenant_context(tenant):
        lot = receive_lot(ids[venue], ids["product"], "B-1", LATE, **(fields or {"doses": 50}))
        db.session.commit()
        return lot.id


def _counters(tenant, venue_id, product_id):
    with tenant_context(tenant):
        row = db.session.execute(
            sa.select(Stock.on_hand, Stock.promised).where(
                Stock.venue_id == venue_id, Stock.product_id == product_id
            )
        ).first()
        db.session.rollback()
    return tuple(row) if row else (0, 0)


def _shown(html: str, venue_id, product_id) -> tuple[int, int, int, str]:
    """(on hand, promised, free, days) as the stock table shows them for a venue/product."""
    row = re.search(
        rf'<tr data-venue="{venue_id}" data-product="{product_id}">(.*?)</tr>', html, re.S
    )
    assert row, "the venue/product row is missing"
    cells = dict(re.findall(r'class="num ([a-z-]+)">(.*?)</td>', row.group(1), re.S))
    days = re.sub(r"<[^>]+>", "", cells["days"]).strip()
    return int(cells["on-hand"]), int(cells["promised"]), int(cells["free"]), days


def test_receive_a_lot_in_doses_and_in_vials(org, client):
    tenant, _, ids = org
    response = client.post(
        _url(tenant, "/receive"),
        data={
            "venue_id": ids["a"],
            "product_id": ids["product"],
            "batch_number": " FLU-2031 ",
            "expiry_date": LATE.isoformat(),
            "doses": "40",
        },
    )
    assert response.status_code == 302
    # the test product has 5 doses per vial
    response = client.post(
        _url(tenant, "/receive"),
        data={
            "venue_id": ids["a"],
            "product_id": ids["product"],
            "batch_number": "FLU-2032",
            "expiry_date": LATE.isoformat(),
            "vials": "3",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        lots = {lot.batch_number: lot.on_hand for lot in db.session.scalars(sa.select(Lot)).all()}
        db.session.rollback()
    assert lots == {"FLU-2031": 40, "FLU-2032": 15}
    assert _counters(tenant, ids["a"], ids["product"]) == (55, 0)
    page = client.get(_url(tenant)).get_data(as_text=True)
    assert _shown(page, ids["a"], ids["product"]) == (55, 0, 55, "—")


def test_receive_form_errors_keep_values_and_link_to_fields(org, client):
    tenant, _, ids = org
    response = client.post(
        _url(tenant, "/receive"),
        data={"venue_id": ids["a"], "batch_number": "KEEP-ME", "expiry_date": "31/12/2031"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="error-summary"' in html
    for field in ("product_id", "expiry_date", "doses"):
        assert f'href="#{field}"' in html
        assert f'id="{field}-error"' in html
    assert 'value="KEEP-ME"' in html
    assert f'<option value="{ids["a"]}" selected>' in html
    # both doses and vials
    response = client.post(
        _url(tenant, "/receive"),
        data={
            "venue_id": ids["a"],
            "product_id": ids["product"],
            "batch_number": "X",
            "expiry_date": LATE.isoformat(),
            "doses": "5",
            "vials": "1",
        },
    )
    assert response.status_code == 422
    assert "not both" in response.get_data(as_text=True)
    assert _counters(tenant, ids["a"], ids["product"]) == (0, 0)


def test_receive_refused_by_the_service_shows_its_reason(org, client):
    tenant, _, ids = org
    response = client.post(
        _url(tenant, "/receive"),
        data={
            "venue_id": ids["a"],
            "product_id": ids["product"],
            "batch_number": "OLD",
            "expiry_date": dt.date.today().isoformat(),
            "doses": "5",
        },
    )
    assert response.status_code == 409
    assert "already expired" in response.get_data(as_text=True)
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Lot)) == 0
        db.session.rollback()


def test_transfer_moves_doses_and_the_page_matches_the_ledger(org, client):
    tenant, _, ids = org
    lot_id = _receive(tenant, ids, doses=30)
    response = client.post(
        _url(tenant, f"/lots/{lot_id}/transfer"),
        data={"to_venue_id": ids["b"], "doses": "12", "reason": "Weekend drive"},
    )
    assert response.status_code == 302
    assert _counters(tenant, ids["a"], ids["product"]) == (18, 0)
    assert _counters(tenant, ids["b"], ids["product"]) == (12, 0)
    page = client.get(_url(tenant)).get_data(as_text=True)
    assert _shown(page, ids["a"], ids["product"])[:3] == (18, 0, 18)
    assert _shown(page, ids["b"], ids["product"])[:3] == (12, 0, 12)
    detail = client.get(_url(tenant, f"/lots/{lot_id}")).get_data(as_text=True)
    assert "Weekend drive" in detail and "-12" in detail
    with tenant_context(tenant):
        assert_consistent()
        db.session.rollback()


def test_transfer_validation_and_promised_doses(org, client):
    tenant, _, ids = org
    lot_id = _receive(tenant, ids, doses=30)
    response = client.post(_url(tenant, f"/lots/{lot_id}/transfer"), data={"doses": "0"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'href="#transfer-to_venue_id"' in html and 'href="#transfer-doses"' in html
    assert 'id="transfer-doses" name="doses" type="number" value="0"' in html
    # more than the lot holds: the service's reason is shown, nothing moves
    response = client.post(
        _url(tenant, f"/lots/{lot_id}/transfer"), data={"to_venue_id": ids["b"], "doses": "31"}
    )
    assert response.status_code == 409
    assert _counters(tenant, ids["a"], ids["product"]) == (30, 0)


def test_promised_doses_cannot_be_transferred_or_wasted(app, client, create_user, login):
    from tests.tenants.ledger_support import scoped_world

    tenant, world = scoped_world(venues=1, doses=2, days=1)
    login(client, create_user(tenant=tenant, role=Role.COORDINATOR))
    with tenant_context(tenant):
        second = make_venue("Other")
        campaign = world.campaign_in_session()
        for _ in range(2):
            book_slot(campaign, world.slots()[0].id, make_person().id, now=BEFORE)
        lot_id = db.session.scalar(sa.select(Lot.id))
        venue_id, product_id, second_id = world.venues[0].id, world.product.id, second.id
        db.session.commit()
    response = client.post(
        _url(tenant, f"/lots/{lot_id}/transfer"), data={"to_venue_id": second_id, "doses": "1"}
    )
    assert response.status_code == 409
    assert "promised to booked people" in response.get_data(as_text=True)
    response = client.post(
        _url(tenant, f"/lots/{lot_id}/waste"), data={"doses": "1", "reason": "damaged"}
    )
    assert response.status_code == 409
    assert "promised to booked people" in response.get_data(as_text=True)
    assert _counters(tenant, venue_id, product_id) == (2, 2)
    page = client.get(_url(tenant)).get_data(as_text=True)
    assert _shown(page, venue_id, product_id)[:3] == (2, 2, 0)


def test_waste_is_recorded_with_its_reason(org, client):
    tenant, _, ids = org
    lot_id = _receive(tenant, ids, doses=20)
    response = client.post(
        _url(tenant, f"/lots/{lot_id}/waste"),
        data={"doses": "3", "reason": "other", "note": "Dropped on the floor"},
    )
    assert response.status_code == 302
    assert _counters(tenant, ids["a"], ids["product"]) == (17, 0)
    with tenant_context(tenant):
        movement = db.session.scalar(
            sa.select(StockMovement).where(StockMovement.kind == MovementKind.WASTED)
        )
        assert (movement.delta, movement.reason) == (
            -3,
            "Other (say what happened): Dropped on the floor",
        )
        assert_consistent()
        db.session.rollback()
    page = client.get(_url(tenant)).get_data(as_text=True)
    assert _shown(page, ids["a"], ids["product"])[:3] == (17, 0, 17)


def test_waste_form_errors(org, client):
    tenant, _, ids = org
    lot_id = _receive(tenant, ids, doses=20)
    response = client.post(_url(tenant, f"/lots/{lot_id}/waste"), data={"doses": "x"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'href="#waste-doses"' in html and 'href="#waste-reason"' in html
    response = client.post(
        _url(tenant, f"/lots/{lot_id}/waste"), data={"doses": "2", "reason": "other"}
    )
    assert response.status_code == 422
    assert 'href="#waste-note"' in response.get_data(as_text=True)
    assert _counters(tenant, ids["a"], ids["product"]) == (20, 0)


def test_days_of_stock_and_lots_near_expiry(org, client):
    tenant, _, ids = org
    with tenant_context(tenant):
        near = receive_lot(ids["a"], ids["product"], "NEAR", SOON, doses=10)
        receive_lot(ids["a"], ids["product"], "FAR", LATE, doses=46)
        # 28 doses given over the last 14 days (2 a day), and an old one outside the window
        for days_ago in range(14):
            for _ in range(2):
                db.session.add(
                    StockMovement(
                        lot_id=near.id,
                        kind=MovementKind.ADMINISTERED,
                        delta=-1,
                        at=utcnow() - dt.timedelta(days=days_ago, hours=1),
                    )
                )
        db.session.add(
            StockMovement(
                lot_id=near.id,
                kind=MovementKind.ADMINISTERED,
                delta=-5,
                at=utcnow() - dt.timedelta(days=20),
            )
        )
        db.session.commit()
    html = client.get(_url(tenant)).get_data(as_text=True)
    assert _shown(html, ids["a"], ids["product"]) == (56, 0, 56, "28")
    near_row = re.search(r'<tr class="lot-near-expiry">(.*?)</tr>', html, re.S).group(1)
    assert "NEAR" in near_row and "FAR" not in near_row
    assert html.count('class="lot-near-expiry"') == 1


def test_add_own_product_and_its_errors(org, client):
    tenant = org[0]
    response = client.post(
        _url(tenant, "/products/new"),
        data={
            "name": "Influvac Tetra",
            "manufacturer": "Abbott",
            "doses_in_series": "1",
            "doses_per_vial": "1",
            "min_age_years": "3",
        },
    )
    assert response.status_code == 302
    response = client.post(
        _url(tenant, "/products/new"),
        data={
            "name": "Gardasil",
            "manufacturer": "MSD",
            "doses_in_series": "2",
            "doses_per_vial": "1",
            "min_age_years": "20",
            "max_age_years": "9",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'href="#interval_days"' in html and 'href="#max_age_years"' in html
    assert 'value="Gardasil"' in html
    with tenant_context(tenant):
        names = set(
            db.session.scalars(sa.select(Product.name).where(Product.owner_tenant_id == tenant.id))
        )
        db.session.rollback()
    assert "Influvac Tetra" in names and "Gardasil" not in names
    assert "Influvac Tetra" in client.get(_url(tenant, "/products")).get_data(as_text=True)


def test_checkin_staff_see_stock_but_cannot_change_it(org, app, create_user, login, client):
    tenant, _, ids = org
    lot_id = _receive(tenant, ids, doses=10)
    login(client, create_user(tenant=tenant, role=Role.CHECKIN))
    assert client.get(_url(tenant)).status_code == 200
    assert client.get(_url(tenant, f"/lots/{lot_id}")).status_code == 200
    page = client.get(_url(tenant, f"/lots/{lot_id}")).get_data(as_text=True)
    assert "Record waste" not in page
    posts = {
        "/receive": {
            "venue_id": ids["a"],
            "product_id": ids["product"],
            "batch_number": "X",
            "expiry_date": LATE.isoformat(),
            "doses": "5",
        },
        f"/lots/{lot_id}/transfer": {"to_venue_id": ids["b"], "doses": "1"},
        f"/lots/{lot_id}/waste": {"doses": "1", "reason": "damaged"},
        "/products/new": {
            "name": "Flu",
            "manufacturer": "X",
            "doses_in_series": "1",
            "doses_per_vial": "1",
        },
    }
    for path, data in posts.items():
        assert client.post(_url(tenant, path), data=data).status_code == 403, path
    assert _counters(tenant, ids["a"], ids["product"]) == (10, 0)


def test_another_tenants_lot_answers_404(org, client, create_tenant):
    tenant, _, ids = org
    other = create_tenant()
    with tenant_context(other):
        venue = make_venue("Elsewhere")
        product = short_interval_product()
        foreign = receive_lot(venue.id, product.id, "THEIRS", LATE, doses=9).id
        db.session.commit()
    assert client.get(_url(tenant, f"/lots/{foreign}")).status_code == 404
    assert client.get(_url(tenant, "/lots/not-a-uuid")).status_code == 404
    response = client.post(
        _url(tenant, f"/lots/{foreign}/waste"), data={"doses": "1", "reason": "damaged"}
    )
    assert response.status_code == 404
    response = client.post(
        _url(tenant, f"/lots/{foreign}/transfer"), data={"to_venue_id": ids["b"], "doses": "1"}
    )
    assert response.status_code == 404
    with tenant_context(other):
        assert db.session.scalar(sa.select(Lot.on_hand).where(Lot.id == foreign)) == 9
        db.session.rollback()
