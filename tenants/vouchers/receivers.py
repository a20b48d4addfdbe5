"""Emails that follow the ledger's signals.

- ``booking_created`` (online, waitlist, second doses booked by
  ``record_administration``, walk-ins): enqueue :func:`tenants.vouchers.jobs.
  mail_voucher` for after the commit; nothing else happens while the ledger holds
  its row locks. Only people who gave an email address get one.
- ``booking_changed``: the new voucher after a reschedule (its reminder is due
  again), or the cancellation notice; written to the outbox in the same transaction
  (changes are rare, and the message must not be lost or sent for a rolled-back one).
- ``waitlist_offered``: the offer with its hold time and signed accept link.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date
from babel.dates import format_time
from flask_babel import force_locale
from flask_babel import get_locale

from core.extensions import db
from core.jobs import enqueue
from core.models import Tenant
from core.signals import booking_changed
from core.signals import booking_created
from onboarding.venues.models import Venue
from tenants.booking.models import Booking
from tenants.booking.models import Person
from tenants.booking.models import WaitlistEntry
from tenants.booking.services.waitlist import waitlist_offered
from tenants.campaigns.models import Campaign
from tenants.stock.models import Product
from tenants.vouchers.details import load_details
from tenants.vouchers.details import map_url
from tenants.vouchers.details import person_locale
from tenants.vouchers.mail import CANCELLED
from tenants.vouchers.mail import send_offer_mail
from tenants.vouchers.mail import send_voucher_mail
from tenants.vouchers.tokens import offer_url


@booking_created.connect
def queue_voucher_mail(booking: Booking, **_kwargs) -> None:
    enqueue(
        "tenants.vouchers.jobs.mail_voucher",
        tenant_id=booking.tenant_id,
        job_id=f"voucher-mail-{booking.id}",
        booking_id=str(booking.id),
    )


@booking_changed.connect
def mail_booking_change(booking: Booking, *, change: str, **_kwargs) -> None:
    if change == "rescheduled":
        db.session.execute(
            sa.update(Booking)
            .where(Booking.tenant_id == booking.tenant_id, Booking.id == booking.id)
            .values(reminder_sent_at=None)
            .execution_options(synchronize_session=False)
        )
    details = load_details(booking.id, booking.tenant_id)
    if details is not None:
        send_voucher_mail(details, "vouchers/rescheduled" if change == "rescheduled" else CANCELLED)


@waitlist_offered.connect
def mail_waitlist_offer(entry: WaitlistEntry, **_kwargs) -> None:
    person = db.session.get(Person, (entry.tenant_id, entry.person_id))
    recipient = person.email if person else None
    if not recipient:
        return
    locale = person_locale(person)
    campaign = db.session.get(Campaign, (entry.tenant_id, entry.campaign_id))
    venue = db.session.get(Venue, (entry.tenant_id, entry.venue_id))
    product = db.session.get(Product, campaign.product_id)
    tenant = db.session.get(Tenant, entry.tenant_id)
    expires = entry.offer_expires_at.astimezone(ZoneInfo(venue.timezone))
    with force_locale(locale):
        code = str(get_locale())
        day = format_date(entry.day, "full", locale=code)
        until = f"{format_date(expires.date(), 'full', locale=code)} " + (
            f"{format_time(expires, 'HH:mm', locale=code)} {expires.tzname()}"
        )
    context = {
        "name": person.full_name,
        "tenant_name": tenant.name,
        "campaign": campaign.name,
        "product": product.name,
        "dose": entry.dose_number,
        "venue": venue.name,
        "address": ", ".join(p for p in (venue.address, venue.city, venue.province) if p),
        "map_url": map_url(venue),
        "day": day,
        "until": until,
        "offer_url": f"{offer_url(entry.tenant_id, entry.id)}?lang={locale}",
        "entry_id": str(entry.id),
    }
    send_offer_mail(entry, context, recipient, locale)
