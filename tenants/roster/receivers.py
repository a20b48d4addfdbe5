"""What the roster does when the ledger reports a change to a booking.

A cancelled dependant booking gives its place back to the employee's allowance, so
the employee can book for that family member again (``release_booking`` does it once,
whoever calls it first).
"""

from __future__ import annotations

from core.signals import booking_changed
from tenants.roster.eligibility import release_booking


@booking_changed.connect
def give_back_a_dependant_place(booking, *, change: str, **_kwargs) -> None:
    if change == "cancelled":
        release_booking(booking.id)
