"""The voucher emails: sent after the booking commits, in the person's language, with
the QR inline and a calendar entry; the reminder once; waitlist offers with a link."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
import sqlalchemy as sa

from core.extensions import db
from core.mail import render_message
from core.tenancy import tenant_context
from tenants.booking.models import Booking
from tenants.booking.models import WaitlistEntry
from tenants.booking.models import WaitlistStatus
from tenants.booking.services import join_waitlist
from tenants.booking.services import record_administration
from tenants.booking.services import register_person
from tenants.booking.services import register_walk_in
from tenants.booking.transaction import run_in_transaction
from tenants.stock.models import Lot
from tenants.vouchers import jobs
from tenants.vouchers import receivers
from tenants.vouchers.codes import format_code
from tenants.vouchers.mail import QR_CID
from tenants.vouchers.tokens import manage_url
from tests.mail_support import SMTPServer
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import ON_DAY_ONE
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import make_tenant
from tests.tenants.vouchers.support import book
from tests.tenants.vouchers.support import outbox
from tests.tenants.vouchers.support import seats_booked


@pytest.fixture
def world(app):
    tenant = make_tenant()
    with tenant_context(tenant):
        yield build_world(venues=1, stations=2, doses=5, days=3)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _parts(message):
    email = render_message(message)
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    images = [p for p in email.walk() if p.get_content_type() == "image/png"]
    calendars = [a for a in email.iter_attachments() if a.get_content_type() == "text/calendar"]
    return email, text, html, images, calendars


def test_booking_mails_the_voucher_with_qr_and_calendar_entry(world):
    slot = world.slots()[0]
    booking = book(world, slot, locale="en")
    (message,) = outbox("vouchers/confirmed")
    assert message.recipient == "siti@example.test" and message.locale == "en"
    email, text, html, images, calendars = _parts(message)
    code = format_code(booking.voucher_code)
    assert code in email["Subject"] and code in text and code in html
    assert f'src="cid:{QR_CID}"' in html and images[0]["Content-ID"] == f"<{QR_CID}>"
    assert images[0].get_content().startswith(b"\x89PNG")
    assert "KTP" in text and "Jl. Test 1" in text and "openstreetmap.org" in html
    assert f"{_path(manage_url(booking))}?lang=en" in text  # opens in their language
    event = icalendar.Calendar.from_ical(calendars[0].get_content()).walk("VEVENT")[0]
    assert event.decoded("dtstart") == slot.starts_at and event.decoded("dtend") == slot.ends_at
    assert "Venue 1" in str(event["location"]) and code in str(event["description"])
    # the job claimed the booking: a second run (a duplicate job) sends nothing
    assert jobs.mail_voucher(str(booking.id)) is False
    assert len(outbox("vouchers/confirmed")) == 1


def test_language_follows_the_person(world):
    slots = world.slots()
    book(world, slots[0], locale="en", email="en@example.test")
    book(world, slots[1], locale="id", email="id@example.test")
    english, indonesian = (
        _parts(m)[1] for m in sorted(outbox("vouchers/confirmed"), key=lambda m: m.recipient)
    )
    assert "Monday, January 7, 2030" in english
    assert "Senin, 07 Januari 2030" in indonesian


def test_no_email_address_no_mail(world):
    book(world, world.slots()[0], email="")
    assert outbox() == []


def test_voucher_reaches_a_real_smtp_server(app, world):
    server = SMTPServer()
    server.start()
    try:
        app.config["MAIL_URL"] = server.url
        booking = book(world, world.slots()[0])
    finally:
        server.stop()
    (received,) = server.inbox.messages()
    assert received["To"] == "siti@example.test"
    assert format_code(booking.voucher_code) in received.get_body(("plain",)).get_content()
    assert any(p.get_content_type() == "image/png" for p in received.walk())
    assert any(a.get_filename() == "vaccination.ics" for a in received.iter_attachments())


def test_a_lost_voucher_job_is_swept_once(world, monkeypatch):
    monkeypatch.setattr(receivers, "enqueue", lambda *a, **k: None)  # the job is lost
    booking = book(world, world.slots()[0])
    assert outbox() == []
    made = booking.created_at
    assert jobs.sweep_voucher_mail(now=(made + dt.timedelta(seconds=30)).isoformat()) == 0
    assert jobs.sweep_voucher_mail(now=(made + dt.timedelta(minutes=3)).isoformat()) == 1
    assert jobs.sweep_voucher_mail(now=(made + dt.timedelta(minutes=8)).isoformat()) == 0
    assert len(outbox("vouchers/confirmed")) == 1


def test_reschedule_and_cancel_send_a_message(world, client):
    slots = world.slots()
    booking = book(world, slots[0], locale="en")
    path = _path(manage_url(booking))
    client.post(path + "/reschedule", data={"slot_id": str(slots[2].id)})
    (moved,) = outbox("vouchers/rescheduled")
    _email, text, _html, _images, calendars = _parts(moved)
    event = icalendar.Calendar.from_ical(calendars[0].get_content()).walk("VEVENT")[0]
    assert event.decoded("dtstart") == slots[2].starts_at
    assert "Your booking has been moved" in text
    client.post(path + "/cancel")
    (cancelled,) = outbox("vouchers/cancelled")
    email, _text, _html, _images, calendars = _parts(cancelled)
    assert "cancelled" in email["Subject"] and calendars == []


def _reminders_at(now: dt.datetime) -> int:
    return jobs.send_reminders(now=now.isoformat())


def test_reminder_goes_the_day_before_once(world, client):
    slots = world.slots()  # 7-9 January 2030, 08:00 and 09:00 Jakarta (UTC+7)
    booking = book(world, slots[0])
    on_day_three = next(s for s in slots if s.starts_at.date() == START + dt.timedelta(days=2))
    book(world, on_day_three, email="later@example.test")
    # 6 January, 05:00 Jakarta: the day before, but too early in the morning
    assert _reminders_at(dt.datetime(2030, 1, 5, 22, tzinfo=dt.UTC)) == 0
    # 6 January, 09:00 Jakarta: the first booking is tomorrow; the other is not
    at = dt.datetime(2030, 1, 6, 2, tzinfo=dt.UTC)
    assert _reminders_at(at) == 1
    assert _reminders_at(at) == 0
    assert _reminders_at(at + dt.timedelta(hours=1)) == 0
    (reminder,) = outbox("vouchers/reminder")
    assert reminder.recipient == "siti@example.test"
    assert format_code(booking.voucher_code) in _parts(reminder)[1]
    # moved to the 8th, the reminder is due again on the 7th
    client.post(_path(manage_url(booking)) + "/reschedule", data={"slot_id": str(slots[2].id)})
    db.session.expire_all()
    assert db.session.get(Booking, (world.tenant.id, booking.id)).reminder_sent_at is None
    assert _reminders_at(dt.datetime(2030, 1, 7, 2, tzinfo=dt.UTC)) == 1


def test_waitlist_offer_by_email_and_accepted_through_its_link(world, client):
    day = [s for s in world.slots() if s.starts_at.date() == START]
    holders = [
        book(world, s, email=f"h{i}{n}@example.test") for n in range(2) for i, s in enumerate(day)
    ]
    assert all(seats_booked(s.id) == s.capacity for s in day)
    waiting = register_person(
        "Wulan",
        dt.date(1985, 3, 3),
        nik="3171044505990001",
        email="wulan@example.test",
        locale="en",
    )
    entry = join_waitlist(
        world.campaign_in_session(), world.venues[0].id, START, waiting.id, now=BEFORE
    )
    db.session.commit()
    entry_id = entry.id
    # someone cancels through their link: the seat is offered at once, by email
    client.post(_path(manage_url(holders[0])) + "/cancel")
    (offer,) = outbox("vouchers/offer")
    assert offer.recipient == "wulan@example.test"
    _email, text, html, _images, _cal = _parts(offer)
    assert "We hold it for you until" in text
    link = offer.context["offer_url"]
    assert link in html
    page = client.get(_path(link))
    assert page.status_code == 200
    freed = str(holders[0].slot_id)
    assert f'value="{freed}"' in page.get_data(as_text=True)
    accepted = client.post(_path(link), data={"slot_id": freed})
    assert accepted.status_code == 303 and accepted.headers["Location"].startswith("/v/")
    db.session.expire_all()
    entry = db.session.get(WaitlistEntry, (world.tenant.id, entry_id))
    assert entry.status == WaitlistStatus.ACCEPTED
    assert seats_booked(holders[0].slot_id) == 2
    new_booking = db.session.get(Booking, (world.tenant.id, entry.booking_id))
    assert [m.recipient for m in outbox("vouchers/confirmed")][-1] == "wulan@example.test"
    assert new_booking.person_id == waiting.id
    # the link is spent: the page says so, and a second accept is refused politely
    again = client.post(_path(link), data={"slot_id": freed})
    assert again.status_code == 409
    assert "You have accepted this offer" in client.get(_path(link)).get_data(as_text=True)
    assert seats_booked(holders[0].slot_id) == 2


def test_second_dose_booked_at_the_first_gets_its_own_voucher(world):
    booking = book(world, world.slots()[0], locale="en")
    lot_id = db.session.scalar(sa.select(Lot.id).where(Lot.venue_id == booking.venue_id))
    booking_id = booking.id
    result = run_in_transaction(
        lambda: record_administration(booking_id, lot_id, now=ON_DAY_ONE).next_booking.id
    )
    second = db.session.get(Booking, (world.tenant.id, result))
    assert second.voucher_code != booking.voucher_code
    latest = outbox("vouchers/confirmed")[-1]
    assert latest.context["booking_id"] == str(second.id)
    assert "Your next dose is booked" in _parts(latest)[1]


def test_a_walk_in_who_gave_an_email_gets_a_voucher_without_calendar_entry(world):
    person = register_person(
        "Walk In", dt.date(1980, 2, 2), nik="3171044505990002", email="w@example.test", locale="en"
    )
    db.session.commit()
    person_id, venue_id = person.id, world.venues[0].id
    booking_id = run_in_transaction(
        lambda: (
            register_walk_in(world.campaign_in_session(), venue_id, person_id, now=ON_DAY_ONE).id
        )
    )
    (message,) = outbox("vouchers/confirmed")
    assert message.context["booking_id"] == str(booking_id)
    _email, text, _html, images, calendars = _parts(message)
    assert "registered for vaccination today" in text
    assert images and calendars == []
