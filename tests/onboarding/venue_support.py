"""Helpers for the venue and review tests: files made in code (no binaries in git), venues."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from pathlib import Path

from PIL import ExifTags
from PIL import Image

from core.extensions import db
from core.tenancy import tenant_context
from onboarding.venues import services
from onboarding.venues.models import DocumentKind
from onboarding.venues.uploads import check_upload

VENUE_FORM = {
    "name": "Klinik Sehat Kemang",
    "address": "Jl. Kemang Raya No. 10",
    "province": "DKI Jakarta",
    "city": "Jakarta Selatan",
    "district": "Mampang Prapatan",
    "latitude": "-6.2615",
    "longitude": "106.8106",
    "timezone": "Asia/Jakarta",
    "stations": "3",
    "visitor_notes": "Masuk dari pintu samping.",
    "hours-0-open": "08:00",
    "hours-0-close": "16:00",
    "hours-5-open": "09:00",
    "hours-5-close": "12:00",
}

VENUE_DATA = {
    "name": "Klinik Sehat Kemang",
    "address": "Jl. Kemang Raya No. 10",
    "province": "DKI Jakarta",
    "city": "Jakarta Selatan",
    "district": None,
    "stations": 2,
    "opening_hours": {"0": [["08:00", "16:00"]]},
}


def jpeg_bytes(size=(64, 48), color="red", exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    if exif is not None:
        image.save(out, format="JPEG", exif=exif)
    else:
        image.save(out, format="JPEG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """A JPEG whose EXIF holds a GPS position, a camera model and orientation 6 (rotate)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "S",
        ExifTags.GPS.GPSLatitude: (6.0, 15.0, 41.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (106.0, 48.0, 38.0),
    }
    return jpeg_bytes(size=(80, 40), exif=exif)


def png_bytes(size=(32, 32), mode="RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (0, 128, 0, 128) if mode == "RGBA" else "green").save(out, "PNG")
    return out.getvalue()


def pdf_bytes(pages: int = 1) -> bytes:
    """A small but well-formed PDF."""
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width x height`` pixels (10 G by default)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(document.cookie)</script></svg>"
)
HTML_WITH_SCRIPT = b"<!DOCTYPE html><html><body><script>fetch('/x')</script></body></html>"


def stored_files(app, *, everything: bool = False) -> list[Path]:
    """The objects the local-disk storage holds (``everything``: its metadata files too)."""
    root = Path(app.config["STORAGE_URL"].removeprefix("file://"))
    if not root.exists():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and (everything or not p.relative_to(root).parts[0].startswith("."))
    )


def make_venue(tenant, actor, **overrides) -> uuid.UUID:
    """A draft venue of ``tenant``, committed; returns its id."""
    with tenant_context(tenant.id):
        venue = services.create_venue({**VENUE_DATA, **overrides}, actor)
        venue_id = venue.id
        db.session.commit()
    return venue_id


def upload(tenant_id, venue_id, actor, kind: DocumentKind, data: bytes, name: str = "f"):
    """Upload a document through the service (in the tenant's scope) and commit."""
    from onboarding.venues.models import Venue

    with tenant_context(tenant_id):
        venue = db.session.get(Venue, (tenant_id, venue_id))
        accept = "pdf" if kind == DocumentKind.PERMIT_LETTER else "image"
        document = services.upload_document(venue, kind, check_upload(data, accept), name, actor)
        document_id = document.id
        db.session.commit()
    return document_id


def upload_required(tenant_id, venue_id, actor) -> None:
    upload(tenant_id, venue_id, actor, DocumentKind.PHOTO_ENTRANCE, jpeg_bytes(), "door.jpg")
    upload(tenant_id, venue_id, actor, DocumentKind.PHOTO_VACCINATION_AREA, png_bytes(), "room.png")
    upload(tenant_id, venue_id, actor, DocumentKind.PERMIT_LETTER, pdf_bytes(), "izin.pdf")


def submit(tenant_id, venue_id, actor) -> None:
    from onboarding.venues.models import Venue

    with tenant_context(tenant_id):
        services.submit_venue(db.session.get(Venue, (tenant_id, venue_id)), actor)
        db.session.commit()


def post_file(client, url: str, kind: str, data: bytes, name: str, content_type="image/jpeg"):
    """POST a multipart upload, encoded in memory.

    Werkzeug's test client spools bodies over 500 KB to a temporary file it never
    closes (a ResourceWarning, an error here); encoding the body ourselves avoids it.
    """
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    fields = {"kind": kind, "file": FileStorage(io.BytesIO(data), name, content_type=content_type)}
    if getattr(client, "auto_csrf", False):
        fields["csrf_token"] = client.csrf_token()
    boundary, body = encode_multipart(fields)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")
