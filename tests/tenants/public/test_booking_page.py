"""The public booking page through the test client, as a phone without JavaScript
would use it: every step, every refusal, the protections, and tenant isolation."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.extensions import limiter
from core.models import TenantStatus
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.booking.models import Person
from tenants.booking.models import WaitlistEntry
from tenants.booking.services import BookingError
from tenants.booking.services import book_slot
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot
from tenants.campaigns.services import close_campaign
from tenants.public.schemas import PRIVACY_NOTICE_VERSION
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import make_person
from tests.tenants.public.support import NIK
from tests.tenants.public.support import PERSON
from tests.tenants.public.support import base
from tests.tenants.public.support import book
from tests.tenants.public.support import choose_slot
from tests.tenants.public.support import fill_details
from tests.tenants.public.support import public_world
from tests.tenants.roster.support import employee_world

DAY = "2030-01-07"


@pytest.fixture(autouse=True)
def fresh_limits():
    yield
    if limiter.enabled:
        limiter.reset()


@pytest.fixture
def quick(app_config):
    """No minimum fill time (tests fill forms faster than people)."""
    app_config["PUBLIC_BOOKING_MIN_FILL_SECONDS"] = 0
    return app_config


@pytest.fixture
def english(client):
    client.set_cookie("lang", "en")  # the assertions read English
    return client


def _text(response) -> str:
    return response.get_data(as_text=True)


def _new_visitor(client) -> None:
    """Another person on the same test client: a fresh session (the language kept)."""
    client.delete_cookie("sentra")


def _bookings(tenant) -> list:
    """The tenant's bookings as plain rows (id, slot_id, person_id, voucher_code)."""
    with tenant_context(tenant):
        rows = db.session.execute(
            sa.select(Booking.id, Booking.slot_id, Booking.person_id, Booking.voucher_code)
        ).all()
        db.session.rollback()
    return rows


def _slot_booked(tenant, slot_id) -> int:
    with tenant_context(tenant):
        n = db.session.scalar(sa.select(Slot.booked).where(Slot.id == slot_id))
        db.session.rollback()
    return n


# --- the whole flow -------------------------------------------------------------------


def test_the_whole_flow_books_without_javascript(quick, app, english):
    client = english
    tenant, world = public_world()
    listing = _text(client.get(f"/b/{world.tenant_slug}"))
    assert "Test campaign" in listing and f'href="{base(world)}"' in listing
    venues = _text(client.get(base(world)))
    assert "Jl. Test 1" in venues and "Monday: 08:00\u201310:00" in venues
    assert "places left" in venues and 'id="campaign-full"' not in venues
    venue_url = f"{base(world)}/venue/{world.venue_ids[0]}"
    assert venue_url in venues
    days = _text(client.get(venue_url))
    assert f'id="day-{DAY}"' in days and "places left" in days
    slots = _text(client.get(f"{venue_url}/{DAY}"))
    assert f'value="{world.slot_ids[0]}"' in slots and "08:00\u201309:00" in slots

    choose_slot(client, world)
    review = fill_details(client, world)
    assert review.headers["Location"].endswith("/review")
    page = _text(client.get(f"{base(world)}/review"))
    assert "3171********0001" in page and NIK not in page
    assert "Siti Aminah" in page and "+6281234567890" in page

    done = client.post(f"{base(world)}/confirm")
    assert done.status_code == 302 and done.headers["Location"].endswith("/done")
    confirmation = _text(client.get(done.headers["Location"]))
    assert "Your booking is confirmed" in confirmation
    (booking,) = _bookings(tenant)
    assert booking.slot_id == world.slot_ids[0]
    assert f'id="voucher-code">{booking.voucher_code}<' in confirmation
    if "vouchers.voucher" in app.view_functions:  # the vouchers package (issue 5) links it
        assert 'id="voucher-link" href="/v/' in confirmation
    assert NIK not in confirmation
    assert _slot_booked(tenant, world.slot_ids[0]) == 1
    with tenant_context(tenant):
        person = db.session.get(Person, (tenant.id, booking.person_id))
        assert (person.nik, person.phone, person.email) == (NIK, "+6281234567890", PERSON["email"])
        assert person.address == PERSON["address"] and person.occupation == "Guru"
        assert person.address_encrypted and PERSON["address"] not in person.address_encrypted
        assert person.locale == "en" and person.consent_at is not None
        assert person.privacy_notice_version == PRIVACY_NOTICE_VERSION
        db.session.rollback()
    # the draft is gone: confirming again does not book twice
    again = client.post(f"{base(world)}/confirm")
    assert again.status_code == 302 and again.headers["Location"].endswith("/details")
    assert len(_bookings(tenant)) == 1


