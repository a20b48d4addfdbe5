"""Team rules: invitations, roles, removal and end dates.

Who may do what (decided here, enforced here, whatever the caller):

- Owners manage everyone and may give any role, including owner and admin.
- Admins manage coordinators and check-in staff only, and give only those roles:
  making or unmaking an owner or admin takes an owner.
- Invitations carry admin, coordinator or check-in; an owner is made by promoting
  a member, so ownership is never handed to an address nobody has signed in with.
- The tenant always keeps at least one owner without an end date: the last one can
  be neither removed, demoted nor end-dated. The owners' rows are locked while
  this is checked, so two owners demoting each other at once cannot both succeed.

Every change is audited and the member is told by email.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask import url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

from core import signals
from core.access import ROLE_RANK
from core.audit import log_action
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.ids import uuid7
from core.mail import send_mail
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import User
from core.tenancy import tenant_context
from onboarding.team.models import Invitation
from onboarding.team.models import InvitationState
from onboarding.team.schemas import INVITABLE_ROLES

INVITATION_LIFETIME = dt.timedelta(days=7)
#: end dates are calendar days in Indonesia's western time (most tenants); access
#: lasts through the whole day given
END_DATE_ZONE = ZoneInfo("Asia/Jakarta")
_SALT = "sentra.team.invitation"
#: roles an admin (not an owner) may manage and give
_ADMIN_MANAGEABLE = frozenset({Role.COORDINATOR, Role.CHECKIN})


class TeamError(DomainError):
    """A team rule refused the change."""

    code = "team_invalid"


# --- tokens -----------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_token(invitation: Invitation) -> str:
    """Give ``invitation`` a fresh secret; return the signed token for its link."""
    secret = secrets.token_urlsafe(32)
    invitation.token_hash = _hash(secret)
    return _serializer().dumps(
        {"t": str(invitation.tenant_id), "i": str(invitation.id), "k": secret}
    )


def find_invitation(token: str) -> Invitation:
    """The invitation a link's token names, whatever its state; TeamError if it is not one.

    The signature keeps forged tokens from reaching the database; the stored hash
    makes an earlier link (before a resend) stop working.
    """
    try:
        payload = _serializer().loads(token)
        tenant_id, invitation_id = uuid.UUID(payload["t"]), uuid.UUID(payload["i"])
        secret = str(payload["k"])
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise TeamError(
            _("This invitation link is not valid. Ask for a new invitation."),
            code="invitation_invalid",
            status=404,
        ) from exc
    with tenant_context(tenant_id):
        invitation = db.session.get(Invitation, (tenant_id, invitation_id))
    if invitation is None or not hmac.compare_digest(invitation.token_hash, _hash(secret)):
        raise TeamError(
            _("This invitation link is no longer valid. Ask for a new invitation."),
            code="invitation_invalid",
            status=404,
        )
    return invitation


def invitation_url(token: str) -> str:
    return url_for("invitations.show", token=token, _external=False)


# --- permissions ------------------------------------------------------------------


def _require_manager(actor: Membership, *roles: Role) -> None:
    """Refuse unless ``actor`` may touch members holding, or receiving, ``roles``."""
    if actor.role == Role.OWNER:
        return
    if actor.role == Role.ADMIN and all(r in _ADMIN_MANAGEABLE for r in roles):
        return
    raise TeamError(
        _("Only an owner can give, change or remove the owner and admin roles."),
        code="owner_required",
        status=403,
    )


def _ensure_another_owner(membership: Membership) -> None:
    """Refuse a change that would leave the tenant with no owner without an end date."""
    if membership.role != Role.OWNER:
        return
    # Lock every owner row of the tenant, the target's included, in one order (user id):
    # two owners demoting each other at once then queue on the same first row instead of
    # deadlocking, and the second one re-reads the owners after the first commits.
    owners = db.session.scalars(
        sa.select(Membership)
        .where(Membership.tenant_id == membership.tenant_id, Membership.role == Role.OWNER)
        .order_by(Membership.user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if not any(m.ends_at is None for m in owners if m.user_id != membership.user_id):
        raise TeamError(
            _(
                "%(name)s is the last owner. Make another member an owner first.",
                name=membership.user.name,
            ),
            code="last_owner",
            status=409,
        )


def _notify(membership: Membership, template: str, **context) -> None:
    tenant = membership.tenant
    send_mail(
        membership.user.email,
        template,
        {"tenant_name": tenant.name, "tenant_slug": tenant.slug, **context},
        locale=membership.user.locale,
        tenant_id=tenant.id,
    )


# --- invitations ------------------------------------------------------------------


def invite_member(tenant: Tenant, actor: Membership, *, email: str, role: Role) -> Invitation:
    """Invite ``email`` to join ``tenant`` with ``role``, and email them the link."""
    email = email.strip().lower()
    if role not in INVITABLE_ROLES:
        raise TeamError(_("Invite as admin, coordinator or check-in staff."), code="role_invalid")
    _require_manager(actor, role)
    signals.member_adding.send(tenant.id)
    member = db.session.scalar(
        sa.select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant.id, User.email == email)
    )
    if member is not None and member.is_current():
        raise TeamError(
            _("%(email)s is already a member of the team.", email=email),
            code="already_member",
            status=409,
        )
    pending = [
        i
        for i in db.session.scalars(
            sa.select(Invitation).where(
                Invitation.tenant_id == tenant.id, Invitation.email == email
            )
        )
        if i.state() == InvitationState.PENDING
    ]
    if pending:
        raise TeamError(
            _("%(email)s has a pending invitation already: resend it instead.", email=email),
            code="already_invited",
            status=409,
        )
    now = utcnow()
    invitation = Invitation(
        tenant_id=tenant.id,
        id=uuid7(),  # the signed token names it, so it is made before the flush
        email=email,
        role=role,
        expires_at=now + INVITATION_LIFETIME,
        invited_by_id=actor.user_id,
        sent_at=now,
    )
    token = _new_token(invitation)
    db.session.add(invitation)
    db.session.flush()
    log_action(
        invitation,
        "onboarding.invitation.created",
        actor.user,
        {"email": email, "role": role.value},
    )
    _send_invitation(invitation, token, actor.user)
    return invitation


def _send_invitation(invitation: Invitation, token: str, inviter: User) -> None:
    tenant = db.session.get(Tenant, invitation.tenant_id)
    send_mail(
        invitation.email,
        "team/invitation",
        {
            "tenant_name": tenant.name,
            "inviter_name": inviter.name,
            "role": invitation.role.value,
            "path": invitation_url(token),
            "expires_on": invitation.expires_at.astimezone(END_DATE_ZONE).strftime("%Y-%m-%d"),
        },
        locale=inviter.locale,
        tenant_id=tenant.id,
    )


def resend_invitation(invitation: Invitation, actor: Membership) -> Invitation:
    """Send a pending or expired invitation again with a new link and a new expiry."""
    _require_manager(actor, invitation.role)
    if invitation.state() in (InvitationState.ACCEPTED, InvitationState.REVOKED):
        raise TeamError(
            _("This invitation was already accepted or revoked."),
            code="invitation_closed",
            status=409,
        )
    now = utcnow()
    invitation.expires_at = now + INVITATION_LIFETIME
    invitation.sent_at = now
    token = _new_token(invitation)  # the old link stops working
    db.session.flush()
    log_action(invitation, "onboarding.invitation.resent", actor.user, {"email": invitation.email})
    _send_invitation(invitation, token, actor.user)
    return invitation


def revoke_invitation(invitation: Invitation, actor: Membership) -> Invitation:
    """Withdraw an invitation that has not been accepted."""
    _require_manager(actor, invitation.role)
    if invitation.accepted_at is not None:
        raise TeamError(
            _("This invitation was already accepted: remove the member instead."),
            code="invitation_closed",
            status=409,
        )
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        db.session.flush()
        log_action(
            invitation, "onboarding.invitation.revoked", actor.user, {"email": invitation.email}
        )
    return invitation


def accept_invitation(token: str, user: User) -> Membership:
    """Make ``user`` a member with the invitation's role; the user's email must match."""
    invitation = find_invitation(token)
    state = invitation.state()
    if state != InvitationState.PENDING:
        messages = {
            InvitationState.ACCEPTED: _("This invitation was already accepted."),
            InvitationState.REVOKED: _("This invitation was withdrawn."),
            InvitationState.EXPIRED: _("This invitation has expired. Ask for a new one."),
        }
        raise TeamError(messages[state], code=f"invitation_{state.value}", status=409)
    if user.email.lower() != invitation.email:
        raise TeamError(
            _(
                "This invitation is for %(email)s. Sign in with that address to accept it.",
                email=invitation.email,
            ),
            code="invitation_wrong_user",
            status=403,
        )
    signals.member_adding.send(invitation.tenant_id)
    tenant = db.session.get(Tenant, invitation.tenant_id)
    with tenant_context(tenant):
        membership = db.session.get(Membership, (tenant.id, user.id))
        if membership is None:
            membership = Membership(tenant=tenant, user=user, role=invitation.role)
            db.session.add(membership)
        else:  # a former member whose access had ended comes back
            membership.role, membership.ends_at = invitation.role, None
        now = utcnow()
        invitation.accepted_at, invitation.accepted_by_id = now, user.id
        if user.email_verified_at is None:
            # The link reached this mailbox: that proves the address as a verification would.
            user.email_verified_at = now
        db.session.flush()
        log_action(
            invitation, "onboarding.invitation.accepted", user, {"role": invitation.role.value}
        )
        db.session.flush()  # inside the tenant's scope: RLS checks the audit line's tenant
    return membership


def pending_invitations(tenant: Tenant) -> list[Invitation]:
    """Invitations not accepted nor revoked (expired ones included, to resend)."""
    with tenant_context(tenant):
        rows = db.session.scalars(
            sa.select(Invitation)
            .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
            .order_by(Invitation.created_at)
        ).all()
    return list(rows)


# --- members ----------------------------------------------------------------------


def change_member_role(membership: Membership, actor: Membership, role: Role) -> Membership:
    """Give ``membership`` a new role (owners may give any; admins coordinator/check-in)."""
    if role == membership.role:
        return membership
    _require_manager(actor, membership.role, role)
    if ROLE_RANK[role] < ROLE_RANK[membership.role]:
        _ensure_another_owner(membership)
    old = membership.role
    membership.role = role
    db.session.flush()
    log_action(
        membership.user,
        "onboarding.member.role_changed",
        actor.user,
        {"from": old.value, "to": role.value},
        tenant_id=membership.tenant_id,
    )
    _notify(membership, "team/role_changed", role=role.value, previous_role=old.value)
    return membership


def remove_member(membership: Membership, actor: Membership) -> None:
    """Take ``membership``'s access away now; its history (audit, records) stays."""
    _require_manager(actor, membership.role)
    _ensure_another_owner(membership)
    user, tenant_id, role = membership.user, membership.tenant_id, membership.role
    _notify(membership, "team/removed", role=role.value)
    db.session.delete(membership)
    db.session.flush()
    log_action(
        user, "onboarding.member.removed", actor.user, {"role": role.value}, tenant_id=tenant_id
    )


