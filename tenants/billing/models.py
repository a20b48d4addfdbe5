"""Billing tables: the tenant's billing account, its invoices, and Stripe events seen.

``BillingAccount`` and ``BillingInvoice`` are tenant-owned (composite keys, RLS):
what plan a tenant pays for and its invoices are that tenant's business alone. Stripe
webhooks arrive with no tenant; the webhook resolves the tenant from the Stripe
customer id (read in the SYSTEM scope, through a SELECT-only policy) or from the
Checkout session's ``client_reference_id``, then writes inside ``tenant_context`` so
RLS checks every write. ``StripeEvent`` is platform-level: its primary key, the Stripe
event id, is what makes each event processed once.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.db import UTCDateTime
from core.db import enum_column
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned
from tenants.billing.plans import PlanCode

#: Stripe subscription statuses in which the subscription still grants its plan.
LIVE_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid"})
#: Statuses in which payment is owed: banner, owners emailed, grace period running.
DELINQUENT_STATUSES = frozenset({"past_due", "unpaid"})


class BillingAccount(TenantOwned, db.Model):
    """One per tenant: its Stripe customer, current subscription and standing."""

    __tablename__ = "billing_account"
    __table_args__ = (
        # One account per tenant. Unique constraints include tenant_id (Citus-ready).
        sa.UniqueConstraint("tenant_id"),
        sa.Index("ix_billing_account_stripe_customer_id", "stripe_customer_id"),
    )

    #: the plan the tenant has now (trial until a subscription grants another)
    plan: Mapped[PlanCode] = mapped_column(
        enum_column(PlanCode, "billing_plan"), default=PlanCode.TRIAL
    )
    #: cus_…, created by Sentra before the first Checkout
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    #: sub_…, the subscription the plan comes from
    stripe_subscription_id: Mapped[str | None] = mapped_column(sa.String(255))
    #: Stripe's status of that subscription, as last retrieved (a string: Stripe may add some)
    subscription_status: Mapped[str | None] = mapped_column(sa.String(32))
    current_period_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    #: when payment first failed in the current delinquency; the grace period runs from here
    past_due_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: set by the grace job when new bookings were stopped for non-payment
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def delinquent(self) -> bool:
        return self.subscription_status in DELINQUENT_STATUSES


class BillingInvoice(TenantOwned, db.Model):
    """An invoice as Stripe's ``invoice.*`` webhooks last described it."""

    __tablename__ = "billing_invoice"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "stripe_invoice_id"),
        sa.Index("ix_billing_invoice_tenant_created", "tenant_id", "created"),
    )

    stripe_invoice_id: Mapped[str] = mapped_column(sa.String(255))
    number: Mapped[str | None] = mapped_column(sa.String(100))
    #: draft, open, paid, uncollectible, void
    status: Mapped[str] = mapped_column(sa.String(32))
    #: in the currency's smallest unit, as Stripe sends it
    amount_due: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    currency: Mapped[str] = mapped_column(sa.String(3))
    hosted_invoice_url: Mapped[str | None] = mapped_column(sa.Text)
    period_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: when Stripe created the invoice
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StripeEvent(db.Model):
    """A Stripe event already processed. Inserted in the same transaction as its effect."""

    __tablename__ = "stripe_event"

    #: evt_…
    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    #: the tenant it was resolved to (None: not one of ours, recorded and ignored)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenant.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