def test_indonesian_is_the_default_and_the_switch_is_on_every_page(
    quick, app, client, indonesian_by_default
):
    _tenant, world = public_world()
    page = _text(client.get(base(world)))
    assert '<html lang="id">' in page
    assert 'href="?lang=en"' in page and 'href="?lang=id"' in page
    switched = client.get(base(world) + "?lang=en")
    assert '<html lang="en">' in _text(switched)
    assert "lang=en" in switched.headers["Set-Cookie"]
    assert '<html lang="en">' in _text(client.get(f"/b/{world.tenant_slug}"))


# --- personal data ----------------------------------------------------------------------


def test_every_validation_message_links_to_its_field(quick, app, english):
    client = english
    _tenant, world = public_world()
    choose_slot(client, world)
    blank = fill_details(client, world, **dict.fromkeys(PERSON, ""))
    assert blank.status_code == 422
    page = _text(blank)
    for name in ("full_name", "nik", "date_of_birth", "sex", "phone", "address"):
        assert f'<a href="#{name}">This field is required.</a>' in page
    assert (
        '<a href="#consent">To book, you need to agree to the processing of your data.</a>' in page
    )
    assert 'id="nik"' in page and 'aria-invalid="true"' in page

    wrong = {
        "nik": ("317101410190", "A NIK has 16 digits; it is printed on your KTP and family card."),
        "date_of_birth": ("31/02/1990", "Enter the date of birth as day, month and year"),
        "phone": ("+65 8123 4567", "Enter an Indonesian phone number (+62)"),
        "email": ("siti@", "Enter a valid email address, e.g. name@example.com."),
        "sex": ("other", "Choose female or male."),
        "full_name": ("S", "Enter your full name as on your KTP."),
        "address": ("x" * 501, "The address is too long (at most 500 characters)."),
        "occupation": ("x" * 121, "The occupation is too long (at most 120 characters)."),
    }
    for name, (value, message) in wrong.items():
        response = fill_details(client, world, **{name: value})
        assert response.status_code == 422, name
        assert f'<a href="#{name}">{message}' in _text(response), name
    future = fill_details(client, world, date_of_birth="2999-01-01")
    assert "The date of birth cannot be in the future." in _text(future)
    ancient = fill_details(client, world, date_of_birth="1850-01-01")
    assert "Please check the year of birth." in _text(ancient)
    long_name = fill_details(client, world, full_name="x" * 201)
    assert "The name is too long (at most 200 characters)." in _text(long_name)
    impossible = fill_details(client, world, nik="3171019913900001")  # month 13
    assert "the birth date in it cannot exist" in _text(impossible)
    # what was typed is kept, except the consent (asked each time)
    assert 'value="Siti Aminah"' in _text(impossible)


def test_a_nik_that_disagrees_is_a_warning_confirmed_with_a_tick(quick, app, english):
    client = english
    tenant, world = public_world()
    choose_slot(client, world)
    # the NIK says: woman, born 1 January 1990
    response = fill_details(client, world, date_of_birth="1990-01-02", sex="male")
    assert response.status_code == 422
    page = _text(response)
    assert "The date of birth does not match the one in the NIK." in page
    assert "The sex does not match the one in the NIK." in page
    assert 'name="confirm_mismatch"' in page
    confirmed = fill_details(
        client, world, date_of_birth="1990-01-02", sex="male", confirm_mismatch="yes"
    )
    assert confirmed.status_code == 302
    assert client.post(f"{base(world)}/confirm").status_code == 302
    assert len(_bookings(tenant)) == 1


