"""The voucher emails: what they carry and how they are queued.

Each is an outbox message (``core.mail.send_mail``) whose stored context is plain
strings in the person's language (:meth:`VoucherDetails.mail_context`). The QR (PNG,
inline by ``cid:``) and the ``.ics`` calendar entry are built from that context when
the message is rendered (:func:`voucher_parts`), so the outbox row stays small and
every delivery attempt sends the same bytes.
"""

from __future__ import annotations

import datetime as dt

import icalendar
from flask_babel import gettext as _

from core.db import utcnow
from core.mail import MailPart
from core.mail import register_parts
from core.mail import send_mail
from core.models import OutboxMessage
from tenants.booking.models import WaitlistEntry
from tenants.vouchers.details import VoucherDetails
from tenants.vouchers.details import person_locale
from tenants.vouchers.qr import qr_png

#: emails that carry the voucher (QR and calendar entry)
VOUCHER_TEMPLATES = ("vouchers/confirmed", "vouchers/rescheduled", "vouchers/reminder")
CANCELLED = "vouchers/cancelled"
OFFER = "vouchers/offer"
#: the Content-ID the HTML shows the QR by (``<img src="cid:...">``)
QR_CID = "voucher-qr@sentra"


def send_voucher_mail(details: VoucherDetails, template: str) -> OutboxMessage | None:
    """Queue ``template`` to the person of the booking, in their language; None when
    they gave no email address."""
    recipient = details.person.email
    if not recipient:
        return None
    locale = person_locale(details.person)
    context = details.mail_context(locale)
    # The calendar entry's revision: a later email about the same booking replaces
    # the entry in the person's calendar instead of adding a second one.
    context["sequence"] = int(utcnow().timestamp())
    return send_mail(
        recipient, template, context, locale=locale, tenant_id=details.booking.tenant_id
    )


def send_offer_mail(entry: WaitlistEntry, context: dict, recipient: str, locale: str):
    """Queue the waitlist offer (``context`` from the receiver: strings and the link)."""
    return send_mail(recipient, OFFER, context, locale=locale, tenant_id=entry.tenant_id)


def calendar_entry(context: dict) -> bytes:
    """An iCalendar file for the appointment (RFC 5545), one event with a stable UID."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Sentra//Vouchers//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"booking-{context['booking_id']}@sentra")
    event.add("sequence", context.get("sequence", 0))
    event.add("dtstamp", utcnow())
    event.add("dtstart", dt.datetime.fromisoformat(context["starts_at"]))
    event.add("dtend", dt.datetime.fromisoformat(context["ends_at"]))
    event.add(
        "summary",
        _("Vaccination: %(product)s, dose %(n)s", product=context["product"], n=context["dose"]),
    )
    event.add("location", f"{context['venue']}, {context['address']}")
    event.add(
        "description",
        "\n".join(
            [
                f"{context['campaign']} ({context['tenant_name']})",
                _("Voucher code: %(code)s", code=context["code"]),
                _("Bring your KTP and this voucher."),
                context["voucher_url"],
                _("Reschedule or cancel: %(url)s", url=context["manage_url"]),
                context["map_url"],
            ]
        ),
    )
    event.add("url", context["voucher_url"])
    event.add("status", "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()


def voucher_parts(context: dict) -> list[MailPart]:
    """The QR of the voucher URL, inline, and the calendar entry when there is a slot."""
    parts = [MailPart(qr_png(context["voucher_url"]), "image/png", "voucher-qr.png", QR_CID)]
    if context.get("starts_at") and context.get("status") == "booked":
        parts.append(MailPart(calendar_entry(context), "text/calendar", "vaccination.ics"))
    return parts


for _template in VOUCHER_TEMPLATES:
    register_parts(_template, voucher_parts)
