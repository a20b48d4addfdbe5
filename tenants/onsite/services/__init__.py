"""On-site services, by desk: ``checkin`` (registration), ``screening``,
``vaccination`` (lots, vials, doses, observation, adverse events), ``walkins``,
``closing`` (end of day). Each raises :class:`OnsiteError` or the ledger's
``BookingError``; each flushes, the edge commits (``run_in_transaction``)."""

from tenants.onsite.services.common import OnsiteError

__all__ = ["OnsiteError"]
