"""The tenant console's venue pages: list, create, edit, documents, submit.

Coordinators and above may look; admins and owners may change. Every object is
loaded in the tenant's scope, so another tenant's venue or document answers 404.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.access import ROLE_RANK
from core.access import get_or_404
from core.access import require_role
from core.access import tenant_blueprint
from core.errors import DomainError
from core.extensions import db
from core.models import Role
from core.storage import get_storage
from onboarding.venues import services
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueDocument
from onboarding.venues.models import VenueStatus
from onboarding.venues.schemas import ACCEPT_BY_KIND
from onboarding.venues.schemas import DOCUMENT_LABELS
from onboarding.venues.schemas import PROVINCES
from onboarding.venues.schemas import TIMEZONES
from onboarding.venues.schemas import WEEKDAYS
from onboarding.venues.schemas import DocumentUploadSchema
from onboarding.venues.schemas import hours_to_form
from onboarding.venues.schemas import load_venue_form
from onboarding.venues.uploads import MAX_PDF_BYTES
from onboarding.venues.uploads import UploadRejected
from onboarding.venues.uploads import check_upload
from onboarding.venues.uploads import read_limited

bp = tenant_blueprint("venues", __name__, url_prefix="/venues", template_folder="templates")

#: how long a download link for a document stays valid
LINK_SECONDS = 300


def _can_edit() -> bool:
    return ROLE_RANK[g.membership.role] >= ROLE_RANK[Role.ADMIN]


@bp.context_processor
def _venue_globals():
    return {
        "DOCUMENT_LABELS": DOCUMENT_LABELS,
        "DocumentKind": DocumentKind,
        "VenueStatus": VenueStatus,
        "can_edit": g.get("membership") is not None and _can_edit(),
    }


@bp.route("/")
@require_role(Role.COORDINATOR)
def index():
    """The tenant's venues and where each stands with the ministry."""
    venues = db.session.scalars(sa.select(Venue).order_by(Venue.created_at)).all()
    return render_template("venues/list.html", venues=venues)


def _form_page(venue: Venue | None, values: dict, errors: dict, status: int = 200):
    return (
        render_template(
            "venues/form.html",
            venue=venue,
            values=values,
            errors=errors,
            provinces=PROVINCES,
            timezones=TIMEZONES,
            weekdays=WEEKDAYS,
        ),
        status,
    )


