"""Issue 6's "done when", in a real browser: a voucher's QR is scanned through
Chromium's fake camera, the person is checked in, screened and vaccinated from a
chosen lot, and the second dose's voucher email arrives; the manual code path too.

The fake camera plays a Y4M video written here from segno's PNG of the voucher URL
(Pillow converts it to YUV 4:2:0; no ffmpeg). The desks' clock is moved to the
campaign's first day (2030), which the ledger test world uses.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import re
from pathlib import Path

import segno
from PIL import Image

from tests.conftest import unavailable
from tests.e2e.conftest import CHROMIUM

PASSWORD = "kuat-sekali-2026-sandi"
AT_0830 = dt.datetime(2030, 1, 7, 1, 30, tzinfo=dt.UTC)
WIDTH, HEIGHT = 640, 480


def write_y4m(png: bytes, path: Path, frames: int = 3) -> None:
    """A YUV4MPEG2 video (4:2:0) of the image centred on white, as Chromium's fake
    capture device reads it (it loops the file)."""
    qr = Image.open(io.BytesIO(png)).convert("RGB")
    canvas = Image.new("RGB", (WIDTH, HEIGHT), "white")
    canvas.paste(qr, ((WIDTH - qr.width) // 2, (HEIGHT - qr.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    frame = (
        b"FRAME\n"
        + y.tobytes()
        + cb.resize(half, Image.Resampling.BILINEAR).tobytes()
        + cr.resize(half, Image.Resampling.BILINEAR).tobytes()
    )
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(frame)


def _setup(app) -> dict:
    """A clinic with a published campaign and stock, a check-in member, and two
    booked people with an email address (the ledger test world, dates in 2030)."""
    from core.auth.passwords import hash_password
    from core.db import utcnow
    from core.extensions import db
    from core.models import Membership
    from core.models import Role
    from core.models import User
    from core.tenancy import tenant_context
    from tenants.booking.services import book_slot
    from tenants.booking.services import register_person
    from tenants.vouchers.tokens import voucher_token
    from tests.tenants.ledger_support import BEFORE
    from tests.tenants.ledger_support import build_world
    from tests.tenants.ledger_support import make_tenant

    with app.app_context():
        tenant = make_tenant("klinik-desa")
        user = User(
            email="perawat@klinikdesa.test",
            name="Ns. Wulan",
            password_hash=hash_password(PASSWORD),
            email_verified_at=utcnow(),
            locale="en",
        )
        db.session.add(user)
        db.session.add(Membership(tenant=tenant, user=user, role=Role.CHECKIN))
        db.session.commit()
        with tenant_context(tenant):
            world = build_world(venues=1, stations=2, doses=10)
            people, bookings = [], []
            for n, (name, nik) in enumerate(
                (("Agus Salim", "3171010101800001"), ("Rina Marlina", "3171014101850002"))
            ):
                person = register_person(
                    name, dt.date(1980 + n * 5, 1, 1), nik=nik, email=f"p{n}@warga.test"
                )
                slot = world.slots(world.venues[0])[n]
                bookings.append(
                    book_slot(world.campaign_in_session(), slot.id, person.id, now=BEFORE)
                )
                people.append(person)
            db.session.commit()
            return {
                "slug": tenant.slug,
                "token": voucher_token(bookings[0]),
                "code": bookings[1].voucher_code,
                "lot": "LOT-A",
            }


def _second_dose_code(app, slug: str) -> str:
    import sqlalchemy as sa

    from core.extensions import db
    from core.models import Tenant
    from core.tenancy import tenant_context
    from tenants.booking.models import Booking
    from tenants.booking.models import BookingSource
    from tenants.vouchers.codes import format_code

    with app.app_context():
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
        with tenant_context(tenant):
            (booking,) = db.session.scalars(
                sa.select(Booking).where(Booking.source == BookingSource.SECOND_DOSE)
            ).all()
            assert booking.dose_number == 2
            return format_code(booking.voucher_code)


def _mails_to(outbox: Path, to: str) -> list:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == to:
            found.append(message)
    return found


def test_scan_check_in_screen_vaccinate_and_second_dose_voucher(live_server, tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    from tenants.onsite import clock

    if not Path(CHROMIUM).exists():
        unavailable("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    base, app, outbox = live_server
    data = _setup(app)
    monkeypatch.setattr(clock, "now", lambda: AT_0830)
    video = tmp_path / "voucher.y4m"
    png = io.BytesIO()
    segno.make(f"{base}/v/{data['token']}", error="m").save(png, kind="png", scale=6, border=4)
    write_y4m(png.getvalue(), video)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        try:
            context = browser.new_context(base_url=base, locale="en-GB")
            context.grant_permissions(["camera"], origin=base)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto("/sign-in?lang=en")
            page.get_by_label("Email").fill("perawat@klinikdesa.test")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()

            # The desk: venue and day, remembered for the session.
            desk = f"/o/{data['slug']}/checkin"
            page.goto(desk)
            page.get_by_label("Day").fill("2030-01-07")
            page.get_by_role("button", name="Use this desk").click()
            page.wait_for_url(re.compile(r"/checkin$"))

            # 1. Scan: the fake camera shows the voucher's QR; the form submits itself.
            page.get_by_role("button", name="Scan with the camera").click()
            page.wait_for_url(re.compile(r"/checkin/bookings/[0-9a-f-]{36}$"))
            assert page.locator("#person-name").inner_text() == "Agus Salim"
            assert page.locator("#person-nik").inner_text().endswith("0001")
            page.get_by_label("The KTP matches").check()
            page.get_by_role("button", name="Check in").click()
            page.wait_for_url(re.compile(r"/screening$"))

            # 2. Screening: all "no" (the default), vaccinate.
            page.get_by_label("Vaccinate", exact=True).check()
            page.get_by_role("button", name="Save screening").click()
            page.wait_for_url(re.compile(r"/vaccination$"))

            # 3. The dose from the lot offered first; the person goes to observation.
            page.get_by_label("Lot (batch)").select_option(index=0)
            assert data["lot"] in page.locator("#lot_id option:checked").inner_text()
            page.get_by_role("button", name="Record the dose").click()
            page.wait_for_url(re.compile(r"/observation$"))
            assert "Dose recorded. Observe until 09:00." in page.locator("main").inner_text()
            assert "Next dose booked" in page.locator("main").inner_text()

            # 4. The manual path: the second person's voucher code, typed.
            page.goto(desk)
            page.get_by_label("Voucher code").fill(data["code"])
            page.get_by_role("button", name="Find booking").click()
            page.wait_for_url(re.compile(r"/checkin/bookings/[0-9a-f-]{36}$"))
            assert page.locator("#person-name").inner_text() == "Rina Marlina"
            page.get_by_label("The KTP matches").check()
            page.get_by_role("button", name="Check in").click()
            page.wait_for_url(re.compile(r"/screening$"))
        finally:
            browser.close()

    # The second dose was booked when the first was given; its voucher was mailed.
    second_code = _second_dose_code(app, data["slug"])
    mails = _mails_to(outbox, "p0@warga.test")
    texts = [m.get_body(("plain",)).get_content() for m in mails]
    assert any(second_code in text for text in texts), [m["Subject"] for m in mails]