def test_a_second_booking_with_the_same_nik_gets_the_ledgers_message(quick, app, english):
    tenant, world = public_world()
    assert book(english, world).status_code == 302
    _new_visitor(english)
    again = book(english, world, slot_index=1)
    assert again.status_code == 409
    page = _text(again)
    assert "already has a booking for dose 1 in this campaign" in page
    assert "contact the organiser" in page and NIK not in page
    # someone else typing that NIK learns nothing about its owner's booking
    _new_visitor(english)
    other = book(english, world, slot_index=1, full_name="Budi Santoso")
    assert other.status_code == 409
    assert "This NIK is registered already" in _text(other)
    assert "Appointment" not in _text(other) and "Siti" not in _text(other)
    assert len(_bookings(tenant)) == 1


# --- the ledger at confirmation -------------------------------------------------------


def test_a_slot_taken_meanwhile_sends_back_to_the_times_with_the_data_kept(quick, app, english):
    client = english
    tenant, world = public_world()
    choose_slot(client, world)
    assert fill_details(client, world).status_code == 302
    slot_id = world.slot_ids[0]
    with tenant_context(tenant):  # other people fill the slot in between
        campaign = db.session.get(Campaign, (tenant.id, world.campaign.id))
        while True:
            try:
                book_slot(campaign, slot_id, make_person().id, now=BEFORE)
            except BookingError as exc:
                assert exc.code == "slot_full"
                db.session.rollback()
                break
            db.session.commit()
    full = _slot_booked(tenant, slot_id)

    response = client.post(f"{base(world)}/confirm")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/venue/{world.venue_ids[0]}/{DAY}")
    page = _text(client.get(response.headers["Location"]))
    assert "This slot is full." in page and "Your details are kept." in page
    assert f'id="slot-{slot_id}" value="{slot_id}" disabled' in page
    assert _slot_booked(tenant, slot_id) == full
    # choose another time: the details are there, straight to review
    choose_slot(client, world, slot_index=1)
    assert 'value="Siti Aminah"' in _text(client.get(f"{base(world)}/details"))
    assert "3171********0001" in _text(client.get(f"{base(world)}/review"))
    assert client.post(f"{base(world)}/confirm").status_code == 302
    mine = [b for b in _bookings(tenant) if b.slot_id == world.slot_ids[1]]
    assert len(mine) == 1


def test_a_full_day_offers_the_waitlist(quick, app, english):
    client = english
    tenant, world = public_world(doses=1)  # one dose at the venue: one booking fills it
    assert book(client, world).status_code == 302
    _new_visitor(client)
    venues = _text(client.get(base(world)))
    assert 'id="campaign-full"' in venues and "Full: you can join the waitlist" in venues
    days = _text(client.get(f"{base(world)}/venue/{world.venue_ids[0]}"))
    assert f'id="waitlist-{DAY}"' in days and f'id="day-{DAY}"' not in days
    waitlist = client.post(f"{base(world)}/venue/{world.venue_ids[0]}/{DAY}/waitlist")
    assert waitlist.headers["Location"].endswith("/details")
    assert (
        fill_details(
            client,
            world,
            nik="3171010101800002",
            full_name="Budi",
            date_of_birth="1980-01-01",
            sex="male",
        ).status_code
        == 302
    )
    review = _text(client.get(f"{base(world)}/review"))
    assert "Join the waitlist" in review
    done = client.post(f"{base(world)}/confirm")
    assert done.status_code == 302
    assert "You are on the waitlist" in _text(client.get(done.headers["Location"]))
    with tenant_context(tenant):
        entries = list(db.session.scalars(sa.select(WaitlistEntry)))
        assert [(e.day, e.venue_id) for e in entries] == [(dt.date(2030, 1, 7), world.venue_ids[0])]
        db.session.rollback()


