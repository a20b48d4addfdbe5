"""Venues, their permit documents and the ministry's review decisions.

A venue is where a tenant vaccinates; it hosts campaigns only once a ministry
reviewer approves it. Documents (photos, the permit letter) are versioned: a new
upload of a kind adds a version and keeps the old ones, and a document that was
part of a submission never changes again. Each decision is a :class:`VenueReview`
row, so the history the tenant and the next reviewer see is complete.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.db import UTCDateTime
from core.db import enum_column
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned
from core.tenancy import tenant_fk


class VenueStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # waiting in the ministry's review queue
    APPROVED = "approved"  # may host campaigns
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"


class Venue(TenantOwned, db.Model):
    """A place where a tenant vaccinates; it hosts campaigns only once a reviewer approves it."""

    __tablename__ = "venue"

    name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str] = mapped_column(sa.Text)
    province: Mapped[str] = mapped_column(sa.String(100))
    city: Mapped[str] = mapped_column(sa.String(100))
    district: Mapped[str | None] = mapped_column(sa.String(100))
    latitude: Mapped[Decimal | None] = mapped_column(sa.Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(sa.Numeric(9, 6))
    #: {"0": [["08:00", "12:00"], ["13:00", "16:00"]], ...}, weekday 0 = Monday; local time
    opening_hours: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: IANA zone of the venue (WIB, WITA, WIT)
    timezone: Mapped[str] = mapped_column(sa.String(40), default="Asia/Jakarta")
    #: vaccination stations working in parallel: seats per slot by default
    stations: Mapped[int] = mapped_column(default=1)
    visitor_notes: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[VenueStatus] = mapped_column(
        enum_column(VenueStatus, "venue_status"), default=VenueStatus.DRAFT
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the reviewer deciding this venue now; the claim lapses at ``claim_expires_at``
    claimed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    claim_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("stations >= 1", name="stations_positive"),
        # The review queue: submitted venues, oldest first, across tenants.
        sa.Index("ix_venue_status_submitted_at", "status", "submitted_at"),
    )

    @property
    def is_approved(self) -> bool:
        return self.status == VenueStatus.APPROVED

    def claim_is_live(self, now: dt.datetime | None = None) -> bool:
        """Whether a reviewer holds an unexpired claim on this venue."""
        return (
            self.claimed_by_id is not None
            and self.claim_expires_at is not None
            and self.claim_expires_at > (now or utcnow())
        )


class DocumentKind(enum.StrEnum):
    PHOTO_ENTRANCE = "photo_entrance"
    PHOTO_VACCINATION_AREA = "photo_vaccination_area"
    PERMIT_LETTER = "permit_letter"  # the permit or recommendation letter, a PDF
    OTHER = "other"  # anything else a reviewer asks for


#: what a venue must have before it can be submitted for review
REQUIRED_KINDS = (
    DocumentKind.PHOTO_ENTRANCE,
    DocumentKind.PHOTO_VACCINATION_AREA,
    DocumentKind.PERMIT_LETTER,
)


class VenueDocument(TenantOwned, db.Model):
    """One version of one document of a venue, as stored (images already re-encoded)."""

    __tablename__ = "venue_document"

    venue_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind, "document_kind"))
    #: 1, 2, …: a new upload of the same kind adds a version; older ones are kept
    version: Mapped[int] = mapped_column()
    #: server-chosen object key (never derived from the uploaded file's name)
    storage_key: Mapped[str] = mapped_column(sa.String(500))
    #: decided from the bytes (magic numbers), never from the name or the browser
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    #: of the stored bytes (after re-encoding)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    #: as the uploader named it; for display and the download name only
    original_filename: Mapped[str] = mapped_column(sa.String(255))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: part of a submission to the ministry: from then on it never changes or goes away
    submitted: Mapped[bool] = mapped_column(default=False)
    #: a small JPEG made by a background job (images only)
    thumbnail_key: Mapped[str | None] = mapped_column(sa.String(500))

    __table_args__ = (
        tenant_fk("venue_id", "venue", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "venue_id", "kind", "version"),
    )

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def is_pdf(self) -> bool:
        return self.content_type == "application/pdf"


class ReviewDecision(enum.StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"


class VenueReview(TenantOwned, db.Model):
    """One decision of a ministry reviewer on a venue; the tenant sees the comment."""

    __tablename__ = "venue_review"

    venue_id: Mapped[uuid.UUID] = mapped_column()
    decision: Mapped[ReviewDecision] = mapped_column(enum_column(ReviewDecision, "review_decision"))
    #: shown to the tenant: what is wrong, or what to change
    comment: Mapped[str | None] = mapped_column(sa.Text)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: {"item": true|false, ...} for the review checklist, plus the document ids decided on
    checklist: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    document_ids: Mapped[list] = mapped_column(sa.JSON, default=list)

    __table_args__ = (
        tenant_fk("venue_id", "venue", ondelete="CASCADE"),
        sa.Index("ix_venue_review_venue", "tenant_id", "venue_id", "decided_at"),
    )
