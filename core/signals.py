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
#: sender: the User; kwargs: tenant (or None)
user_signed_in = _signals.signal("user-signed-in")
