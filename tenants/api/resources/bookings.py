"""Bookings through the ledger's services: create, get, cancel, reschedule.

The services run in the request's transaction, committed once at the edge together
with the Idempotency-Key record, so a retried POST can never book twice. A lock
conflict the ledger would retry (deadlock, lock timeout) answers 503 ``busy`` with
nothing taken: the client retries, safely with the same Idempotency-Key.
"""

from __future__ import annotations

import uuid

from flask import url_for

from core.access import get_or_404
from core.api.models import ApiScope
from tenants.api.blueprint import api
from tenants.api.schemas import BookingCreateSchema
from tenants.api.schemas import BookingRescheduleSchema
from tenants.api.schemas import BookingSchema
from tenants.booking.models import Booking
from tenants.booking.services import book_slot
from tenants.booking.services import cancel_booking
from tenants.booking.services import offer_seat_freed_in
from tenants.booking.services import person_with_nik
from tenants.booking.services import reschedule_booking
from tenants.campaigns.models import Campaign

LEDGER_REFUSALS = {
    404: "No such booking (or campaign, or slot) in this tenant.",
    409: "The ledger refused (`code`: slot_full, no_doses, duplicate_booking, not_open, "
    "age_limit, not_active, …), or an Idempotency-Key request is still running.",
    503: "Busy: a lock could not be taken in time; nothing was taken, retry.",
}


@api.operation(
    "/bookings",
    method="POST",
    summary="Book a slot",
    scope=ApiScope.BOOKINGS,
    body=BookingCreateSchema(),
    response=BookingSchema(),
    tags=["bookings"],
    errors=LEDGER_REFUSALS,
)
def create_booking(data: dict):
    """Take a seat in the slot and promise a dose at its venue for the person (found by
    NIK, or registered). Refusals name their reason in ``code``; nothing is taken."""
    campaign = get_or_404(Campaign, data["campaign_id"])
    details = data["person"]
    person, _created = person_with_nik(
        details["full_name"],
        details["date_of_birth"],
        nik=details["nik"],
        sex=details["sex"],
        phone=details["phone"],
        email=details["email"],
    )
    booking = book_slot(campaign, data["slot_id"], person.id, dose_number=data["dose_number"])
    return booking, {"Location": url_for(".get_booking", booking_id=booking.id)}


@api.operation(
    "/bookings/<uuid:booking_id>",
    summary="Get a booking",
    scope=ApiScope.READ,
    response=BookingSchema(),
    tags=["bookings"],
)
def get_booking(booking_id: uuid.UUID):
    """One booking of the tenant."""
    return get_or_404(Booking, booking_id)


@api.operation(
    "/bookings/<uuid:booking_id>/cancel",
    method="POST",
    summary="Cancel a booking",
    scope=ApiScope.BOOKINGS,
    response=BookingSchema(),
    status=200,
    tags=["bookings"],
    errors=LEDGER_REFUSALS,
)
def cancel(booking_id: uuid.UUID):
    """Cancel a booked (or checked-in, not yet vaccinated) booking: its seat and
    promised dose return to the counters."""
    booking = get_or_404(Booking, booking_id)
    cancelled = cancel_booking(booking.id)
    offer_seat_freed_in(booking.slot_id, booking.campaign_id)
    return cancelled


@api.operation(
    "/bookings/<uuid:booking_id>/reschedule",
    method="POST",
    summary="Move a booking to another slot",
    scope=ApiScope.BOOKINGS,
    body=BookingRescheduleSchema(),
    response=BookingSchema(),
    status=200,
    tags=["bookings"],
    errors=LEDGER_REFUSALS,
)
def reschedule(booking_id: uuid.UUID, data: dict):
    """Move a booking to another slot of its campaign, atomically: if the new slot is
    full the booking keeps its old one."""
    booking = get_or_404(Booking, booking_id)
    old_slot_id = booking.slot_id
    moved = reschedule_booking(booking.id, data["slot_id"])
    offer_seat_freed_in(old_slot_id, booking.campaign_id)
    return moved