# --- anti-abuse -----------------------------------------------------------------------


@pytest.fixture
def limited(app_config):
    app_config.update(
        RATELIMIT_ENABLED=True,
        PUBLIC_BOOKING_MIN_FILL_SECONDS=0,
        PUBLIC_BOOKING_RATE_PER_IP="2/minute",
        PUBLIC_BOOKING_RATE_PER_NIK="1/hour",
        PUBLIC_BOOKING_RATE_PER_PHONE="100/hour",
    )
    return app_config


def test_confirmations_are_limited_per_address(limited, app, english):
    _tenant, world = public_world()
    for n in range(2):
        response = book(
            english, world, nik=f"317101010190000{n + 2}", date_of_birth="1990-01-01", sex="male"
        )
        assert response.status_code == 302
    third = book(english, world, nik="3171010101900009", sex="male")
    assert third.status_code == 429


def test_confirmations_are_limited_per_nik_from_any_address(limited, app, client):
    tenant, world = public_world()
    client.environ_base["REMOTE_ADDR"] = "10.0.0.1"
    assert book(client, world).status_code == 302
    _new_visitor(client)
    client.environ_base["REMOTE_ADDR"] = "10.0.0.2"  # another address, the same NIK
    assert book(client, world, slot_index=1).status_code == 429
    _new_visitor(client)
    client.environ_base["REMOTE_ADDR"] = "10.0.0.3"  # another NIK still books
    other = book(client, world, slot_index=1, nik="3171010101900002", sex="male")
    assert other.status_code == 302
    assert len(_bookings(tenant)) == 2


@pytest.fixture
def limited_phone(app_config):
    app_config.update(
        RATELIMIT_ENABLED=True,
        PUBLIC_BOOKING_MIN_FILL_SECONDS=0,
        PUBLIC_BOOKING_RATE_PER_PHONE="1/hour",
    )
    return app_config


def test_confirmations_are_limited_per_phone(limited_phone, app, client):
    tenant, world = public_world()
    client.environ_base["REMOTE_ADDR"] = "10.0.1.1"
    assert book(client, world).status_code == 302
    _new_visitor(client)
    client.environ_base["REMOTE_ADDR"] = "10.0.1.2"  # another address and NIK, same phone
    again = book(client, world, slot_index=1, nik="3171010101900002", sex="male")
    assert again.status_code == 429
    assert len(_bookings(tenant)) == 1


@pytest.fixture
def fill_time(app_config):
    app_config["PUBLIC_BOOKING_MIN_FILL_SECONDS"] = 2
    return app_config


def test_the_honeypot_and_the_fill_time_stop_robots(fill_time, app, english):
    client = english
    tenant, world = public_world()
    choose_slot(client, world)
    quick = fill_details(client, world)  # sent at once after the form was shown
    assert quick.status_code == 422 and "That was very quick" in _text(quick)
    forged = fill_details(client, world, started="not-a-signed-stamp")
    assert forged.status_code == 422 and "That was very quick" in _text(forged)
    page = _text(client.get(f"{base(world)}/details"))
    stamp = re.search(r'name="started" value="([^"]+)"', page).group(1)
    time.sleep(2.05)
    trapped = client.post(
        f"{base(world)}/details", data={**PERSON, "started": stamp, "website": "x"}
    )
    assert trapped.status_code == 422 and "leave the last field empty" in _text(trapped)
    ok = client.post(f"{base(world)}/details", data={**PERSON, "started": stamp})
    assert ok.status_code == 302, re.findall(r"<li><a[^>]*>[^<]*", _text(ok))
    bot = client.post(f"{base(world)}/confirm", data={"website": "http://spam.example"})
    assert bot.status_code == 400
    assert _bookings(tenant) == []
    assert client.post(f"{base(world)}/confirm").status_code == 302
    assert len(_bookings(tenant)) == 1


