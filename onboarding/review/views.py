"""The ministry review console at ``/review/``, for platform users with the reviewer role.

Every route runs its queries inside ``cross_tenant(Scope.REVIEW)``; the database
grants that scope venues, documents and decisions only. Tenants' objects are
addressed by ``(tenant_id, id)``; an id that does not exist answers 404. Every
document a reviewer opens (including each thumbnail shown) is audited.
"""

from __future__ import annotations

import datetime as dt
import functools

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user

from core.access import require_platform_role
from core.db import utcnow
from core.errors import DomainError
from core.errors import NotFound
from core.extensions import db
from core.jobs import register_periodic
from core.models import PlatformRole
from core.models import Tenant
from core.models import TenantKind
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant
from onboarding.review import services
from onboarding.venues import services as venue_services
from onboarding.venues.models import ReviewDecision
from onboarding.venues.models import VenueStatus
from onboarding.venues.schemas import DOCUMENT_LABELS
from onboarding.venues.schemas import WEEKDAYS
from onboarding.venues.views import send_document

bp = Blueprint("review", __name__, url_prefix="/review", template_folder="templates")

#: the queue's waiting-time filter: label → minimum wait
WAIT_FILTERS = {"1d": dt.timedelta(days=1), "3d": dt.timedelta(days=3), "7d": dt.timedelta(days=7)}

# Daily at 00:00 UTC (07:00 WIB), in the review scope: it reads the queue only.
register_periodic(
    "review-digest", "onboarding.review.jobs.send_reviewer_digest", 86400, Scope.REVIEW
)


def reviewer_view(view):
    """Reviewers only; the view runs in the review scope."""

    @require_platform_role(PlatformRole.REVIEWER)
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        with cross_tenant(Scope.REVIEW):
            response = view(*args, **kwargs)
            # Write what the view added (audit lines) while the database still knows
            # the scope; the request commits after this block, outside it.
            db.session.flush()
            return response

    return wrapped


@bp.app_template_filter("waiting")
def _waiting(delta: dt.timedelta) -> str:
    return format_timedelta(delta, granularity="hour", threshold=1.5)


@bp.route("/")
@reviewer_view
def queue():
    """Submitted venues, oldest first, filterable by province, tenant kind and waiting time."""
    province = request.args.get("province") or None
    kind_value = request.args.get("kind") or None
    wait = request.args.get("wait") or None
    kind = TenantKind(kind_value) if kind_value in {k.value for k in TenantKind} else None
    entries = services.review_queue(province=province, kind=kind, min_wait=WAIT_FILTERS.get(wait))
    return render_template(
        "review/queue.html",
        entries=entries,
        provinces=services.queue_provinces(),
        kinds=list(TenantKind),
        filters={"province": province, "kind": kind_value, "wait": wait},
        now=utcnow(),
    )


@bp.route("/venues/<tenant_id>/<venue_id>")
@reviewer_view
def venue(tenant_id, venue_id):
    """Everything needed to decide on one screen."""
    return _review_page(services.load_venue(tenant_id, venue_id))


def _review_page(venue, status: int = 200, **extra):
    tenant = db.session.get(Tenant, venue.tenant_id)
    documents = venue_services.documents_of(venue, submitted_only=True)
    current = venue_services.current_documents(venue, submitted_only=True)
    reviews = venue_services.reviews_of(venue)
    reviewer_ids = {r.reviewer_id for r in reviews if r.reviewer_id}
    if venue.claimed_by_id:
        reviewer_ids.add(venue.claimed_by_id)
    names = {u.id: u.name for u in (db.session.get(User, i) for i in reviewer_ids) if u}
    return (
        render_template(
            "review/venue.html",
            venue=venue,
            # A reviewer sees the organisation's name, kind and region; no people.
            organisation={"name": tenant.name, "kind": tenant.kind, "province": tenant.province},
            documents=documents,
            current=current,
            current_ids={d.id for d in current.values()},
            missing=venue_services.missing_documents(venue),
            reviews=reviews,
            reviewer_names=names,
            checklist=services.CHECKLIST,
            labels=DOCUMENT_LABELS,
            weekdays=WEEKDAYS,
            decisions=list(ReviewDecision),
            mine=venue.claimed_by_id == current_user.id and venue.claim_is_live(),
            claimed_by_other=venue.claimed_by_id not in (None, current_user.id)
            and venue.claim_is_live(),
            is_submitted=venue.status == VenueStatus.SUBMITTED,
            **extra,
        ),
        status,
    )


@bp.route("/venues/<tenant_id>/<venue_id>/claim", methods=["POST"])
@reviewer_view
def claim(tenant_id, venue_id):
    """Take the venue for the next 15 minutes, so no other reviewer decides it meanwhile."""
    venue = services.load_venue(tenant_id, venue_id)
    try:
        services.claim_venue(venue, current_user)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _review_page(venue, exc.status, claim_error=exc.message)
    return redirect(url_for(".venue", tenant_id=venue.tenant_id, venue_id=venue.id))


@bp.route("/venues/<tenant_id>/<venue_id>/release", methods=["POST"])
@reviewer_view
def release(tenant_id, venue_id):
    """Give the venue back to the queue without deciding."""
    venue = services.load_venue(tenant_id, venue_id)
    services.release_claim(venue, current_user)
    return redirect(url_for(".queue"))


@bp.route("/venues/<tenant_id>/<venue_id>/decide", methods=["POST"])
@reviewer_view
def decide(tenant_id, venue_id):
    """Approve, ask for changes or reject, with a comment the organiser sees."""
    venue = services.load_venue(tenant_id, venue_id)
    try:
        decision = ReviewDecision(request.form.get("decision", ""))
    except ValueError:
        return _review_page(venue, 400, decide_error=_("Choose a decision."))
    checklist = {item: request.form.get(f"check-{item}") == "yes" for item in services.CHECKLIST}
    try:
        services.decide_venue(venue, current_user, decision, request.form.get("comment"), checklist)
    except DomainError as exc:
        return _review_page(
            venue,
            exc.status,
            decide_error=exc.message,
            form=request.form,
        )
    flash(_("Decision recorded; the organiser has been emailed."), "success")
    return redirect(url_for(".queue"))


@bp.route("/documents/<tenant_id>/<document_id>")
@reviewer_view
def document(tenant_id, document_id):
    """Open a document (audited): photos inline, PDFs as a five-minute attachment link."""
    doc = services.load_document(tenant_id, document_id)
    venue_services.record_document_view(doc, current_user, variant="file")
    return send_document(doc)


@bp.route("/documents/<tenant_id>/<document_id>/thumbnail")
@reviewer_view
def thumbnail(tenant_id, document_id):
    """A photo's thumbnail on the review screen (audited like any view of a document)."""
    doc = services.load_document(tenant_id, document_id)
    if not doc.is_image:
        raise NotFound(_("This document has no thumbnail."))
    venue_services.record_document_view(doc, current_user, variant="thumbnail")
    return send_document(doc, thumbnail=True)
