"""Checking an uploaded file and turning it into what Sentra stores.

Files come THROUGH the app (a multipart POST), not by presigned POST straight to S3:

* every image must be decoded and re-encoded anyway (that is what strips EXIF/GPS
  and defeats polyglot files), so the bytes pass through a Sentra process whichever
  way they arrive; with a presigned POST they would be uploaded twice (browser → S3,
  S3 → worker → S3) and the venue would show an unchecked file until a job ran;
* the person who uploads gets the verdict at once, on the same page ("this is not a
  PDF"), and a bad file is never stored, not even in a quarantine prefix;
* moto, the S3 server the tests run against, does not enforce POST policies (size
  range, content type, expiry), so the checks a presigned POST relies on could not be
  tested here; the checks below are tested against a corpus of bad files.

The cost is request time and memory for files up to 15 MB, bounded by
``MAX_CONTENT_LENGTH`` (the app refuses larger bodies before reading them).

Type is decided by the bytes (magic numbers), never by the file name or the
Content-Type the browser sends. Images are opened with an allow-list of decoders,
a lowered pixel limit (decompression-bomb warnings are errors), rotated by their
EXIF orientation and saved again without any metadata. PDFs must start with
``%PDF-`` and end with ``%%EOF``; they are never served inline.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

from core.errors import DomainError

MB = 1024 * 1024
MAX_IMAGE_BYTES = 10 * MB
MAX_PDF_BYTES = 15 * MB
#: no photo of a venue needs more; Pillow's default (89 MP) lets a 4 GB bitmap through
MAX_IMAGE_PIXELS = 40_000_000
#: the longest side of a stored photo; larger photos are scaled down when re-encoded
MAX_IMAGE_SIDE = 4000
THUMBNAIL_SIDE = 320

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"

IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class UploadRejected(DomainError):
    """The file cannot be accepted; the message says why, in words a person understands."""

    status = 400
    code = "upload_rejected"


@dataclass(frozen=True)
class CleanFile:
    """What will be stored: bytes, their real type, size and digest."""

    data: bytes
    content_type: str
    extension: str

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def sniff(head: bytes) -> str | None:
    """The type of a file from its first bytes: "jpeg", "png", "webp", "pdf" or None."""
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if head.startswith(PNG_MAGIC):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(PDF_MAGIC):
        return "pdf"
    return None


def _looks_like_markup(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<", b"<?xml")) or b"<svg" in text or b"<html" in text


ACCEPTS = {
    "image": lazy_gettext("a photo (JPEG, PNG or WebP)"),
    "pdf": lazy_gettext("a PDF document"),
    "any": lazy_gettext("a PDF document or a photo (JPEG, PNG or WebP)"),
}


def read_limited(stream, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes: enough to tell that an upload is too large."""
    return stream.read(limit + 1)


def check_upload(data: bytes, accept: str) -> CleanFile:
    """Check an uploaded file and return what to store, or raise :class:`UploadRejected`.

    ``accept`` is "image", "pdf" or "any". Nothing here touches storage: a file that
    fails any check is never stored.
    """
    if not data:
        raise UploadRejected(_("The file is empty. Choose the file again and upload it."))
    kind = sniff(data[:16])
    if kind is None:
        if _looks_like_markup(data[:512]):
            raise UploadRejected(
                _(
                    "This file is a web page or an SVG drawing, not %(expected)s. "
                    "Such files can carry scripts and are never accepted.",
                    expected=ACCEPTS[accept],
                )
            )
        raise UploadRejected(
            _(
                "This file is not %(expected)s; its content does not match, whatever its "
                "name says. Save or scan it as %(expected)s and upload that.",
                expected=ACCEPTS[accept],
            )
        )
    if kind == "pdf":
        if accept == "image":
            raise UploadRejected(
                _("This is a PDF, but a photo (JPEG, PNG or WebP) is needed here.")
            )
        return _check_pdf(data)
    if accept == "pdf":
        raise UploadRejected(
            _("This is a photo, but the permit letter must be a PDF document. Scan it as a PDF.")
        )
    return _reencode_image(data)


def _too_large(limit: int) -> UploadRejected:
    return UploadRejected(
        _(
            "The file is larger than %(limit)s MB. Make it smaller (a lower resolution "
            "photo, or a PDF scanned in grey at 150 dpi) and upload it again.",
            limit=limit // MB,
        ),
        code="upload_too_large",
    )


def _check_pdf(data: bytes) -> CleanFile:
    if len(data) > MAX_PDF_BYTES:
        raise _too_large(MAX_PDF_BYTES)
    # The end-of-file marker may be followed by a few bytes of whitespace.
    if b"%%EOF" not in data[-1024:]:
        raise UploadRejected(
            _(
                "This PDF is incomplete or damaged (it has no proper end). "
                "Save it again from the original and upload the new file."
            ),
            code="upload_damaged",
        )
    return CleanFile(data=data, content_type="application/pdf", extension="pdf")


def _damaged() -> UploadRejected:
    return UploadRejected(
        _(
            "This photo is damaged or incomplete and cannot be opened. "
            "Take or export the photo again and upload the new file."
        ),
        code="upload_damaged",
    )


def _bomb() -> UploadRejected:
    return UploadRejected(
        _(
            "This image declares more than %(mp)s million pixels. Photos of a venue never "
            "need so many; export it at a lower resolution and upload it again.",
            mp=MAX_IMAGE_PIXELS // 1_000_000,
        ),
        code="upload_too_many_pixels",
    )


class _TooManyPixels(Exception):
    """The image declares more pixels than MAX_IMAGE_PIXELS allows (a decompression bomb)."""


def _open_image(data: bytes) -> Image.Image:
    """Open and fully decode an image with the allowed decoders and the pixel limit."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(IMAGE_TYPES))
            # Checked before decoding a single pixel: the header is all a bomb needs.
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise _TooManyPixels
            image.load()
        except (_TooManyPixels, Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _bomb() from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise _damaged() from None
    return image


def _reencode_image(data: bytes) -> CleanFile:
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_large(MAX_IMAGE_BYTES)
    image = _open_image(data)
    source_format = image.format
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if max(image.size) > MAX_IMAGE_SIDE:
        image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    out = io.BytesIO()
    # Saved without exif=, icc_profile= or text chunks: no GPS, camera or author data
    # survives, and a polyglot's trailing payload is gone with the old encoding.
    image.info = {}
    if source_format == "PNG" or (source_format == "WEBP" and has_alpha):
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if has_alpha else "RGB")
        image.save(out, format="PNG", optimize=True)
        return CleanFile(data=out.getvalue(), content_type="image/png", extension="png")
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(out, format="JPEG", quality=85, optimize=True)
    return CleanFile(data=out.getvalue(), content_type="image/jpeg", extension="jpg")


def make_thumbnail(data: bytes) -> bytes:
    """A small JPEG of a stored (already re-encoded) image."""
    image = _open_image(data)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()
