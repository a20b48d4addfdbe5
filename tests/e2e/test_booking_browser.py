"""Issue 5's "done when", in a real browser on a phone-sized screen.

A person books a slot on the public page (once in Bahasa Indonesia, the default, and
once in English through the visible switch), the voucher email arrives over real SMTP
(aiosmtpd on loopback), the person opens the voucher from the email's link, reschedules
through the email's manage link and then cancels; after each step the ledger's counters
(seats booked in each slot, doses promised at the venue) are read from the database.
The whole flow runs twice: with JavaScript and without it.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import time

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import serve
from tests.mail_support import SMTPServer

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
DAY = "2030-01-07"


@pytest.fixture
def smtp():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def site(tmp_path, sqlite_template, smtp):
    """The app on loopback, sending mail to the SMTP server, with a published campaign."""
    with serve(
        tmp_path,
        sqlite_template,
        MAIL_URL=smtp.url,
        BABEL_DEFAULT_LOCALE="id",  # the product's default, which this test checks
        PUBLIC_BOOKING_MIN_FILL_SECONDS=0,  # a script fills the form faster than a person
    ) as (base, app, _outbox):
        from core.tenancy import tenant_context
        from tests.tenants.public.support import public_world

        with app.app_context():
            tenant, world = public_world(venues=1, doses=10, slot_minutes=30)
            with tenant_context(tenant):
                slots = [s.id for s in world.slots() if s.starts_at.date() == dt.date(2030, 1, 7)]
                world.product_id = world.product.id
        yield base, app, tenant, world, slots


def _counters(app, tenant, world, slot_ids):
    """([seats booked per slot], doses promised at the venue), read fresh."""
    from core.extensions import db
    from core.tenancy import tenant_context
    from tenants.campaigns.models import Slot
    from tenants.stock.models import Stock

    with app.app_context(), tenant_context(tenant):
        booked = {
            sid: n
            for sid, n in db.session.execute(
                sa.select(Slot.id, Slot.booked).where(Slot.id.in_(slot_ids))
            )
        }
        promised = db.session.scalar(
            sa.select(Stock.promised).where(
                Stock.venue_id == world.venue_ids[0], Stock.product_id == world.product_id
            )
        )
        db.session.rollback()
    return [booked[s] for s in slot_ids], promised


def _mail(smtp, to: str, number: int = 1, timeout: float = 10.0) -> email.message.EmailMessage:
    """The ``number``-th message to ``to`` (1 = the first), waiting for it to arrive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = [m for m in smtp.inbox.messages() if m["To"] == to]
        if len(mine) >= number:
            return mine[number - 1]
        time.sleep(0.1)
    seen = [(m["To"], m["Subject"]) for m in smtp.inbox.messages()]
    raise AssertionError(f"no message {number} to {to}; got {seen}")


def _links(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    voucher = re.search(r"http://\S+/v/\S+", text).group(0)
    manage = re.search(r"http://\S+/v/m/\S+|http://\S+/m/\S+", text).group(0)
    return voucher, manage


def _book(page, base, world, slot_id, *, person: dict, english: bool):
    page.goto(f"{base}/b/{world.tenant_slug}/{world.campaign_slug}")
    if english:
        page.get_by_role("link", name="English").click()
        assert page.locator("html").get_attribute("lang") == "en"
    else:
        assert page.locator("html").get_attribute("lang") == "id"
    venue = page.locator(f"#venue-{world.venue_ids[0]}")
    if venue.count():  # with one venue the campaign page may already be the venue's
        venue.click()
        page.wait_for_url(re.compile(r".*/venue/[^/]+$"))
    day = page.locator(f"#day-{DAY}")
    day.click()
    page.locator(f"#slot-{slot_id}").check()
    page.locator("#continue").click()

    page.fill("#full_name", person["full_name"])
    page.fill("#nik", person["nik"])
    page.fill("#date_of_birth", person["date_of_birth"])
    page.locator(f"#sex-{person['sex']}").check()
    page.fill("#phone", person["phone"])
    page.fill("#email", person["email"])
    page.fill("#address", person["address"])
    page.fill("#occupation", person["occupation"])
    page.locator("#consent").check()
    page.locator("#continue").click()

    assert person["full_name"] in page.content()  # the review step
    page.locator("#confirm").click()
    page.wait_for_url(re.compile(r".*/done.*"))
    assert page.locator("#voucher-link").count() == 1


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_book_in_both_languages_then_open_reschedule_and_cancel(browser, site, smtp, javascript):
    base, app, tenant, world, slots = site
    people = [
        (
            False,  # Bahasa Indonesia, the default
            {
                "full_name": "Siti Aminah",
                "nik": "3171014101900001",  # a woman born 1 January 1990
                "date_of_birth": "1990-01-01",
                "sex": "female",
                "phone": "0812 3456 7890",
                "email": "siti@example.test",
                "address": "Jl. Melati 5, Jakarta",
                "occupation": "Guru",
            },
            "Voucher vaksinasi Anda",
        ),
        (
            True,  # English, by the switch
            {
                "full_name": "Budi Santoso",
                "nik": "3171010202850002",  # a man born 2 February 1985
                "date_of_birth": "1985-02-02",
                "sex": "male",
                "phone": "0813 1111 2222",
                "email": "budi@example.test",
                "address": "Jl. Kenanga 7, Jakarta",
                "occupation": "Driver",
            },
            "Your vaccination voucher",
        ),
    ]
    watched = slots[:3]
    assert _counters(app, tenant, world, watched) == ([0, 0, 0], 0)

    for n, (english, person, subject) in enumerate(people, start=1):
        context = browser.new_context(base_url=base, java_script_enabled=javascript, **PHONE)
        page = context.new_page()
        _book(page, base, world, slots[0], person=person, english=english)
        assert _counters(app, tenant, world, watched) == ([n, 0, 0], n)

        mail = _mail(smtp, person["email"])
        assert mail["Subject"].startswith(subject)
        html = mail.get_body(("html",)).get_content()
        assert ("What to bring" in html) is english
        assert any(part.get_filename("").endswith(".ics") for part in mail.walk())

        voucher_url, manage_url = _links(mail)
        page.goto(voucher_url)
        assert page.locator(".voucher-code").count() == 1
        assert "****" in page.content()  # the NIK is masked, never shown in full
        assert person["nik"] not in page.content()
        context.close()

    # The second person (English) moves to the next slot, then cancels.
    context = browser.new_context(base_url=base, java_script_enabled=javascript, **PHONE)
    page = context.new_page()
    page.goto(manage_url)
    page.locator(f"#slot-{slots[1]}").check()
    page.locator("form[action*='reschedule'] button[type=submit]").click()
    assert _counters(app, tenant, world, watched) == ([1, 1, 0], 2)
    moved = _mail(smtp, "budi@example.test", number=2)  # the change message, in his language
    assert moved["Subject"].startswith("Your vaccination has moved")

    page.goto(manage_url)
    page.locator("a[href*='/cancel']").first.click()
    page.locator("form[action*='cancel'] button[type=submit]").click()
    assert _counters(app, tenant, world, watched) == ([1, 0, 0], 1)
    cancelled = _mail(smtp, "budi@example.test", number=3)
    assert "is cancelled" in cancelled["Subject"]
    context.close()
