"""The on-site desks through HTTP (CSRF on), on both databases: a booked person
checked in by voucher code, screened, vaccinated from a chosen lot, observed; the
board and its live fragment; a walk-in; the lookup; closing the day."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import AuditEntry
from core.models import Role
from core.tenancy import tenant_context
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.models import Person
from tenants.booking.services import book_slot
from tenants.onsite import clock
from tenants.onsite.models import AdverseEvent
from tenants.onsite.models import CheckIn
from tenants.onsite.models import DayClose
from tenants.onsite.models import Screening
from tenants.stock.models import Lot
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import make_person
from tests.tenants.ledger_support import make_tenant

AT_0830 = dt.datetime(2030, 1, 7, 1, 30, tzinfo=dt.UTC)
EVENING = dt.datetime(2030, 1, 7, 10, tzinfo=dt.UTC)


@pytest.fixture
def site(app, client, create_user, login, monkeypatch):
    """A tenant's world, a signed-in check-in member at the desk of venue 1 on day one,
    and the desks' clock at 08:30 that day."""
    tenant = make_tenant()
    user = create_user(tenant=tenant, role=Role.CHECKIN, name="Desk Staff", locale="en")
    with tenant_context(tenant):
        world = build_world(venues=1, stations=2, doses=10)
        person = make_person("Dewi Anggraini")
        slot = world.slots(world.venues[0])[0]
        booking = book_slot(world.campaign_in_session(), slot.id, person.id, now=BEFORE)
        db.session.commit()
        world.booking_id, world.code, world.nik = booking.id, booking.voucher_code, person.nik
        venue_id = world.venues[0].id
    monkeypatch.setattr(clock, "now", lambda: AT_0830)
    login(client, user)
    base = f"/o/{tenant.slug}"
    response = client.post(
        f"{base}/checkin/desk", data={"venue_id": str(venue_id), "day": "2030-01-07"}
    )
    assert response.status_code == 302
    world.base, world.user = base, user
    with tenant_context(tenant):
        yield world


def _nonce(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


def test_a_booked_person_goes_through_every_desk(site, client):
    base = site.base
    page = client.get(f"{base}/checkin")
    assert page.status_code == 200 and 'id="code-form"' in page.text
    found = client.post(f"{base}/checkin/find", data={"code": site.code.lower()})
    assert found.status_code == 302
    person = client.get(found.location)
    assert "Dewi Anggraini" in person.text
    assert site.nik[-4:] in person.text and site.nik not in person.text  # masked
    # the KTP must be confirmed
    missing = client.post(found.location, data={"nonce": _nonce(person.text)})
    assert missing.status_code == 422
    nonce = _nonce(person.text)
    done = client.post(found.location, data={"nonce": nonce, "ktp": "yes"})
    assert done.status_code == 302 and done.location.endswith("/screening")
    again = client.post(found.location, data={"nonce": nonce, "ktp": "yes"})  # a retry
    assert again.status_code == 302
    other = client.post(found.location, data={"nonce": "another-nonce-1", "ktp": "yes"})
    assert other.status_code == 409 and "Already checked in at 08:30" in other.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckIn)) == 1

    queue = client.get(f"{base}/desk")
    assert "Dewi Anggraini" in queue.text
    screening = client.get(done.location)
    assert screening.status_code == 200 and "q-fever" in screening.text
    refused = client.post(done.location, data={"q-fever": "yes", "outcome": "vaccinate"})
    assert refused.status_code == 409  # a deferring "yes" needs a note
    screened = client.post(done.location, data={"q-fever": "no", "outcome": "vaccinate"})
    assert screened.status_code == 302 and screened.location.endswith("/vaccination")
    assert db.session.scalar(sa.select(Screening.outcome)).value == "vaccinate"

    vaccination = client.get(screened.location)
    lot = db.session.scalar(sa.select(Lot))
    assert lot.batch_number in vaccination.text
    given = client.post(
        screened.location,
        data={
            "lot_id": str(lot.id),
            "vaccinator_id": str(site.user.id),
            "administered_at": "08:30",
        },
    )
    assert given.status_code == 302 and given.location.endswith("/observation")
    booking = db.session.get(Booking, (site.tenant.id, site.booking_id), populate_existing=True)
    assert booking.status == BookingStatus.VACCINATED
    administration = db.session.scalar(sa.select(Administration))
    assert administration.lot_id == lot.id and administration.vaccinator_id == site.user.id
    board = client.get(f"{base}/venues/{site.venues[0].id}/today/live")
    assert "4 doses are left in open vials" in board.text  # a vial of 5, one given
    follow = client.get(given.location)
    assert "Dose recorded. Observe until 09:00." in follow.text  # the flash
    assert "30 min left" in follow.text
    event = client.post(
        f"{base}/administrations/{administration.id}/adverse-events",
        data={"severity": "mild", "description": "pusing ringan", "observed_at": "08:30"},
    )
    assert event.status_code == 302
    assert db.session.scalar(sa.select(AdverseEvent.description)) == "pusing ringan"
    # voiding is an admin's: check-in staff are refused
    assert (
        client.post(f"{base}/administrations/{administration.id}/void", data={"reason": "x" * 5})
    ).status_code == 403


def test_board_shows_the_day_and_its_fragment_refreshes(site, client):
    url = f"{site.base}/venues/{site.venues[0].id}/today"
    page = client.get(url)
    assert page.status_code == 200 and 'data-live="' in page.text and "board.js" in page.text
    live = client.get(url + "/live")
    assert live.status_code == 200 and "<html" not in live.text and 'id="board-slots"' in live.text
    data = client.get(url + "/live", headers={"Accept": "application/json"}).get_json()
    assert data["totals"]["booked"] == 1 and data["day"] == "2030-01-07"
    assert data["walk_in_places"] == 2  # the campaign's allowance, none used yet
    assert data["stock"] == [
        {"product": site.product.name, "on_hand": 10, "promised": 1, "free": 9}
    ]


