"""Plan limits on venues and staff seats, enforced where onboarding adds them.

Onboarding sends :data:`core.signals.venue_adding` / :data:`core.signals.member_adding`
before the change; these receivers refuse it when the plan's limit is used up.
(Bookings are checked by the ledger itself, which may import billing.)
"""

from __future__ import annotations

from core import signals
from core.errors import DomainError
from tenants.billing.queries import Allowance
from tenants.billing.queries import seat_allowed
from tenants.billing.queries import venue_allowed


class PlanLimitReached(DomainError):
    """The tenant's plan allows no more of this; the message says how to upgrade."""

    status = 402


def _refuse_unless(allowance: Allowance) -> None:
    if not allowance.allowed:
        raise PlanLimitReached(allowance.owner_message, code=allowance.reason)


@signals.venue_adding.connect
def check_venue_limit(tenant_id, **kwargs) -> None:
    _refuse_unless(venue_allowed(tenant_id))


@signals.member_adding.connect
def check_seat_limit(tenant_id, **kwargs) -> None:
    _refuse_unless(seat_allowed(tenant_id))
