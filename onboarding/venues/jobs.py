"""Background work on venue documents."""

from __future__ import annotations

import logging
import uuid

from core.extensions import db
from core.storage import get_storage
from core.storage import tenant_key
from core.tenancy import current_tenant_id
from onboarding.venues.models import VenueDocument
from onboarding.venues.uploads import make_thumbnail

log = logging.getLogger(__name__)


def make_document_thumbnail(document_id: str) -> str | None:
    """Job (tenant scope): make the small JPEG shown in lists and the review screen.

    Idempotent: a document that has a thumbnail already is left alone. Returns the
    thumbnail's key, or None when there is nothing to do.
    """
    tenant_id = current_tenant_id()
    document = db.session.get(VenueDocument, (tenant_id, uuid.UUID(document_id)))
    if document is None or not document.is_image or document.thumbnail_key:
        return None
    storage = get_storage()
    thumbnail = make_thumbnail(storage.read(document.storage_key))
    key = tenant_key(
        tenant_id, "venues", str(document.venue_id), "thumbnails", f"{document.id}.jpg"
    )
    storage.put(key, thumbnail, "image/jpeg")
    document.thumbnail_key = key
    log.info("thumbnail made", extra={"document_id": document_id, "bytes": len(thumbnail)})
    return key
