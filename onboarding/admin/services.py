"""Platform admin rules: suspending tenants and managing ministry reviewers.

A suspended tenant keeps its console and its data; what stops is new bookings
(:func:`tenant_can_take_bookings`, which the booking package asks). Vouchers already
issued stay valid: nothing here touches them.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit import log_action

# A new reviewer chooses a first password through auth's reset page and token.
from core.auth.services import RESET_PURPOSE
from core.auth.tokens import external_url
from core.auth.tokens import fingerprint
from core.auth.tokens import make_token
from core.db import utcnow
from core.errors import Conflict
from core.errors import DomainError
from core.extensions import db
from core.mail import send_mail
from core.models import Membership
from core.models import PlatformRole
from core.models import Role
from core.models import Tenant
from core.models import TenantStatus
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus


class AdminError(DomainError):
    """A platform admin rule refused the change."""

    code = "admin_invalid"


def tenant_can_take_bookings(tenant: Tenant) -> bool:
    """Whether ``tenant`` may take new bookings now: active, not pending nor suspended."""
    return tenant.status == TenantStatus.ACTIVE


def _owners(tenant: Tenant) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER)
        )
    )


def _tell_owners(tenant: Tenant, template: str, reason: str) -> None:
    # The outbox row belongs to the tenant, so it is written in the tenant's scope.
    with tenant_context(tenant):
        for owner in _owners(tenant):
            if owner.is_active:
                send_mail(
                    owner.email,
                    template,
                    {"tenant_name": tenant.name, "tenant_slug": tenant.slug, "reason": reason},
                    locale=owner.locale,
                    tenant_id=tenant.id,
                )
        db.session.flush()


def suspend_tenant(tenant: Tenant, actor: User, reason: str) -> Tenant:
    """Stop ``tenant``'s new bookings, with a reason its owners see on the console."""
    if tenant.status == TenantStatus.SUSPENDED:
        raise AdminError(
            _("This organisation is already suspended."), code="already_suspended", status=409
        )
    previous = tenant.status
    tenant.status, tenant.status_reason = TenantStatus.SUSPENDED, reason
    with cross_tenant(Scope.PLATFORM):
        db.session.flush()
        log_action(
            tenant, "onboarding.tenant.suspended", actor, {"reason": reason, "from": previous.value}
        )
        db.session.flush()
    _tell_owners(tenant, "admin/tenant_suspended", reason)
    return tenant


def reactivate_tenant(tenant: Tenant, actor: User, reason: str) -> Tenant:
    """Lift a suspension: active again if a venue is approved, else back to pending."""
    if tenant.status != TenantStatus.SUSPENDED:
        raise AdminError(_("This organisation is not suspended."), code="not_suspended", status=409)
    with tenant_context(tenant):
        approved = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Venue)
            .where(Venue.status == VenueStatus.APPROVED)
        )
    tenant.status = TenantStatus.ACTIVE if approved else TenantStatus.PENDING
    tenant.status_reason = None
    with cross_tenant(Scope.PLATFORM):
        db.session.flush()
        log_action(
            tenant,
            "onboarding.tenant.reactivated",
            actor,
            {"reason": reason, "to": tenant.status.value},
        )
        db.session.flush()
    _tell_owners(tenant, "admin/tenant_reactivated", reason)
    return tenant


def _send_setup_link(user: User) -> None:
    token = make_token(RESET_PURPOSE, {"uid": str(user.id), "fp": fingerprint(user.password_hash)})
    send_mail(
        user.email,
        "admin/reviewer_welcome",
        {"name": user.name, "url": external_url("auth.reset_password", token=token)},
        locale=user.locale,
        tenant_id=None,
    )


def create_reviewer(actor: User, *, email: str, name: str) -> User:
    """Create a ministry reviewer account and email a link to choose a password.

    The account has no usable password until then, and must enrol two-factor sign-in
    at its first sign-in (reviewers always need TOTP).
    """
    email = email.strip().lower()
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise Conflict(
            _("An account with %(email)s exists already.", email=email), code="email_taken"
        )
    user = User(
        email=email,
        name=name.strip(),
        # not an argon2 hash: no password matches until the reviewer sets one
        password_hash="!unset:" + secrets.token_hex(16),
        platform_role=PlatformRole.REVIEWER,
        locale=actor.locale,
    )
    db.session.add(user)
    db.session.flush()
    log_action(user, "onboarding.reviewer.created", actor, {"email": email}, tenant_id=None)
    _send_setup_link(user)
    return user


def _reviewer(user: User) -> User:
    if user.platform_role != PlatformRole.REVIEWER:
        raise AdminError(_("This account is not a reviewer."), code="not_reviewer", status=404)
    return user


def resend_reviewer_setup(user: User, actor: User) -> User:
    """Email a reviewer a new link to choose a password (e.g. the first one expired)."""
    _reviewer(user)
    if user.disabled_at is not None:
        raise AdminError(_("Enable the account first."), code="reviewer_disabled", status=409)
    log_action(user, "onboarding.reviewer.setup_resent", actor, tenant_id=None)
    _send_setup_link(user)
    return user


def disable_reviewer(user: User, actor: User) -> User:
    """Lock a reviewer out now: every session they have ends at their next request."""
    _reviewer(user)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        user.session_version += 1  # their session id no longer matches
        db.session.flush()
        log_action(user, "onboarding.reviewer.disabled", actor, tenant_id=None)
    return user


def enable_reviewer(user: User, actor: User) -> User:
    """Let a disabled reviewer sign in again (with their password and two-factor)."""
    _reviewer(user)
    if user.disabled_at is not None:
        user.disabled_at = None
        db.session.flush()
        log_action(user, "onboarding.reviewer.enabled", actor, tenant_id=None)
    return user
