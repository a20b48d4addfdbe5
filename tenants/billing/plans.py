"""The plans, as data: what each costs and what it allows.

Prices are monthly, in whole rupiah, for display; what Stripe charges is the Stripe
price the plan maps to (``STRIPE_PRICE_CLINIC`` / ``STRIPE_PRICE_ENTERPRISE``). A limit
of ``None`` means unlimited.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l


class PlanCode(enum.StrEnum):
    TRIAL = "trial"
    CLINIC = "clinic"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True)
class Plan:
    code: PlanCode
    name: str
    #: monthly price in rupiah (display only; Stripe's price is authoritative)
    monthly_price_idr: int
    max_venues: int | None
    max_bookings_per_month: int | None
    max_staff_seats: int | None
    #: the setting holding this plan's Stripe price id (None: not sold through Stripe)
    price_setting: str | None = None

    @property
    def paid(self) -> bool:
        return self.price_setting is not None

    def stripe_price_id(self) -> str | None:
        """The Stripe price id configured for this plan, if any."""
        return current_app.config.get(self.price_setting) if self.price_setting else None


PLANS: dict[PlanCode, Plan] = {
    PlanCode.TRIAL: Plan(
        code=PlanCode.TRIAL,
        name=_l("Trial"),
        monthly_price_idr=0,
        max_venues=1,
        max_bookings_per_month=100,
        max_staff_seats=3,
    ),
    PlanCode.CLINIC: Plan(
        code=PlanCode.CLINIC,
        name=_l("Clinic"),
        monthly_price_idr=1_500_000,
        max_venues=5,
        max_bookings_per_month=5_000,
        max_staff_seats=25,
        price_setting="STRIPE_PRICE_CLINIC",
    ),
    PlanCode.ENTERPRISE: Plan(
        code=PlanCode.ENTERPRISE,
        name=_l("Enterprise"),
        monthly_price_idr=7_500_000,
        max_venues=None,
        max_bookings_per_month=100_000,
        max_staff_seats=None,
        price_setting="STRIPE_PRICE_ENTERPRISE",
    ),
}

#: Billing off (the embedded default): every tenant on a trial without limits.
UNLIMITED_TRIAL = Plan(
    code=PlanCode.TRIAL,
    name=_l("Trial (unlimited, billing off)"),
    monthly_price_idr=0,
    max_venues=None,
    max_bookings_per_month=None,
    max_staff_seats=None,
)


def paid_plans() -> list[Plan]:
    """The plans a tenant can subscribe to through Checkout."""
    return [plan for plan in PLANS.values() if plan.paid]


def plan_for_price(price_id: str | None) -> Plan | None:
    """The plan whose configured Stripe price is ``price_id``, or None."""
    if not price_id:
        return None
    for plan in paid_plans():
        if plan.stripe_price_id() == price_id:
            return plan
    return None