def test_lookup_by_name_is_audited(site, client):
    page = client.post(f"{site.base}/checkin/lookup", data={"q": "anggraini"})
    assert page.status_code == 200 and "Dewi Anggraini" in page.text
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "onsite.checkin.lookup")
        )
        == 1
    )


def test_walk_in_at_the_desk(site, client):
    form = {
        "campaign_id": str(site.campaign.id),
        "full_name": "Rudi Hartono",
        "nik": "3171010505850009",
        "date_of_birth": "1985-05-05",
        "sex": "male",
        "phone": "0812 3456 7890",
        "address": "Jl. Melati 3, Jakarta",
        "consent": "yes",
        "dose_number": "1",
    }
    # the booking page's rules: a NIK of 16 digits, consent, ...
    unticked = {k: v for k, v in form.items() if k != "consent"}
    bad = client.post(f"{site.base}/walk-in", data={**unticked, "nik": "123"})
    assert bad.status_code == 422 and "A NIK has 16 digits" in bad.text
    assert "agree to the processing" in bad.text
    # ... and a birth date the NIK contradicts is a warning to confirm
    odd = client.post(f"{site.base}/walk-in", data={**form, "date_of_birth": "1985-06-05"})
    assert odd.status_code == 422 and 'name="confirm_mismatch"' in odd.text
    done = client.post(f"{site.base}/walk-in", data=form)
    assert done.status_code == 302 and done.location.endswith("/screening")
    walk_in = db.session.scalar(sa.select(Booking).where(Booking.slot_id.is_(None)))
    assert walk_in.status == BookingStatus.ARRIVED
    person = db.session.get(Person, (site.tenant.id, walk_in.person_id))
    assert person.phone == "+6281234567890" and person.consent_at == AT_0830


def test_closing_the_day_needs_a_coordinator_and_happens_once(
    site, client, create_user, login, monkeypatch
):
    url = f"{site.base}/venues/{site.venues[0].id}/today/close"
    assert client.get(url).status_code == 403
    coordinator = create_user(tenant=site.tenant, role=Role.COORDINATOR, locale="en")
    login(client, coordinator)
    monkeypatch.setattr(clock, "now", lambda: EVENING)
    assert client.get(url).status_code == 200
    first = client.post(url, data={"day": START.isoformat()})
    assert first.status_code == 302
    second = client.post(url, data={"day": START.isoformat()})
    assert second.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DayClose)) == 1
    booking = db.session.get(Booking, (site.tenant.id, site.booking_id), populate_existing=True)
    assert booking.status == BookingStatus.NO_SHOW
    summary = client.get(url)
    assert "Day summary" in summary.text


def test_screening_questions_are_seeded_and_editable(site, client, create_user, login):
    coordinator = create_user(tenant=site.tenant, role=Role.COORDINATOR, locale="en")
    login(client, coordinator)
    page = client.get(f"{site.base}/screening-questions")
    assert page.status_code == 200 and "37,5" in page.text
    added = client.post(
        f"{site.base}/screening-questions",
        data={
            "key": "flu_shot",
            "text": "Vaksin influenza dalam 14 hari?",
            "effect": "defer",
            "position": "50",
            "active": "yes",
        },
    )
    assert added.status_code == 302
    assert "Vaksin influenza" in client.get(f"{site.base}/screening-questions").text


def test_an_admin_voids_a_dose_from_the_days_list(site, client, create_user, login):
    from tenants.booking.transaction import run_in_transaction
    from tenants.onsite.models import ScreeningOutcome
    from tenants.onsite.services.checkin import check_in
    from tenants.onsite.services.screening import record_screening
    from tenants.onsite.services.vaccination import record_dose

    venue_id, lot = site.venues[0].id, db.session.scalar(sa.select(Lot))
    staff = db.session.merge(site.user)
    run_in_transaction(lambda: check_in(site.booking_id, venue_id, START, actor=staff, now=AT_0830))
    run_in_transaction(
        lambda: record_screening(site.booking_id, set(), ScreeningOutcome.VACCINATE, now=AT_0830)
    )
    result = run_in_transaction(
        lambda: record_dose(
            site.booking_id,
            lot.id,
            vaccinator_id=staff.id,
            administered_at=AT_0830,
            actor=staff,
            now=AT_0830,
        )
    )
    administration_id = result.ledger.administration.id
    listed = client.get(f"{site.base}/doses")  # check-in staff see the list, no void form
    assert "Dewi Anggraini" in listed.text and "/void" not in listed.text
    admin = create_user(tenant=site.tenant, role=Role.ADMIN, locale="en")
    login(client, admin)
    client.post(f"{site.base}/checkin/desk", data={"venue_id": str(venue_id), "day": "2030-01-07"})
    assert f"/administrations/{administration_id}/void" in client.get(f"{site.base}/doses").text
    voided = client.post(
        f"{site.base}/administrations/{administration_id}/void", data={"reason": "orang lain"}
    )
    assert voided.status_code == 302 and voided.location.endswith("/vaccination")
    record = db.session.get(Administration, (site.tenant.id, administration_id))
    db.session.refresh(record)
    assert record.voided_at is not None and record.void_reason == "orang lain"
    booking = db.session.get(Booking, (site.tenant.id, site.booking_id), populate_existing=True)
    assert booking.status == BookingStatus.ARRIVED
    assert db.session.scalar(sa.select(Lot.on_hand).where(Lot.id == lot.id)) == 10
    assert "voided" in client.get(f"{site.base}/doses").text
