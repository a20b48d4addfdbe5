"""Issue 3's "done when", in a real browser: from sign-up to an approved venue.

Playwright drives Debian's chromium (``/usr/bin/chromium``; no browser download)
against the app served over real HTTP on loopback, with CSRF on, SQLite, jobs
in-process and mail written to files (the test reads the verification link there).
A clinic signs up, verifies its email, adds a venue, uploads photos and the permit
PDF, submits; a reviewer signs in with password and TOTP and approves; the clinic
sees its venue approved and its status active.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from PIL import Image

from tests.e2e.conftest import mail_link
from tests.onboarding.venue_support import pdf_bytes

PASSWORD = "kuat-sekali-2026-sandi"


def _photo(tmp_path: Path, name: str, color: str) -> Path:
    path = tmp_path / name
    Image.new("RGB", (640, 480), color).save(path, "JPEG")
    return path


def _make_reviewer(app) -> tuple[str, str]:
    from core.auth.passwords import hash_password
    from core.auth.totp import new_secret
    from core.auth.totp import seal_secret
    from core.db import utcnow
    from core.extensions import db
    from core.models import PlatformRole
    from core.models import User

    secret = new_secret()
    with app.app_context():
        user = User(
            email="reviewer@kemkes.test",
            name="Dr. Rina",
            password_hash=hash_password(PASSWORD),
            email_verified_at=utcnow(),
            platform_role=PlatformRole.REVIEWER,
            locale="en",
        )
        db.session.add(user)
        db.session.flush()
        user.totp_secret = seal_secret(user, secret)
        db.session.commit()
    return "reviewer@kemkes.test", secret


def test_clinic_signs_up_and_gets_its_venue_approved(live_server, browser, tmp_path):
    base, app, outbox = live_server
    reviewer_email, totp_secret = _make_reviewer(app)
    clinic = browser.new_context(base_url=base, locale="en-GB")
    page = clinic.new_page()
    page.set_default_timeout(15_000)

    # 1. Sign up: an account first, then the email link, then the organisation.
    page.goto("/signup/organisation?lang=en")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Full name").fill("Dewi Lestari")
    page.get_by_label("Email").fill("dewi@kliniksehat.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    link = mail_link(outbox, "dewi@kliniksehat.test", r"http://\S+/verify-email/\S+")
    page.goto(link)
    page.get_by_label("Email").fill("dewi@kliniksehat.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/signup/organisation"))
    page.locator("#kind-clinic").check()
    page.locator("#legal_name").fill("Klinik Sehat Sentosa")
    page.locator("#slug").fill("klinik-sentosa")
    page.locator("#province").fill("DKI Jakarta")
    page.locator("#city").fill("Jakarta Selatan")
    page.locator("#contact_phone").fill("+62 21 555 0101")
    page.get_by_role("button", name="Create the organisation").click()
    page.wait_for_load_state()
    assert "/o/klinik-sentosa/" in page.url, page.locator("main").inner_text()

    # 2. A venue, with opening hours typed into time fields (no JavaScript needed).
    page.goto("/o/klinik-sentosa/venues/new")
    page.get_by_label("Name of the venue").fill("Klinik Sentosa Kemang")
    page.get_by_label("Street address").fill("Jl. Kemang Raya No. 10")
    page.get_by_label("Province").select_option("DKI Jakarta")
    page.get_by_label("City or regency").fill("Jakarta Selatan")
    page.get_by_label("Latitude").fill("-6.2615")
    page.get_by_label("Longitude").fill("106.8106")
    page.locator("#hours-0-open").fill("08:00")
    page.locator("#hours-0-close").fill("16:00")
    page.get_by_label("Vaccination stations").fill("2")
    page.get_by_role("button", name="Save venue").click()
    page.wait_for_url(re.compile(r"/o/klinik-sentosa/venues/[0-9a-f-]{36}$"))
    venue_url = page.url

    # 3. Two photos and the permit PDF, then submit.
    permit = tmp_path / "surat-izin.pdf"
    permit.write_bytes(pdf_bytes())
    for kind, path in (
        ("photo_entrance", _photo(tmp_path, "pintu.jpg", "navy")),
        ("photo_vaccination_area", _photo(tmp_path, "ruang.jpg", "teal")),
        ("permit_letter", permit),
    ):
        page.get_by_label("What is it?").select_option(kind)
        page.locator("input[type=file]").set_input_files(str(path))
        page.get_by_role("button", name="Upload").click()
        page.wait_for_selector("text=Document uploaded.")
    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_selector("text=Waiting for review")

    # 4. The reviewer: password, then a TOTP code; the queue; claim; checklist; approve.
    ministry = browser.new_context(base_url=base, locale="en-GB")
    review = ministry.new_page()
    review.set_default_timeout(15_000)
    review.goto("/sign-in?lang=en")
    review.get_by_label("Email").fill(reviewer_email)
    review.get_by_label("Password").fill(PASSWORD)
    review.get_by_role("button", name="Sign in").click()
    review.get_by_label("6-digit code").fill(pyotp.TOTP(totp_secret).now())
    review.get_by_role("button", name="Continue").click()
    review.goto("/review/")
    review.get_by_role("link", name="Klinik Sentosa Kemang").click()
    # the photos are shown inline, as thumbnails served by the app
    thumbnails = review.locator("figure.doc img")
    assert thumbnails.count() == 2
    assert all(
        review.evaluate("(img) => img.complete && img.naturalWidth > 0", handle)
        for handle in thumbnails.element_handles()
    )
    review.get_by_role("button", name="Claim and review").click()
    for box in review.locator("input[type=checkbox]").all():
        box.check()
    review.get_by_label("Approve").check()
    review.get_by_label("Comment for the organiser").fill("Lengkap. Selamat bertugas.")
    review.get_by_role("button", name="Record decision").click()
    review.wait_for_selector("text=Decision recorded")

    # 5. The clinic sees its venue approved and itself active, and got an email.
    page.goto(venue_url)
    assert page.locator(".badge.venue-approved").first.inner_text().strip() == "Approved"
    page.goto("/o/klinik-sentosa/")
    assert page.locator(".badge.status-active").count() == 1
    mail_link(outbox, "dewi@kliniksehat.test", r"http://\S+/o/klinik-sentosa/venues/\S+")
    clinic.close()
    ministry.close()
