"""Read side of the platform admin: tenant search, a tenant's facts and audit trail."""

from __future__ import annotations

import dataclasses
import math
import uuid

import sqlalchemy as sa

from core.extensions import db
from core.models import AuditEntry
from core.models import Membership
from core.models import PlatformRole
from core.models import Tenant
from core.models import TenantStatus
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant
from onboarding.signup.models import TenantContact
from onboarding.venues.models import Venue

PER_PAGE = 25


@dataclasses.dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_tenants(
    q: str = "", status: TenantStatus | None = None, page: int = 1, per_page: int = PER_PAGE
) -> Page:
    """Tenants whose name or slug contains ``q`` (any case), newest first."""
    query = sa.select(Tenant)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        query = query.where(
            sa.or_(
                sa.func.lower(Tenant.name).like(pattern, escape="\\"),
                Tenant.slug.like(pattern, escape="\\"),
            )
        )
    if status is not None:
        query = query.where(Tenant.status == status)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = db.session.scalars(
        query.order_by(Tenant.created_at.desc(), Tenant.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def get_tenant(tenant_id: str) -> Tenant | None:
    try:
        return db.session.get(Tenant, uuid.UUID(tenant_id))
    except ValueError:
        return None


@dataclasses.dataclass
class TenantFacts:
    members: list[Membership]
    venues: list[Venue]
    contact: TenantContact | None


def tenant_facts(tenant: Tenant) -> TenantFacts:
    """What an operator needs on a tenant's page (read across tenants, platform scope)."""
    members = db.session.scalars(
        sa.select(Membership)
        .where(Membership.tenant_id == tenant.id)
        .order_by(Membership.created_at)
    ).all()
    with cross_tenant(Scope.PLATFORM):
        venues = db.session.scalars(
            sa.select(Venue).where(Venue.tenant_id == tenant.id).order_by(Venue.created_at)
        ).all()
        contact = db.session.scalar(
            sa.select(TenantContact).where(TenantContact.tenant_id == tenant.id)
        )
    return TenantFacts(list(members), list(venues), contact)


def tenant_audit_trail(tenant: Tenant, page: int = 1, per_page: int = 50) -> Page:
    """The tenant's audit lines, newest first, with who did each."""
    with cross_tenant(Scope.PLATFORM):
        query = sa.select(AuditEntry).where(AuditEntry.tenant_id == tenant.id)
        total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        entries = db.session.scalars(
            query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    actor_ids = {e.actor_id for e in entries if e.actor_id}
    actors = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(actor_ids)))}
        if actor_ids
        else {}
    )
    rows = [(e, actors.get(e.actor_id)) for e in entries]
    return Page(rows, total, page, per_page)


def reviewers() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User).where(User.platform_role == PlatformRole.REVIEWER).order_by(User.name)
        )
    )


def get_reviewer(user_id: str) -> User | None:
    try:
        user = db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    if user is None or user.platform_role != PlatformRole.REVIEWER:
        return None
    return user
