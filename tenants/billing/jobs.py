"""Periodic billing work, registered with the scheduler (``flask sentra scheduler``).

Imported by :mod:`tenants.billing.views`, so registering the blueprint registers it.
"""

from __future__ import annotations

from core.jobs import register_periodic
from core.tenancy import Scope

#: Hourly. ``booking_allowed`` already refuses from the exact end of the grace period;
#: this run records the suspension, writes the audit line and emails the owners.
GRACE_JOB = register_periodic(
    "billing-grace", "tenants.billing.services.enforce_payment_grace", 3600, Scope.SYSTEM
)
#: Daily: event ids are kept 90 days, far beyond Stripe's 3 days of retries.
PRUNE_JOB = register_periodic(
    "billing-prune-events", "tenants.billing.webhooks.prune_stripe_events", 86400, Scope.SYSTEM
)
#: Hourly: owners hear once a month that their plan's bookings ran out (never silently).
LIMIT_JOB = register_periodic(
    "billing-plan-limits", "tenants.billing.services.notify_plan_limits", 3600, Scope.SYSTEM
)
