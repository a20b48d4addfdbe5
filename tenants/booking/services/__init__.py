"""The ledger services: every change to slots, walk-in places and stock promises.

Split by subject (``ledger``: book, cancel, reschedule, no-show, walk-in,
availability; ``administration``: doses given and voided; ``waitlist``; ``people``);
import from here. All raise :class:`BookingError` with a ``code``.
"""

from tenants.booking.services.administration import AdministrationResult
from tenants.booking.services.administration import record_administration
from tenants.booking.services.administration import void_administration
from tenants.booking.services.availability import SlotAvailability
from tenants.booking.services.availability import availability
from tenants.booking.services.common import BookingError
from tenants.booking.services.ledger import book_slot
from tenants.booking.services.ledger import cancel_booking
from tenants.booking.services.ledger import mark_no_show
from tenants.booking.services.ledger import register_walk_in
from tenants.booking.services.ledger import reschedule_booking
from tenants.booking.services.people import duplicate_person
from tenants.booking.services.people import find_person_by_nik
from tenants.booking.services.people import person_with_nik
from tenants.booking.services.people import register_person
from tenants.booking.services.waitlist import accept_offer
from tenants.booking.services.waitlist import expire_offers
from tenants.booking.services.waitlist import join_waitlist
from tenants.booking.services.waitlist import offer_freed_seat
from tenants.booking.services.waitlist import offer_seat_freed_in

__all__ = [
    "AdministrationResult",
    "BookingError",
    "SlotAvailability",
    "accept_offer",
    "availability",
    "book_slot",
    "cancel_booking",
    "duplicate_person",
    "expire_offers",
    "find_person_by_nik",
    "join_waitlist",
    "mark_no_show",
    "offer_freed_seat",
    "offer_seat_freed_in",
    "person_with_nik",
    "record_administration",
    "register_person",
    "register_walk_in",
    "reschedule_booking",
    "void_administration",
]
