"""How packages tell each other what happened, without importing each other.

``core`` knows no feature package; ``onboarding`` and ``tenants`` connect receivers.
Signals are sent by services after the state change is flushed, inside the unit of
work, so receivers that write take part in the same transaction.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: sender: the Tenant; kwargs: user (the owner who created it)
tenant_created = _signals.signal("tenant-created")
#: sender: the Venue; kwargs: reviewer, decision
venue_approved = _signals.signal("venue-approved")
#: sender: the Booking
booking_created = _signals.signal("booking-created")
#: sender: the Booking as it is now; kwargs: change ("rescheduled" | "cancelled"),
#: previous_slot_id (rescheduled only)
booking_changed = _signals.signal("booking-changed")
#: sender: the User; kwargs: tenant (or None)
user_signed_in = _signals.signal("user-signed-in")

# Vetoes: sent before a change; a receiver refuses it by raising a DomainError (e.g.
# billing when the plan's limit is reached). Lets onboarding ask tenants/billing without
# importing it.
#: sender: the tenant id; sent before a venue is added
venue_adding = _signals.signal("venue-adding")
#: sender: the tenant id; sent before a staff member is invited or joins
member_adding = _signals.signal("member-adding")
