"""The rules of venues and their permit documents, on the tenant's side.

States: ``draft → submitted → approved | changes_requested | rejected``. A venue is
edited and documented while in draft or after changes were requested, then
submitted; the ministry's decision is :mod:`onboarding.review.services`. An approved
venue whose documents (or location) change goes back to ``submitted``: the ministry
approved a place and its papers, not whatever they later become. A rejected venue is
final. Documents that were part of a submission never change or disappear; a new
upload of the same kind adds a version.

Services flush and never commit; the request commits at the edge.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from core import signals
from core.audit import log_action
from core.db import utcnow
from core.errors import Conflict
from core.errors import DomainError
from core.extensions import db
from core.ids import uuid7
from core.jobs import enqueue
from core.models import AuditEntry
from core.models import User
from core.storage import delete_after_commit
from core.storage import get_storage
from core.storage import tenant_key
from core.tenancy import current_tenant_id
from onboarding.venues.models import REQUIRED_KINDS
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueDocument
from onboarding.venues.models import VenueReview
from onboarding.venues.models import VenueStatus
from onboarding.venues.schemas import DOCUMENT_LABELS
from onboarding.venues.uploads import CleanFile

#: states in which the tenant may change details and upload documents
EDITABLE = frozenset({VenueStatus.DRAFT, VenueStatus.CHANGES_REQUESTED, VenueStatus.APPROVED})
#: states from which the tenant may submit
SUBMITTABLE = frozenset({VenueStatus.DRAFT, VenueStatus.CHANGES_REQUESTED})
#: details the ministry checks: changing one on an approved venue sends it back to review
REVIEWED_FIELDS = ("name", "address", "province", "city", "district", "latitude", "longitude")
VENUE_FIELDS = (
    *REVIEWED_FIELDS,
    "timezone",
    "stations",
    "visitor_notes",
    "opening_hours",
)


class VenueError(DomainError):
    """A venue rule refused the change."""

    code = "venue_invalid"


def _refuse_unless_editable(venue: Venue) -> None:
    if venue.status == VenueStatus.SUBMITTED:
        raise Conflict(
            _(
                "This venue is waiting for the ministry's decision and cannot be changed "
                "until then."
            ),
            code="venue_under_review",
        )
    if venue.status == VenueStatus.REJECTED:
        raise Conflict(
            _("This venue was rejected by the ministry and can no longer be changed."),
            code="venue_rejected",
        )


def create_venue(data: dict, actor: User) -> Venue:
    """Add a draft venue to the current tenant (refused when the plan's venues are used up)."""
    signals.venue_adding.send(current_tenant_id())
    venue = Venue(**{k: data[k] for k in VENUE_FIELDS if k in data})
    venue.status = VenueStatus.DRAFT
    db.session.add(venue)
    db.session.flush()
    log_action(venue, "onboarding.venue.created", actor, {"name": venue.name})
    return venue


def update_venue(venue: Venue, data: dict, actor: User) -> Venue:
    """Change a venue's details; an approved venue whose location changes is reviewed again."""
    _refuse_unless_editable(venue)
    changed = {}
    for field in VENUE_FIELDS:
        if field in data and getattr(venue, field) != data[field]:
            old = getattr(venue, field)
            changed[field] = [_jsonable(old), _jsonable(data[field])]
            setattr(venue, field, data[field])
    if not changed:
        return venue
    db.session.flush()
    log_action(venue, "onboarding.venue.updated", actor, {"changed": changed})
    if venue.status == VenueStatus.APPROVED and any(f in changed for f in REVIEWED_FIELDS):
        _back_to_review(venue, actor, reason="details_changed")
    return venue


def _jsonable(value):
    if value is None or isinstance(value, (str, int, float, bool, dict, list)):
        return value
    return str(value)


def documents_of(venue: Venue, *, submitted_only: bool = False) -> list[VenueDocument]:
    """Every version of every document of the venue, newest first within each kind.

    ``submitted_only``: what the ministry has been sent (a reviewer never sees the
    tenant's work in progress).
    """
    query = (
        sa.select(VenueDocument)
        .where(VenueDocument.tenant_id == venue.tenant_id, VenueDocument.venue_id == venue.id)
        .order_by(VenueDocument.kind, VenueDocument.version.desc())
    )
    if submitted_only:
        query = query.where(VenueDocument.submitted.is_(True))
    return list(db.session.scalars(query))


def current_documents(
    venue: Venue, *, submitted_only: bool = False
) -> dict[DocumentKind, VenueDocument]:
    """The latest version of each kind of document."""
    current: dict[DocumentKind, VenueDocument] = {}
    for document in documents_of(venue, submitted_only=submitted_only):
        current.setdefault(document.kind, document)
    return current


def reviews_of(venue: Venue) -> list[VenueReview]:
    """The ministry's decisions on the venue, newest first."""
    return list(
        db.session.scalars(
            sa.select(VenueReview)
            .where(VenueReview.tenant_id == venue.tenant_id, VenueReview.venue_id == venue.id)
            .order_by(VenueReview.decided_at.desc())
        )
    )


def activity_of(venue: Venue, limit: int = 50) -> list[AuditEntry]:
    """The audit lines of the venue and its documents, newest first (the tenant's history)."""
    document_ids = [str(d.id) for d in documents_of(venue)]
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(
                AuditEntry.tenant_id == venue.tenant_id,
                sa.or_(
                    sa.and_(
                        AuditEntry.object_type == "Venue", AuditEntry.object_id == str(venue.id)
                    ),
                    sa.and_(
                        AuditEntry.object_type == "VenueDocument",
                        AuditEntry.object_id.in_(document_ids or [""]),
                    ),
                ),
            )
            .order_by(AuditEntry.at.desc())
            .limit(limit)
        )
    )