# --- tenant isolation and polite refusals -------------------------------------------


def test_a_tenants_pages_never_reach_or_name_another_tenant(quick, app, english):
    client = english
    tenant_a, a = public_world()
    tenant_b, b = public_world()
    # B's campaign, venue and slot under A's address: 404, like things that do not exist
    assert client.get(f"/b/{a.tenant_slug}/{b.campaign_slug}").status_code == 404
    assert client.get(f"{base(a)}/venue/{b.venue_ids[0]}").status_code == 404
    response = client.post(
        f"{base(a)}/venue/{a.venue_ids[0]}/{DAY}", data={"slot": str(b.slot_ids[0])}
    )
    assert response.status_code == 422 and "Choose a time." in _text(response)
    assert client.get("/b/no-such-organiser").status_code == 404
    # nothing of B on any of A's pages, through the booking
    pages = [
        client.get(f"/b/{a.tenant_slug}"),
        client.get(base(a)),
        client.get(f"{base(a)}/venue/{a.venue_ids[0]}"),
        client.get(f"{base(a)}/venue/{a.venue_ids[0]}/{DAY}"),
    ]
    choose_slot(client, a)
    pages.append(client.get(f"{base(a)}/details"))
    fill_details(client, a)
    pages.append(client.get(f"{base(a)}/review"))
    done = client.post(f"{base(a)}/confirm")
    pages.append(client.get(done.headers["Location"]))
    for page in pages:
        assert page.status_code == 200
        text = _text(page)
        assert tenant_a.name in text
        for secret in (tenant_b.name, b.tenant_slug, b.campaign_slug, str(b.venue_ids[0])):
            assert secret not in text
        assert str(b.slot_ids[0]) not in text


def test_closed_suspended_and_unpublished_say_so_or_hide(quick, app, english):
    client = english
    tenant, world = public_world()
    tenant_b, closed = public_world()
    with tenant_context(tenant_b):
        close_campaign(db.session.get(Campaign, (tenant_b.id, closed.campaign.id)))
        db.session.commit()
    page = client.get(base(closed))
    assert page.status_code == 200 and "Booking for this campaign has closed." in _text(page)
    assert closed.campaign_slug not in _text(client.get(f"/b/{closed.tenant_slug}"))

    tenant.status = TenantStatus.SUSPENDED
    db.session.commit()
    for url in (f"/b/{world.tenant_slug}", base(world)):
        page = client.get(url)
        assert page.status_code == 200
        assert "This organiser is not taking bookings at the moment." in _text(page)
    assert client.post(f"{base(world)}/confirm").status_code == 200
    assert _bookings(tenant) == []

    tenant.status = TenantStatus.PENDING
    db.session.commit()
    assert client.get(f"/b/{world.tenant_slug}").status_code == 404


def test_an_employee_campaign_asks_for_proof_first(quick, app, client):
    tenant, world = public_world()
    from tenants.campaigns.models import Audience

    with tenant_context(tenant):
        campaign = db.session.get(Campaign, (tenant.id, world.campaign.id))
        campaign.audience = Audience.EMPLOYEES
        db.session.commit()
    for url in (base(world), f"{base(world)}/details"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"{base(world)}/proof")


# --- weight -------------------------------------------------------------------------------


def _size(client, url: str) -> int:
    response = client.get(url)
    try:
        assert response.status_code == 200, url
        return len(response.get_data())
    finally:
        response.close()


