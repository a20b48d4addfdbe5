"""Periodic ledger work, run by the scheduler across tenants (SYSTEM scope)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from core.extensions import db
from core.jobs import register_periodic
from core.models import Tenant
from core.tenancy import tenant_context
from tenants.booking.services import expire_offers
from tenants.booking.transaction import run_in_transaction
from tenants.stock.services import ExpiryReport
from tenants.stock.services import expire_lots


def expire_for_tenant(
    tenant_id: uuid.UUID, today: dt.date | None = None
) -> tuple[ExpiryReport, int]:
    """Expire one tenant's lots past their date and move its unanswered waitlist offers
    on; each in its own ledger transaction. Returns the expiry report and offers moved."""
    with tenant_context(tenant_id):
        report = run_in_transaction(lambda: expire_lots(today=today))
        offers = run_in_transaction(expire_offers)
    return report, offers


def expire_stock_everywhere(today: str | None = None) -> int:
    """Job (hourly; idempotent): :func:`expire_for_tenant` for every tenant, so expired
    doses stop counting as on hand without anyone running a command. Returns the doses
    expired. ``today`` (ISO date) is for tests; by default each venue's own date."""
    day = dt.date.fromisoformat(today) if today else None
    expired = 0
    for tenant_id in db.session.scalars(sa.select(Tenant.id).order_by(Tenant.id)).all():
        report, _ = expire_for_tenant(tenant_id, day)
        expired += sum(report.expired.values())
    return expired


EXPIRY_JOB = register_periodic(
    "stock-expiry", "tenants.booking.jobs.expire_stock_everywhere", interval=3600
)
