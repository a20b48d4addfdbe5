"""The booking ledger: people, bookings, administrations, the waitlist and the services
that move the slot and stock counters together, so no dose is promised twice."""
