"""The voucher's QR code (segno): it encodes the voucher URL, nothing personal.

Error correction M survives a scuffed print-out; a quiet zone of 4 modules is what
phone scanners expect. Both renderings are made here, from the same URL.
"""

from __future__ import annotations

import io

import segno
from markupsafe import Markup


def _qr(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str, *, title: str = "") -> Markup:
    """Inline SVG for the voucher page: attributes only, no ``style`` (the CSP forbids
    inline style), and scalable by CSS through its viewBox."""
    svg = _qr(url).svg_inline(scale=1, border=4, omitsize=True, svgclass="voucher-qr", title=title)
    return Markup(svg)  # noqa: S704 - segno's own markup of an URL we made and signed


def qr_png(url: str, *, scale: int = 6) -> bytes:
    """PNG bytes for the email (inline ``cid:`` image): mail clients block SVG."""
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
