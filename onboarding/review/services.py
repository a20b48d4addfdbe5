"""The ministry's review of venues: the queue, claims and decisions.

Everything here runs inside ``cross_tenant(Scope.REVIEW)``: the database lets that
scope read venues, their documents and their decisions, update venues and insert
decisions, and nothing else of a tenant (no bookings, no registrants).

Two reviewers must never decide the same venue at once. A reviewer first *claims*
the venue for :data:`CLAIM_DURATION`; the claim and the decision are each one
conditional ``UPDATE … WHERE`` (status still submitted, no live claim of someone
else), so the database settles a race: of two reviewers, one updates a row and the
other updates none and is told so. No read-then-write in Python.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.audit import log_action
from core.db import utcnow
from core.errors import Conflict
from core.errors import DomainError
from core.errors import NotFound
from core.extensions import db
from core.mail import send_mail
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import TenantKind
from core.models import TenantStatus
from core.models import User
from core.signals import venue_approved
from core.tenancy import Scope
from core.tenancy import current_scope
from core.tenancy import tenant_context
from onboarding.venues.models import ReviewDecision
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueDocument
from onboarding.venues.models import VenueReview
from onboarding.venues.models import VenueStatus
from onboarding.venues.services import current_documents

CLAIM_DURATION = dt.timedelta(minutes=15)

#: What a reviewer confirms before approving; every item must be ticked to approve.
CHECKLIST = {
    "address_matches_permit": _l("The address matches the permit letter."),
    "permit_valid": _l("The permit letter is valid, signed and stamped by the issuing office."),
    "entrance_photo": _l("The entrance photo shows an accessible, identifiable entrance."),
    "vaccination_area": _l(
        "The vaccination area has room for the stations, privacy and an observation area."
    ),
    "cold_chain": _l("Vaccines can be stored in a cold chain at the venue (refrigerator shown)."),
}


class ReviewError(DomainError):
    """A review rule refused the decision."""

    code = "review_invalid"


def _require_review_scope() -> None:
    if current_scope() != Scope.REVIEW:
        raise RuntimeError("review services run inside cross_tenant(Scope.REVIEW)")


@dataclass(frozen=True)
class QueueEntry:
    venue: Venue
    tenant_name: str
    tenant_kind: TenantKind
    waiting: dt.timedelta


def review_queue(
    *,
    province: str | None = None,
    kind: TenantKind | None = None,
    min_wait: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> list[QueueEntry]:
    """Submitted venues, oldest first, with how long each has waited."""
    _require_review_scope()
    now = now or utcnow()
    query = (
        sa.select(Venue, Tenant.name, Tenant.kind)
        .join(Tenant, Tenant.id == Venue.tenant_id)
        .where(Venue.status == VenueStatus.SUBMITTED)
        .order_by(Venue.submitted_at, Venue.id)
    )
    if province:
        query = query.where(Venue.province == province)
    if kind:
        query = query.where(Tenant.kind == kind)
    if min_wait:
        query = query.where(Venue.submitted_at <= now - min_wait)
    return [
        QueueEntry(venue, name, tenant_kind, now - venue.submitted_at)
        for venue, name, tenant_kind in db.session.execute(query)
    ]


def queue_provinces() -> list[str]:
    """The provinces that have venues waiting (for the queue's filter)."""
    _require_review_scope()
    return list(
        db.session.scalars(
            sa.select(Venue.province)
            .where(Venue.status == VenueStatus.SUBMITTED)
            .distinct()
            .order_by(Venue.province)
        )
    )


def load_venue(tenant_id: uuid.UUID | str, venue_id: uuid.UUID | str) -> Venue:
    """A venue sent to the ministry (any tenant) by its ids, or 404 (``NotFound``)."""
    _require_review_scope()
    try:
        key = (uuid.UUID(str(tenant_id)), uuid.UUID(str(venue_id)))
    except ValueError:
        raise NotFound(_("This venue does not exist.")) from None
    venue = db.session.get(Venue, key)
    # A draft was never sent to the ministry: it is the tenant's work in progress.
    if venue is None or venue.status == VenueStatus.DRAFT:
        raise NotFound(_("This venue does not exist."))
    return venue


def load_document(tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> VenueDocument:
    """A document sent to the ministry (any tenant) by its ids, or 404 (``NotFound``)."""
    _require_review_scope()
    try:
        key = (uuid.UUID(str(tenant_id)), uuid.UUID(str(document_id)))
    except ValueError:
        raise NotFound(_("This document does not exist.")) from None
    document = db.session.get(VenueDocument, key)
    if document is None or not document.submitted:
        raise NotFound(_("This document does not exist."))
    return document


def claim_statement(
    tenant_id: uuid.UUID, venue_id: uuid.UUID, reviewer_id: uuid.UUID, now: dt.datetime
) -> sa.Update:
    """The one statement that claims a venue: it matches no row if someone else holds it.

    On PostgreSQL a concurrent claim waits for the first one's row lock and then
    re-checks the WHERE clause against the committed row, so exactly one wins.
    """
    table = Venue.__table__
    return (
        sa.update(table)
        .where(
            table.c.tenant_id == tenant_id,
            table.c.id == venue_id,
            table.c.status == VenueStatus.SUBMITTED.value,
            sa.or_(
                table.c.claimed_by_id.is_(None),
                table.c.claimed_by_id == reviewer_id,
                table.c.claim_expires_at <= now,
            ),
        )
        .values(claimed_by_id=reviewer_id, claim_expires_at=now + CLAIM_DURATION)
        .returning(table.c.id)
    )


def claim_venue(venue: Venue, reviewer: User, *, now: dt.datetime | None = None) -> dt.datetime:
    """Claim a submitted venue for :data:`CLAIM_DURATION`; return when the claim ends.

    Raises ``Conflict`` (code ``claimed``) if another reviewer holds a live claim, or
    (``not_submitted``) if the venue is no longer waiting for a decision.
    """
    _require_review_scope()
    now = now or utcnow()
    expires = now + CLAIM_DURATION
    claimed = db.session.execute(
        claim_statement(venue.tenant_id, venue.id, reviewer.id, now)
    ).first()
    db.session.expire(venue)
    if claimed is None:
        _explain_refusal(venue, reviewer, now)
    log_action(venue, "onboarding.venue.claimed", reviewer, {"until": expires.isoformat()})
    return expires


def release_claim(venue: Venue, reviewer: User) -> bool:
    """Give up one's own claim (another reviewer's claim is left alone). True if released."""
    _require_review_scope()
    table = Venue.__table__
    released = db.session.execute(
        sa.update(table)
        .where(
            table.c.tenant_id == venue.tenant_id,
            table.c.id == venue.id,
            table.c.claimed_by_id == reviewer.id,
        )
        .values(claimed_by_id=None, claim_expires_at=None)
        .returning(table.c.id)
    ).first()
    db.session.expire(venue)
    if released is not None:
        log_action(venue, "onboarding.venue.released", reviewer)
    return released is not None


def _explain_refusal(venue: Venue, reviewer: User, now: dt.datetime):
    """Say why a conditional update matched no row (the row as it is now)."""
    db.session.refresh(venue)
    if venue.status != VenueStatus.SUBMITTED:
        raise Conflict(
            _("This venue is no longer waiting for review; someone has decided it."),
            code="not_submitted",
        )
    if venue.claimed_by_id not in (None, reviewer.id) and venue.claim_is_live(now):
        raise Conflict(
            _(
                "Another reviewer is deciding this venue until %(until)s. "
                "Pick another venue from the queue.",
                until=format_datetime(venue.claim_expires_at, "short"),
            ),
            code="claimed",
        )
    raise Conflict(
        _("Your claim on this venue has expired. Claim it again before deciding."),
        code="claim_expired",
    )


def decide_venue(
    venue: Venue,
    reviewer: User,
    decision: ReviewDecision,
    comment: str | None,
    checklist: dict[str, bool],
    *,
    now: dt.datetime | None = None,
) -> VenueReview:
    """Record a reviewer's decision on a venue they hold a live claim on.

    Approving needs every checklist item ticked; asking for changes or rejecting needs
    a comment, because the tenant must know what to do. The tenant's owners and
    admins get an email; the first approved venue makes a pending tenant active.
    """
    _require_review_scope()
    now = now or utcnow()
    comment = (comment or "").strip() or None
    answers = {item: bool(checklist.get(item)) for item in CHECKLIST}
    if decision == ReviewDecision.APPROVED and not all(answers.values()):
        raise ReviewError(
            _("Tick every item of the checklist before approving."), code="checklist_incomplete"
        )
    if decision != ReviewDecision.APPROVED and not comment:
        raise ReviewError(
            _("Write a comment for the organiser: what is wrong and what to do."),
            code="comment_required",
        )
    table = Venue.__table__
    decided = db.session.execute(
        sa.update(table)
        .where(
            table.c.tenant_id == venue.tenant_id,
            table.c.id == venue.id,
            table.c.status == VenueStatus.SUBMITTED.value,
            table.c.claimed_by_id == reviewer.id,
            table.c.claim_expires_at > now,
        )
        .values(
            status=decision.value,
            decided_at=now,
            claimed_by_id=None,
            claim_expires_at=None,
        )
        .returning(table.c.id)
    ).first()
    db.session.expire(venue)
    if decided is None:
        _explain_refusal(venue, reviewer, now)
    documents = [str(d.id) for d in current_documents(venue, submitted_only=True).values()]
    review = VenueReview(
        tenant_id=venue.tenant_id,
        venue_id=venue.id,
        decision=decision,
        comment=comment,
        reviewer_id=reviewer.id,
        decided_at=now,
        checklist=answers,
        document_ids=documents,
    )
    db.session.add(review)
    db.session.flush()
    log_action(
        venue,
        f"onboarding.venue.{decision.value}",
        reviewer,
        {"review_id": str(review.id), "comment": comment, "checklist": answers},
    )
    tenant = db.session.get(Tenant, venue.tenant_id)
    if decision == ReviewDecision.APPROVED:
        _activate_tenant(tenant, reviewer)
        venue_approved.send(venue, reviewer=reviewer, decision=review)
    _notify_tenant(tenant, venue, review)
    return review


def _activate_tenant(tenant: Tenant, reviewer: User) -> None:
    """A pending tenant becomes active with its first approved venue (never a suspended one)."""
    activated = db.session.execute(
        sa.update(Tenant.__table__)
        .where(
            Tenant.__table__.c.id == tenant.id,
            Tenant.__table__.c.status == TenantStatus.PENDING.value,
        )
        .values(status=TenantStatus.ACTIVE.value)
        .returning(Tenant.__table__.c.id)
    ).first()
    db.session.expire(tenant)
    if activated is not None:
        log_action(tenant, "onboarding.tenant.activated", reviewer, {"reason": "venue_approved"})


def tenant_managers(tenant_id: uuid.UUID) -> list[User]:
    """The tenant's current owners and admins, who hear about decisions."""
    now = utcnow()
    return list(
        db.session.scalars(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.role.in_([Role.OWNER, Role.ADMIN]),
                sa.or_(Membership.ends_at.is_(None), Membership.ends_at > now),
                User.disabled_at.is_(None),
            )
            .order_by(User.email)
        )
    )


def _notify_tenant(tenant: Tenant, venue: Venue, review: VenueReview) -> None:
    context = {
        "tenant_name": tenant.name,
        "venue_name": venue.name,
        "decision": review.decision.value,
        "comment": review.comment,
        "venue_path": f"/o/{tenant.slug}/venues/{venue.id}",
    }
    recipients = tenant_managers(tenant.id)
    # The outbox belongs to the tenant: its rows are written in the tenant's own scope.
    with tenant_context(tenant.id):
        for user in recipients:
            send_mail(
                user.email,
                "review/venue_decision",
                {**context, "name": user.name},
                locale=user.locale,
                tenant_id=tenant.id,
            )
