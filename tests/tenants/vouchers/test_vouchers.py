"""Voucher codes and links, the voucher page and managing a booking through its link."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.vouchers.codes import ALPHABET
from tenants.vouchers.codes import format_code
from tenants.vouchers.tokens import VoucherLinkError
from tenants.vouchers.tokens import find_by_code
from tenants.vouchers.tokens import manage_url
from tenants.vouchers.tokens import parse_scan
from tenants.vouchers.tokens import read_manage_token
from tenants.vouchers.tokens import read_voucher_token
from tenants.vouchers.tokens import voucher_token
from tenants.vouchers.tokens import voucher_url
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import make_tenant
from tests.tenants.vouchers.support import book
from tests.tenants.vouchers.support import promised
from tests.tenants.vouchers.support import seats_booked


@pytest.fixture
def world(app):
    tenant = make_tenant()
    with tenant_context(tenant):
        yield build_world(venues=1, stations=2, doses=5, days=3)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_every_booking_gets_a_code_found_however_it_is_typed(world):
    slot = world.slots()[0]
    booking = book(world, slot)
    assert re.fullmatch(f"[{ALPHABET}]{{10}}", booking.voucher_code)
    typed = format_code(booking.voucher_code).lower().replace("-", " - ")
    assert find_by_code(typed).id == booking.id
    assert find_by_code("not a code") is None
    # another tenant's scope does not find it
    code = booking.voucher_code
    other = make_tenant()
    with tenant_context(other):
        assert find_by_code(code) is None


def test_codes_are_unique_per_tenant(world):
    first, second = (book(world, s) for s in world.slots()[:2])
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(
            sa.update(Booking)
            .where(Booking.id == second.id)
            .values(voucher_code=first.voucher_code)
        )
        db.session.flush()
    db.session.rollback()


def _other(character: str) -> str:
    return "A" if character != "A" else "B"


def test_tokens_carry_ids_only_and_refuse_tampering(world):
    booking = book(world, world.slots()[0])
    token = voucher_token(booking)
    assert read_voucher_token(token) == (world.tenant.id, booking.id)
    assert "Siti" not in token and booking.voucher_code not in token
    payload, signature = token.split(".")
    # Changed characters inside the text: a base64 text's last character may carry bits
    # that decoding drops, so changing it can leave the bytes as they were.
    middle = len(payload) // 2
    for bad in (
        f"{payload[:middle]}{_other(payload[middle])}{payload[middle + 1 :]}.{signature}",
        f"{payload}.{_other(signature[0])}{signature[1:]}",
        token + "x",
        "garbage",
    ):
        with pytest.raises(VoucherLinkError):
            read_voucher_token(bad)
    # a voucher token (the QR, which staff see) is no manage link
    with pytest.raises(VoucherLinkError):
        read_manage_token(token)


def test_parse_scan_takes_the_url_or_the_bare_token(world):
    booking = book(world, world.slots()[0])
    ids = (world.tenant.id, booking.id)
    assert parse_scan(voucher_url(booking)) == ids
    assert parse_scan(f"  {voucher_token(booking)}\n") == ids
    assert parse_scan("https://elsewhere.test/v/" + voucher_token(booking)) == ids
    assert parse_scan(manage_url(booking)) is None
    assert parse_scan("https://example.test/x/" + voucher_token(booking)) is None
    assert parse_scan("hello") is None and parse_scan("") is None


def test_voucher_page_shows_the_masked_nik_and_nothing_of_another_tenant(world, client):
    booking = book(world, world.slots()[0])
    url = voucher_url(booking)
    other = make_tenant()
    with tenant_context(other):
        other_world = build_world(venues=1, doses=5, days=1)
        book(other_world, other_world.slots()[0], name="Budi Other")
    response = client.get(_path(url))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    person = booking_person(booking)
    assert person.nik_masked in html and person.nik not in html
    assert "Siti Rahma" in html and format_code(booking.voucher_code) in html
    assert "<svg" in html and "Jl. Test 1" in html and "openstreetmap.org" in html
    assert "KTP" in html
    assert world.tenant.name in html
    assert other.name not in html and "Budi Other" not in html
    assert " style=" not in html  # the CSP forbids inline style
    assert client.get("/v/" + voucher_token(booking)[:-3] + "abc").status_code == 404


def booking_person(booking):
    from tenants.booking.models import Person

    return db.session.get(Person, (booking.tenant_id, booking.person_id))


def test_reschedule_through_the_manage_link_moves_the_counters(world, client):
    old, new = world.slots()[0], world.slots()[3]
    booking = book(world, old)
    venue_id, product_id = booking.venue_id, booking.product_id
    assert (seats_booked(old.id), seats_booked(new.id), promised(venue_id, product_id)) == (1, 0, 1)
    path = _path(manage_url(booking))
    page = client.get(path)
    assert page.status_code == 200 and f'value="{new.id}"' in page.get_data(as_text=True)
    response = client.post(path + "/reschedule", data={"slot_id": str(new.id)})
    assert response.status_code == 303
    assert (seats_booked(old.id), seats_booked(new.id), promised(venue_id, product_id)) == (0, 1, 1)
    db.session.expire_all()
    assert db.session.get(Booking, (world.tenant.id, booking.id)).slot_id == new.id


def test_reschedule_refusals_are_messages_not_errors(world, client):
    booking = book(world, world.slots()[0])
    full = world.slots()[1]
    book(world, full, email="a@example.test")
    book(world, full, email="b@example.test")  # 2 stations: the slot is full now
    path = _path(manage_url(booking))
    response = client.post(path + "/reschedule", data={"slot_id": str(full.id)})
    assert response.status_code == 409
    assert "full" in response.get_data(as_text=True).lower() or "penuh" in response.get_data(
        as_text=True
    )
    response = client.post(path + "/reschedule", data={"slot_id": "not-a-uuid"})
    assert response.status_code == 400
    assert seats_booked(world.slots()[0].id) == 1


def test_cancel_asks_first_then_frees_seat_and_dose(world, client):
    slot = world.slots()[0]
    booking = book(world, slot)
    path = _path(manage_url(booking)) + "/cancel"
    confirm = client.get(path)
    assert confirm.status_code == 200 and 'method="post"' in confirm.get_data(as_text=True)
    assert seats_booked(slot.id) == 1  # looking at the question changes nothing
    assert client.post(path).status_code == 303
    assert seats_booked(slot.id) == 0
    assert promised(booking.venue_id, booking.product_id) == 0
    db.session.expire_all()
    assert db.session.get(Booking, (world.tenant.id, booking.id)).status == BookingStatus.CANCELLED
    # the voucher says so; a second cancel changes nothing
    assert "cancelled" in client.get(_path(voucher_url(booking)) + "?lang=en").get_data(
        as_text=True
    )
    assert client.post(path).status_code == 200


def test_the_voucher_link_cannot_manage(world, client):
    booking = book(world, world.slots()[0])
    token = voucher_token(booking)
    assert client.get(f"/v/m/{token}").status_code == 404
    assert client.post(f"/v/m/{token}/cancel").status_code == 404
    assert seats_booked(world.slots()[0].id) == 1


def test_once_checked_in_the_link_no_longer_cancels(world, client):
    slot = world.slots()[0]
    booking = book(world, slot)
    db.session.execute(
        sa.update(Booking).where(Booking.id == booking.id).values(status=BookingStatus.ARRIVED)
    )
    db.session.commit()
    path = _path(manage_url(booking))
    assert client.post(path + "/cancel").status_code == 200  # the page, nothing done
    assert "Cancel my booking" not in client.get(path + "?lang=en").get_data(as_text=True)
    assert seats_booked(slot.id) == 1


def test_a_check_in_between_the_page_and_the_cancel_wins(world):
    """The manage page checks the status when it is shown; a check-in can land before
    the person presses cancel. The ledger's conditional UPDATE refuses then, and the
    seat and dose stay taken for the person standing at the desk."""
    from tenants.booking.services import BookingError
    from tenants.vouchers import services

    slot = world.slots()[0]
    booking = book(world, slot)
    db.session.execute(
        sa.update(Booking).where(Booking.id == booking.id).values(status=BookingStatus.ARRIVED)
    )
    db.session.commit()
    with tenant_context(world.tenant.id), pytest.raises(BookingError) as refused:
        services.cancel(booking.id)
    assert refused.value.code == "checked_in"
    db.session.rollback()
    assert seats_booked(slot.id) == 1
    assert promised(booking.venue_id, booking.product_id) == 1
