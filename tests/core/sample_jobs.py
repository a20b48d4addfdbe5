"""Job functions for the job and scheduler tests (imported by dotted path, also by a
real rq worker in a subprocess, so this module imports nothing from pytest)."""

from __future__ import annotations

import sqlalchemy as sa

from core.extensions import db
from core.tenancy import current_scope
from core.tenancy import current_tenant_id
from onboarding.venues.models import Venue

#: in-process runs append here (only meaningful without Redis or with SimpleWorker)
calls: list[dict] = []


def add_venue(name: str) -> str:
    """Create a venue in the job's tenant (tenant_id comes from the context)."""
    venue = Venue(name=name, address="Jl. Sudirman 1", province="DKI Jakarta", city="Jakarta")
    db.session.add(venue)
    db.session.flush()
    return str(venue.tenant_id)


def venue_names() -> list[str]:
    """What the job's tenant can see: only its own venues (ORM scope and, on PG, RLS)."""
    return sorted(db.session.scalars(sa.select(Venue.name)))


def venue_count_raw() -> int:
    """Raw SQL bypasses the ORM scope; on PostgreSQL row-level security still applies."""
    return db.session.execute(sa.text("SELECT count(*) FROM venue")).scalar_one()


def add_venue_then_fail(name: str) -> None:
    add_venue(name)
    raise RuntimeError("the job broke after writing")


def record(**kwargs) -> None:
    tenant = current_tenant_id()
    scope = current_scope()
    calls.append(
        {
            "kwargs": kwargs,
            "tenant_id": str(tenant) if tenant else None,
            "scope": str(scope) if scope else None,
        }
    )
