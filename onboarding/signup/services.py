"""Signing an organisation up: the tenant, its first owner, its contact."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit import log_action
from core.errors import Conflict
from core.errors import DomainError
from core.extensions import db
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import TenantKind
from core.models import TenantStatus
from core.models import User
from core.signals import tenant_created
from core.tenancy import tenant_context
from onboarding.signup.models import TenantContact
from onboarding.signup.schemas import normalise_slug
from onboarding.signup.schemas import slug_problem


class SignupError(DomainError):
    """Organisation sign-up refused the request."""

    code = "signup_invalid"


def create_tenant(
    user: User,
    *,
    kind: TenantKind,
    legal_name: str,
    slug: str,
    province: str,
    city: str,
    contact_phone: str,
) -> Tenant:
    """Create a pending tenant with ``user`` as its owner, and announce it.

    Existing users may create more than one tenant. The slug is checked again here
    (format, reserved words, uniqueness) so no caller can skip the rules; a race on
    the same slug ends in the unique constraint, reported the same way.
    """
    slug = normalise_slug(slug)
    if problem := slug_problem(slug):
        raise SignupError(problem, code="slug_invalid")
    if db.session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(
            _("This address is already taken. Please choose another."), code="slug_taken"
        )
    tenant = Tenant(
        slug=slug,
        name=legal_name.strip(),
        kind=kind,
        status=TenantStatus.PENDING,
        province=province.strip(),
        city=city.strip(),
    )
    db.session.add(tenant)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise Conflict(
            _("This address is already taken. Please choose another."), code="slug_taken"
        ) from exc
    db.session.add(Membership(tenant=tenant, user=user, role=Role.OWNER))
    with tenant_context(tenant):
        db.session.add(TenantContact(phone=contact_phone.strip(), created_by_id=user.id))
        db.session.flush()
        log_action(
            tenant,
            "onboarding.tenant.created",
            user,
            {"slug": slug, "kind": kind.value, "province": tenant.province, "city": tenant.city},
        )
        db.session.flush()
        tenant_created.send(tenant, user=user)
    return tenant


def slug_available(slug: str) -> bool:
    """Whether ``slug`` is well-formed, not reserved and not taken (for the form's hint)."""
    slug = normalise_slug(slug)
    if slug_problem(slug):
        return False
    return db.session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)) is None