def test_every_step_transfers_under_60_kb(quick, app, client):
    """HTML + CSS + JS of each step (no logo exists), as a first visit downloads them."""
    _tenant, world = public_world()
    urls = [
        f"/b/{world.tenant_slug}",
        base(world),
        f"{base(world)}/venue/{world.venue_ids[0]}",
        f"{base(world)}/venue/{world.venue_ids[0]}/{DAY}",
    ]
    choose_slot(client, world)
    urls.append(f"{base(world)}/details")
    fill_details(client, world)
    urls.append(f"{base(world)}/review")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data()
        assets = re.findall(rb'(?:href|src)="(/static/[^"]+)"', html)
        assert len(assets) == 3, url  # two stylesheets, one script
        total = len(html) + sum(_size(client, asset.decode()) for asset in assets)
        assert total < 60 * 1024, (url, total)
        assert b"<style" not in html and b" style=" not in html
        assert b"<script>" not in html and b"http://" not in html.replace(b"http://localhost", b"")


# --- employee campaigns and priority groups (rosters: issue 4) --------------------------


def test_an_employee_books_after_proof_then_a_family_member(quick, app, english):
    from tenants.roster.models import RosterEntry

    client = english
    tenant, world = employee_world()
    with tenant_context(tenant):
        world.venue_ids = [v.id for v in world.venues]
        db.session.add(
            RosterEntry(
                campaign_id=world.campaign_id,
                employee_number="E001",
                full_name="Siti Aminah",
                date_of_birth=dt.date(1990, 1, 1),
                dependants_allowed=1,
            )
        )
        db.session.commit()
    proof = client.post(
        f"{base(world)}/proof",
        data={"how": "birth_date", "employee_number": "E001", "date_of_birth": "1990-01-01"},
    )
    assert proof.status_code == 302 and proof.headers["Location"].endswith(base(world))
    assert client.get(base(world)).status_code == 200
    choose_slot(client, world)
    page = _text(client.get(f"{base(world)}/details"))
    assert 'id="for_whom-dependant"' in page
    assert 'value="Siti Aminah"' in page  # the roster's name, to correct if need be
    assert book(client, world).status_code == 302
    family = book(
        client,
        world,
        nik="3171010101150003",
        full_name="Adi",
        date_of_birth="2015-01-01",
        sex="male",
        for_whom="dependant",
    )
    assert family.status_code == 302
    with tenant_context(tenant):
        entry = db.session.scalar(sa.select(RosterEntry))
        assert entry.dependants_booked == 1
        db.session.rollback()
    assert len(_bookings(tenant)) == 2
    # the allowance is used up: the choice is gone and a forged one is refused
    choose_slot(client, world)
    assert 'id="for_whom-dependant"' not in _text(client.get(f"{base(world)}/details"))
    refused = fill_details(
        client,
        world,
        nik="3171010101160004",
        full_name="Ani",
        date_of_birth="2016-01-01",
        sex="male",
        for_whom="dependant",
    )
    assert refused.status_code == 422
    assert "No more family members can be booked under this employee." in _text(refused)


def test_a_priority_campaign_records_the_declared_group(quick, app, english):
    from tenants.roster.models import PriorityDeclaration
    from tenants.roster.models import PriorityGroup

    client = english
    tenant, world = public_world()
    with tenant_context(tenant):
        group = PriorityGroup(
            campaign_id=world.campaign.id, name="Health workers", declaration="I work in care."
        )
        db.session.add(group)
        db.session.commit()
        group_id = group.id
    choose_slot(client, world)
    page = _text(client.get(f"{base(world)}/details"))
    assert "Health workers" in page and "I work in care." in page
    missing = fill_details(client, world)
    assert missing.status_code == 422
    assert '<a href="#group">Choose the group you belong to.</a>' in _text(missing)
    assert fill_details(client, world, group=str(group_id)).status_code == 302
    assert "Health workers" in _text(client.get(f"{base(world)}/review"))
    assert client.post(f"{base(world)}/confirm").status_code == 302
    with tenant_context(tenant):
        (declaration,) = db.session.scalars(sa.select(PriorityDeclaration)).all()
        assert declaration.group_id == group_id
        assert declaration.declaration == "I work in care."
        db.session.rollback()
