"""Proving eligibility (employee number + date of birth, magic link, invite code) and
claiming bookings under it: dependants within the allowance, one own booking per dose,
single-use codes; on PostgreSQL, 20 threads racing for 3 dependant places."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from core.errors import DomainError
from core.extensions import db
from core.models import OutboxMessage
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.services import book_slot
from tenants.booking.services import cancel_booking
from tenants.booking.services import register_person
from tenants.campaigns.models import Campaign
from tenants.campaigns.services import set_slot_capacity
from tenants.roster import eligibility
from tenants.roster.eligibility import Eligibility
from tenants.roster.eligibility import claim_booking
from tenants.roster.eligibility import prove_by_birth_date
from tenants.roster.eligibility import prove_by_invite_code
from tenants.roster.eligibility import release_booking
from tenants.roster.models import RosterEntry
from tenants.roster.services import create_invite_codes
from tenants.roster.services import import_roster
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import make_person
from tests.tenants.roster.support import employee_world
from tests.tenants.test_ledger_concurrency import hammer
from tests.tenants.test_ledger_concurrency import pg_app  # noqa: F401 (a fixture)

#: not one make_person() hands out (those count up from 3171010101900001)
NIK_MAN = "3174020101900007"
ROWS = [
    (2, {"employee_number": "E001", "full_name": "Budi Santoso", "nik": NIK_MAN,
         "email": "budi@example.test", "dependants_allowed": "2"}),
    (3, {"employee_number": "E002", "full_name": "Sari Dewi", "date_of_birth": "15-06-1985"}),
]  # fmt: skip


def _world_with_roster(rows=ROWS):
    tenant, world = employee_world()
    with tenant_context(tenant):
        report = import_roster(world.campaign_in_session(), rows)
        assert report.counts["refused"] == 0, report.refused
        set_slot_capacity(world.slot_ids[0], 40)
        db.session.commit()
    return tenant, world


def _proof_url(world) -> str:
    return f"/b/{world.tenant_slug}/{world.campaign_slug}/proof"


def _code(exc_info) -> str:
    return exc_info.value.code


# --- proofs through the page ------------------------------------------------------------


def test_proof_by_employee_number_and_date_of_birth(app, client):
    _tenant, world = _world_with_roster()
    client.set_cookie("lang", "en")
    url = _proof_url(world)
    assert client.get(url).status_code == 200
    wrong = client.post(
        url, data={"how": "birth_date", "employee_number": "E001", "date_of_birth": "1990-01-02"}
    )
    unknown = client.post(
        url, data={"how": "birth_date", "employee_number": "E999", "date_of_birth": "1990-01-01"}
    )
    # the same refusal whichever half is wrong
    assert wrong.status_code == unknown.status_code == 422
    assert "could not match" in wrong.get_data(as_text=True)
    assert "could not match" in unknown.get_data(as_text=True)
    # E001 has no date on the roster: the one its NIK encodes counts
    ok = client.post(
        url, data={"how": "birth_date", "employee_number": "E001", "date_of_birth": "1990-01-01"}
    )
    assert ok.status_code == 302
    assert urlparse(ok.location).path == f"/b/{world.tenant_slug}/{world.campaign_slug}"
    assert "Budi Santoso (E001)" in client.get(url).get_data(as_text=True)


@pytest.fixture
def limits_on(app_config):
    """Rate limits as in production (the tests' default turns them off)."""
    app_config["RATELIMIT_ENABLED"] = True


def test_guesses_are_throttled_per_employee_number(limits_on, app, client):
    _tenant, world = _world_with_roster()
    url = _proof_url(world)
    guess = {"how": "birth_date", "employee_number": "E002", "date_of_birth": "1985-01-01"}
    answers = [client.post(url, data=guess).status_code for _ in range(6)]
    assert answers == [422] * 5 + [429]
    # the right date is refused too now: guessing must not go on
    assert client.post(url, data={**guess, "date_of_birth": "1985-06-15"}).status_code == 429


def test_magic_link_is_single_use_and_expires(app, client, monkeypatch):
    tenant, world = _world_with_roster()
    url = _proof_url(world)
    on_roster = client.post(url, data={"how": "email", "email": "Budi@Example.test"})
    not_on_roster = client.post(url, data={"how": "email", "email": "nobody@example.test"})
    assert on_roster.status_code == not_on_roster.status_code == 200
    assert on_roster.get_data() == not_on_roster.get_data()  # reveals nothing
    with tenant_context(tenant):
        [message] = db.session.scalars(sa.select(OutboxMessage)).all()
        recipient, link = message.recipient, urlparse(message.context["url"]).path
        db.session.rollback()
    assert recipient == "budi@example.test"
    assert client.get(link).status_code == 200  # shows a button: a mail scanner spends nothing
    assert client.post(link).status_code == 302
    assert client.post(link).status_code == 400  # used
    assert client.get(link).status_code == 400  # and says so at once
    client.post(url, data={"how": "email", "email": "budi@example.test"})
    with tenant_context(tenant):
        newest = db.session.scalars(
            sa.select(OutboxMessage).order_by(OutboxMessage.created_at.desc())
        ).first()
        expired = urlparse(newest.context["url"]).path
        db.session.rollback()
    monkeypatch.setattr(eligibility, "LINK_MAX_AGE", -1)
    assert client.get(expired).status_code == 400
    assert client.post(expired).status_code == 400


# --- claims ------------------------------------------------------------------------------


def _book(world, person, slot_index=0):
    campaign = db.session.get(Campaign, (world.tenant.id, world.campaign_id))
    return book_slot(campaign, world.slot_ids[slot_index], person.id, now=BEFORE)


def test_dependants_within_allowance_and_one_own_booking(app):
    tenant, world = _world_with_roster()
    with tenant_context(tenant), force_locale("en"):
        campaign = world.campaign_in_session()
        proven = prove_by_birth_date(campaign, "E001", dt.date(1990, 1, 1))
        assert proven.dependants_left == 2
        stranger = _book(world, make_person())
        with pytest.raises(DomainError) as caught:
            claim_booking(proven, stranger, dependant=False)
        assert _code(caught) == "nik_mismatch"
        db.session.rollback()
        budi = register_person("Budi Santoso", dt.date(1990, 1, 1), nik=NIK_MAN)
        own = _book(world, budi)
        claim_booking(proven, own, dependant=False)
        db.session.commit()
        for _i in range(2):
            claim_booking(proven, _book(world, make_person()), dependant=True)
        db.session.commit()
        with pytest.raises(DomainError) as caught:
            claim_booking(proven, _book(world, make_person()), dependant=True)
        assert _code(caught) == "no_dependants_left"
        db.session.rollback()
        entry = db.session.scalar(
            sa.select(RosterEntry).where(RosterEntry.employee_number == "E001")
        )
        assert (entry.dependants_allowed, entry.dependants_booked) == (2, 2)
        # a cancelled dependant booking gives its place back (the ledger's
        # booking_changed signal), once
        dependant_booking = db.session.scalars(
            sa.select(Booking).where(Booking.person_id != budi.id)
        ).first()
        cancel_booking(dependant_booking.id)
        assert release_booking(dependant_booking.id) is False  # given back already
        db.session.commit()
        db.session.refresh(entry)
        assert entry.dependants_booked == 1
        claim_booking(proven, _book(world, make_person()), dependant=True)  # booked again


def test_an_invite_code_books_once(app):
    tenant, world = employee_world()
    with tenant_context(tenant), force_locale("en"):
        campaign = world.campaign_in_session()
        [code] = create_invite_codes(campaign, 1, actor=None)
        db.session.commit()
        proven = prove_by_invite_code(campaign, code.lower().replace("-", " "))
        twice = prove_by_invite_code(campaign, code)  # two tabs: both may reach the form
        with pytest.raises(DomainError) as caught:
            claim_booking(proven, _book(world, make_person()), dependant=True)
        assert _code(caught) == "no_dependants_left"
        db.session.rollback()
        claim_booking(proven, _book(world, make_person()), dependant=False)
        db.session.commit()
        with pytest.raises(DomainError) as caught:
            claim_booking(twice, _book(world, make_person()), dependant=False)
        assert _code(caught) == "invite_code_used"
        db.session.rollback()
        with pytest.raises(DomainError) as caught:
            prove_by_invite_code(campaign, code)
        assert _code(caught) == "invite_code_invalid"


# --- concurrency (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.postgres
def test_20_threads_claiming_3_dependant_places_get_exactly_3(pg_app):  # noqa: F811
    tenant, world = _world_with_roster(
        [(2, {"employee_number": "E1", "full_name": "A", "nik": NIK_MAN, "dependants_allowed": 3})]
    )
    with tenant_context(tenant):
        people = [make_person().id for _ in range(20)]
        entry = db.session.scalar(sa.select(RosterEntry))
        proven = Eligibility(campaign_id=world.campaign_id, entry_id=entry.id)
        db.session.commit()
    tenant_id, campaign_id, slot_id = tenant.id, world.campaign_id, world.slot_ids[0]

    def job(person_id):
        def work():
            campaign = db.session.get(Campaign, (tenant_id, campaign_id))
            booking = book_slot(campaign, slot_id, person_id, now=BEFORE)
            claim_booking(proven, booking, dependant=True)

        return work

    outcomes = hammer(pg_app, tenant_id, [job(p) for p in people])
    assert outcomes == {"ok": 3, "no_dependants_left": 17}, outcomes
    with tenant_context(tenant_id):
        booked = db.session.scalar(sa.select(RosterEntry.dependants_booked))
        active = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Booking)
            .where(Booking.status == BookingStatus.BOOKED)
        )
        db.session.rollback()
    assert (booked, active) == (3, 3)  # the refused claims took their bookings back with them