@bp.route("/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def create():
    """Add a venue (a draft until it is submitted)."""
    if request.method == "GET":
        return _form_page(None, {"stations": 1, "timezone": "Asia/Jakarta"}, {})
    data, errors = load_venue_form(request.form)
    if errors:
        return _form_page(None, request.form, errors, 400)
    venue = services.create_venue(data, current_user)
    flash(_("Venue saved. Now upload its photos and permit letter."), "success")
    return redirect(url_for(".detail", venue_id=venue.id))


@bp.route("/<venue_id>/edit", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def edit(venue_id):
    """Change a venue's details (not while the ministry is reviewing it)."""
    venue = get_or_404(Venue, venue_id)
    if request.method == "GET" and venue.status not in services.EDITABLE:
        flash(_("This venue cannot be changed now."), "warning")
        return redirect(url_for(".detail", venue_id=venue.id))
    if request.method == "GET":
        values = {f: getattr(venue, f) for f in services.VENUE_FIELDS if f != "opening_hours"}
        values = {k: ("" if v is None else v) for k, v in values.items()}
        values.update(hours_to_form(venue.opening_hours))
        return _form_page(venue, values, {})
    data, errors = load_venue_form(request.form)
    if errors:
        return _form_page(venue, request.form, errors, 400)
    was = venue.status
    services.update_venue(venue, data, current_user)
    if was == VenueStatus.APPROVED and venue.status == VenueStatus.SUBMITTED:
        flash(_("Saved. The location changed, so the ministry will review the venue again."))
    else:
        flash(_("Saved."), "success")
    return redirect(url_for(".detail", venue_id=venue.id))


def _detail_page(venue: Venue, status: int = 200, **extra):
    documents = services.documents_of(venue)
    current = services.current_documents(venue)
    return (
        render_template(
            "venues/detail.html",
            venue=venue,
            documents=documents,
            current=current,
            current_ids={d.id for d in current.values()},
            missing=services.missing_documents(venue),
            reviews=services.reviews_of(venue),
            activity=services.activity_of(venue),
            weekdays=WEEKDAYS,
            accept_by_kind=ACCEPT_BY_KIND,
            **extra,
        ),
        status,
    )


@bp.route("/<venue_id>")
@require_role(Role.COORDINATOR)
def detail(venue_id):
    """A venue: details, status, documents and their versions, the ministry's decisions."""
    return _detail_page(get_or_404(Venue, venue_id))


@bp.route("/<venue_id>/documents", methods=["POST"])
@require_role(Role.ADMIN)
def upload(venue_id):
    """Upload a document through the app: checked, re-encoded, then stored."""
    venue = get_or_404(Venue, venue_id)
    form = DocumentUploadSchema().validate(request.form)
    if form:
        return _detail_page(venue, 400, upload_error=_("Choose what this document is."))
    kind = DocumentKind(request.form["kind"])
    file = request.files.get("file")
    if file is None or not file.filename:
        return _detail_page(venue, 400, upload_error=_("Choose a file to upload."))
    try:
        clean = check_upload(read_limited(file.stream, MAX_PDF_BYTES), ACCEPT_BY_KIND[kind])
        services.upload_document(venue, kind, clean, file.filename, current_user)
    except UploadRejected as exc:
        return _detail_page(venue, exc.status, upload_error=exc.message, upload_kind=kind)
    flash(_("Document uploaded."), "success")
    return redirect(url_for(".detail", venue_id=venue.id))


def _document_of(venue: Venue, document_id) -> VenueDocument:
    document = get_or_404(VenueDocument, document_id)
    if document.venue_id != venue.id:
        abort(404)
    return document


@bp.route("/<venue_id>/documents/<document_id>")
@require_role(Role.COORDINATOR)
def document(venue_id, document_id):
    """Open a document: photos are shown, PDFs download through a short-lived link."""
    venue = get_or_404(Venue, venue_id)
    doc = _document_of(venue, document_id)
    services.record_document_view(doc, current_user, variant="file")
    return send_document(doc)


@bp.route("/<venue_id>/documents/<document_id>/thumbnail")
@require_role(Role.COORDINATOR)
def thumbnail(venue_id, document_id):
    """The small JPEG of a photo (the photo itself until the thumbnail job has run)."""
    venue = get_or_404(Venue, venue_id)
    doc = _document_of(venue, document_id)
    return send_document(doc, thumbnail=True)


@bp.route("/<venue_id>/documents/<document_id>/delete", methods=["POST"])
@require_role(Role.ADMIN)
def delete_document(venue_id, document_id):
    """Remove a document that was not submitted yet."""
    venue = get_or_404(Venue, venue_id)
    doc = _document_of(venue, document_id)
    services.delete_document(doc, venue, current_user)
    flash(_("Document removed."), "success")
    return redirect(url_for(".detail", venue_id=venue.id))


@bp.route("/<venue_id>/submit", methods=["POST"])
@require_role(Role.ADMIN)
def submit(venue_id):
    """Send the venue to the ministry's review queue."""
    venue = get_or_404(Venue, venue_id)
    try:
        services.submit_venue(venue, current_user)
    except DomainError as exc:
        return _detail_page(venue, exc.status, submit_error=exc.message)
    flash(_("Submitted. The ministry will review the venue; you will get an email."), "success")
    return redirect(url_for(".detail", venue_id=venue.id))


def send_document(doc: VenueDocument, *, thumbnail: bool = False) -> Response:
    """Answer with a document's bytes (images) or a short-lived download link (PDFs).

    Images were re-encoded on upload, so they are safe to show inline, and they are
    served from this origin (the page's Content-Security-Policy allows no other).
    PDFs are never shown inline: an attachment through a link valid for five minutes.
    """
    storage = get_storage()
    if doc.is_image:
        key = doc.thumbnail_key if thumbnail and doc.thumbnail_key else doc.storage_key
        content_type = "image/jpeg" if key == doc.thumbnail_key else doc.content_type
        response = Response(storage.read(key), mimetype=content_type)
        response.headers["Content-Disposition"] = "inline"
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
    if thumbnail:
        abort(404)
    return redirect(
        storage.url(
            doc.storage_key,
            expires_in=LINK_SECONDS,
            filename=doc.original_filename,
            content_type=doc.content_type,
            inline=False,
        )
    )