def missing_documents(venue: Venue) -> list[DocumentKind]:
    """The required kinds of document the venue does not have yet."""
    current = current_documents(venue)
    return [kind for kind in REQUIRED_KINDS if kind not in current]


def upload_document(
    venue: Venue, kind: DocumentKind, file: CleanFile, filename: str, actor: User
) -> VenueDocument:
    """Store a checked file as the next version of ``kind`` for the venue.

    On an approved venue the new document goes straight into a new submission: the
    venue returns to the review queue.
    """
    _refuse_unless_editable(venue)
    latest = db.session.scalar(
        sa.select(sa.func.max(VenueDocument.version)).where(
            VenueDocument.tenant_id == venue.tenant_id,
            VenueDocument.venue_id == venue.id,
            VenueDocument.kind == kind,
        )
    )
    document_id = uuid7()
    key = tenant_key(
        venue.tenant_id, "venues", str(venue.id), "documents", f"{document_id}.{file.extension}"
    )
    document = VenueDocument(
        id=document_id,
        tenant_id=venue.tenant_id,
        venue_id=venue.id,
        kind=kind,
        version=(latest or 0) + 1,
        storage_key=key,
        content_type=file.content_type,
        size=file.size,
        sha256=file.sha256,
        original_filename=_display_name(filename, file.extension),
        uploaded_by_id=actor.id,
    )
    db.session.add(document)
    # Flushed first: a concurrent upload of the same kind takes the same version
    # number and fails here, on the unique constraint, before any bytes are written.
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(
            _("Another upload of this document finished at the same moment. Try again."),
            code="document_version_taken",
        ) from None
    get_storage().put(key, file.data, file.content_type)
    log_action(
        document,
        "onboarding.document.uploaded",
        actor,
        {
            "venue_id": str(venue.id),
            "kind": kind.value,
            "version": document.version,
            "content_type": file.content_type,
            "size": file.size,
            "sha256": file.sha256,
        },
    )
    if venue.status == VenueStatus.APPROVED:
        _back_to_review(venue, actor, reason="documents_changed")
    if document.is_image:
        enqueue(
            "onboarding.venues.jobs.make_document_thumbnail",
            tenant_id=venue.tenant_id,
            job_id=f"thumbnail-{document.id}",
            document_id=str(document.id),
        )
    return document


def _display_name(filename: str, extension: str) -> str:
    """The uploader's file name, for display only: last path part, printable, bounded."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:200]
    return name or f"document.{extension}"


def delete_document(document: VenueDocument, venue: Venue, actor: User) -> None:
    """Remove a document that was never submitted (its file goes after the commit)."""
    _refuse_unless_editable(venue)
    if document.submitted:
        raise Conflict(
            _(
                "This document was part of a submission to the ministry and is kept. "
                "Upload a new version instead."
            ),
            code="document_submitted",
        )
    # Recorded on the venue: the document row itself is about to go.
    log_action(
        venue,
        "onboarding.document.deleted",
        actor,
        {
            "document_id": str(document.id),
            "kind": document.kind.value,
            "version": document.version,
            "sha256": document.sha256,
        },
    )
    delete_after_commit(document.storage_key)
    if document.thumbnail_key:
        delete_after_commit(document.thumbnail_key)
    db.session.delete(document)
    db.session.flush()


def submit_venue(venue: Venue, actor: User) -> Venue:
    """Send the venue and its current documents to the ministry's review queue."""
    if venue.status not in SUBMITTABLE:
        if venue.status == VenueStatus.APPROVED:
            raise Conflict(_("This venue is already approved."), code="venue_approved")
        _refuse_unless_editable(venue)
    missing = missing_documents(venue)
    if missing:
        names = ", ".join(str(DOCUMENT_LABELS[kind]) for kind in missing)
        raise VenueError(
            _("Before submitting, upload: %(missing)s.", missing=names),
            code="documents_missing",
            missing=[kind.value for kind in missing],
        )
    resubmission = venue.status == VenueStatus.CHANGES_REQUESTED
    _mark_submitted(venue)
    action = "onboarding.venue.resubmitted" if resubmission else "onboarding.venue.submitted"
    log_action(venue, action, actor, {"documents": _current_ids(venue)})
    return venue


def _back_to_review(venue: Venue, actor: User, *, reason: str) -> None:
    _mark_submitted(venue)
    log_action(
        venue,
        "onboarding.venue.resubmitted",
        actor,
        {"reason": reason, "documents": _current_ids(venue)},
    )


def _mark_submitted(venue: Venue) -> None:
    for document in current_documents(venue).values():
        document.submitted = True
    venue.status = VenueStatus.SUBMITTED
    venue.submitted_at = utcnow()
    venue.claimed_by_id = None
    venue.claim_expires_at = None
    db.session.flush()


def _current_ids(venue: Venue) -> list[str]:
    return [str(d.id) for d in current_documents(venue).values()]


def record_document_view(document: VenueDocument, actor: User, *, variant: str) -> None:
    """Audit that ``actor`` looked at a document (``variant``: file, image, thumbnail)."""
    log_action(
        document,
        "onboarding.document.viewed",
        actor,
        {
            "venue_id": str(document.venue_id),
            "kind": document.kind.value,
            "version": document.version,
            "variant": variant,
        },
    )
