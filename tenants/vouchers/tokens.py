"""Signed links for a booking: the voucher (in the QR), managing it, a waitlist offer.

A token carries only ids — tenant and booking (or waitlist entry) — packed as 32 raw
bytes, base64url, then signed with the app's SECRET_KEY (itsdangerous, HMAC-SHA256).
No personal data is in the token or the QR, and a token cannot be forged or altered
to name another booking or tenant. The token is short (87 characters), so the QR of
the voucher URL stays small enough for a cheap phone camera.

Three purposes, three salts, so one token never works for another purpose:

- ``voucher``: shown on the voucher page and in the QR that staff scan at the door.
  It only *shows* the voucher; a photo of a printed voucher must not let anyone
  cancel the booking.
- ``manage``: sent only in the person's own email; reschedules and cancels.
- ``offer``: a waitlist offer's accept link (names the waitlist entry).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from urllib.parse import urlparse

import sqlalchemy as sa
from flask import current_app
from flask import url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature
from itsdangerous import Signer

from core.errors import DomainError
from core.extensions import db
from tenants.booking.models import Booking
from tenants.vouchers.codes import normalise_code

_SALTS = {
    "voucher": "sentra.voucher",
    "manage": "sentra.voucher.manage",
    "offer": "sentra.waitlist.offer",
}


class VoucherLinkError(DomainError):
    """A voucher, manage or offer link that is not one of ours (or was altered)."""

    status = 404
    code = "voucher_link_invalid"


def _signer(purpose: str) -> Signer:
    return Signer(
        current_app.config["SECRET_KEY"],
        salt=_SALTS[purpose],
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )


def _dumps(purpose: str, tenant_id: uuid.UUID, object_id: uuid.UUID) -> str:
    payload = base64.urlsafe_b64encode(tenant_id.bytes + object_id.bytes).rstrip(b"=")
    return _signer(purpose).sign(payload).decode("ascii")


def _loads(purpose: str, token: str) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        payload = _signer(purpose).unsign(token.encode("ascii"))
        raw = base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
        if len(raw) != 32:
            raise ValueError("wrong length")
        return uuid.UUID(bytes=raw[:16]), uuid.UUID(bytes=raw[16:])
    except (BadSignature, UnicodeError, binascii.Error, ValueError) as exc:
        raise VoucherLinkError(
            _("This link is not valid. Use the link in your email, or contact the organiser.")
        ) from exc


# --- voucher ------------------------------------------------------------------------


def voucher_token(booking: Booking) -> str:
    """The signed token of a booking's voucher (what the QR's URL ends in)."""
    return _dumps("voucher", booking.tenant_id, booking.id)


def read_voucher_token(token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """``(tenant_id, booking_id)`` from a voucher token; VoucherLinkError if bad."""
    return _loads("voucher", token)


def _url(endpoint: str, external: bool, **values) -> str:
    """URL of a link page, absolute on BASE_URL (as mail links are), also in a job with
    no request: QR codes and emails must name the public address, not a worker's."""
    with current_app.test_request_context("/", base_url=current_app.config["BASE_URL"]):
        return url_for(endpoint, _external=external, **values)


def voucher_url(booking: Booking, _external: bool = True) -> str:
    """The voucher page ``/v/<token>`` (absolute by default: it goes into QR and mail)."""
    return _url("vouchers.voucher", _external, token=voucher_token(booking))


def parse_scan(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """What a scanned QR names: ``(tenant_id, booking_id)``, or None if it is not a
    voucher of this app. Accepts the voucher URL (any host: a test server or a proxy
    may differ from BASE_URL; the signature is what counts) or the bare token."""
    text = (text or "").strip()
    if not text:
        return None
    token = text
    if "/" in text:
        path = urlparse(text).path.rstrip("/")
        head, _sep, token = path.rpartition("/")
        if not head.endswith("/v"):
            return None
    try:
        return read_voucher_token(token)
    except VoucherLinkError:
        return None


def find_by_code(code: str) -> Booking | None:
    """The booking with this voucher code in the current tenant scope (input in any
    case, with or without dashes), or None."""
    normal = normalise_code(code)
    if normal is None:
        return None
    return db.session.scalar(sa.select(Booking).where(Booking.voucher_code == normal))


# --- manage and offer ---------------------------------------------------------------


def manage_token(booking: Booking) -> str:
    """The signed token that lets the person reschedule or cancel (email only)."""
    return _dumps("manage", booking.tenant_id, booking.id)


def read_manage_token(token: str) -> tuple[uuid.UUID, uuid.UUID]:
    return _loads("manage", token)


def manage_url(booking: Booking, _external: bool = True) -> str:
    return _url("vouchers.manage", _external, token=manage_token(booking))


def offer_token(tenant_id: uuid.UUID, entry_id: uuid.UUID) -> str:
    """The signed token of a waitlist offer's accept link."""
    return _dumps("offer", tenant_id, entry_id)


def read_offer_token(token: str) -> tuple[uuid.UUID, uuid.UUID]:
    return _loads("offer", token)


def offer_url(tenant_id: uuid.UUID, entry_id: uuid.UUID, _external: bool = True) -> str:
    return _url("vouchers.offer", _external, token=offer_token(tenant_id, entry_id))