def end_of_day(day: dt.date) -> dt.datetime:
    """The instant access ends for an end date: midnight after ``day`` in Jakarta."""
    start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=END_DATE_ZONE)
    return start.astimezone(dt.UTC)


def set_membership_end(
    membership: Membership, actor: Membership, ends_on: dt.date | None
) -> Membership:
    """End ``membership``'s access after ``ends_on`` (a calendar day), or clear the end."""
    _require_manager(actor, membership.role)
    ends_at = None
    if ends_on is not None:
        ends_at = end_of_day(ends_on)
        if ends_at <= utcnow():
            raise TeamError(
                _("Choose today or a later day. To end access now, remove the member."),
                code="end_date_past",
            )
        _ensure_another_owner(membership)
    membership.ends_at = ends_at
    db.session.flush()
    log_action(
        membership.user,
        "onboarding.member.end_date_set" if ends_at else "onboarding.member.end_date_cleared",
        actor.user,
        {"ends_on": ends_on.isoformat() if ends_on else None},
        tenant_id=membership.tenant_id,
    )
    _notify(
        membership,
        "team/end_date",
        ends_on=ends_on.isoformat() if ends_on else None,
    )
    return membership


def team_members(tenant: Tenant) -> list[Membership]:
    """Everyone with a membership row, current or ended, owners first."""
    rows = db.session.scalars(
        sa.select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant.id)
        .order_by(User.name)
    ).all()
    return sorted(rows, key=lambda m: -ROLE_RANK[m.role])
