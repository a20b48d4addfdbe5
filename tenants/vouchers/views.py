"""Public voucher pages, reached only through signed links (no sign-in).

- ``/v/<token>``: the voucher (QR, readable code, where and when, what to bring);
  the token is the one in the QR, so this page only *shows*.
- ``/v/m/<token>``: manage the booking (link in the person's email only):
  reschedule to another slot of the same campaign and venue, or cancel.
- ``/v/offer/<token>``: accept a waitlist offer by choosing a time that day.

Each request reads the tenant from the signed token and scopes itself to it
(``scope_request_to``); a token names one booking of one tenant, so nothing else can
be reached. Changes go through the ledger in ``run_in_transaction``; a refusal
(slot full, offer expired…) is shown on the page, with a 409, never a stack trace.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import send_file
from flask import url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from core.db import utcnow
from core.extensions import db
from core.models import Tenant
from core.tenancy import scope_request_to
from tenants.booking.models import WaitlistEntry
from tenants.booking.models import WaitlistStatus
from tenants.booking.services import BookingError
from tenants.booking.transaction import run_in_transaction
from tenants.vouchers import services
from tenants.vouchers.details import VoucherDetails
from tenants.vouchers.details import load_details
from tenants.vouchers.qr import qr_svg
from tenants.vouchers.schemas import SlotChoiceSchema
from tenants.vouchers.tokens import VoucherLinkError
from tenants.vouchers.tokens import read_manage_token
from tenants.vouchers.tokens import read_offer_token
from tenants.vouchers.tokens import read_voucher_token
from tenants.vouchers.tokens import voucher_token
from tenants.vouchers.tokens import voucher_url

bp = Blueprint(
    "vouchers",
    __name__,
    url_prefix="/v",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

_STATIC = Path(__file__).parent / "static"


def _invalid() -> VoucherLinkError:
    return VoucherLinkError(
        _("This link is not valid. Use the link in your email, or contact the organiser.")
    )


def _scope(tenant_id: uuid.UUID) -> Tenant:
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise _invalid()
    scope_request_to(tenant)
    return tenant


def _details(ids: tuple[uuid.UUID, uuid.UUID]) -> VoucherDetails:
    tenant_id, booking_id = ids
    _scope(tenant_id)
    details = load_details(booking_id, tenant_id)
    if details is None:
        raise _invalid()
    return details


@bp.get("/<token>")
def voucher(token: str):
    details = _details(read_voucher_token(token))
    url = voucher_url(details.booking)
    response = render_template(
        "vouchers/voucher.html",
        d=details,
        qr=qr_svg(url, title=_("QR code of voucher %(code)s", code=details.code)),
    )
    return response, 200, {"Cache-Control": "private, no-cache"}


@bp.get("/sw.js")
def service_worker():
    """The service worker, served from ``/v/`` so that its scope covers the vouchers:
    it keeps the last copy of each voucher page for when the phone is offline."""
    response = send_file(_STATIC / "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- manage ---------------------------------------------------------------------------


def _manage_page(
    details: VoucherDetails, token: str, *, error: str | None = None, status: int = 200
):
    options = services.reschedule_options(details.booking, utcnow()) if details.active else []
    return (
        render_template(
            "vouchers/manage.html",
            d=details,
            token=token,
            voucher_token=voucher_token(details.booking),
            options=options,
            error=error,
        ),
        status,
    )


@bp.get("/m/<token>")
def manage(token: str):
    return _manage_page(_details(read_manage_token(token)), token)


@bp.post("/m/<token>/reschedule")
def reschedule(token: str):
    tenant_id, booking_id = read_manage_token(token)
    details = _details((tenant_id, booking_id))
    try:
        form = SlotChoiceSchema().load(request.form)
    except ValidationError:
        return _manage_page(details, token, error=_("Choose a new time."), status=400)
    try:
        run_in_transaction(lambda: services.reschedule(booking_id, form["slot_id"]))
    except BookingError as exc:
        db.session.rollback()
        return _manage_page(_details((tenant_id, booking_id)), token, error=exc.message, status=409)
    flash(_("Your booking has been moved. We have sent you the new voucher."), "success")
    return redirect(url_for(".manage", token=token), 303)


@bp.route("/m/<token>/cancel", methods=["GET", "POST"])
def cancel(token: str):
    tenant_id, booking_id = read_manage_token(token)
    details = _details((tenant_id, booking_id))
    # Once checked in, only the staff at the venue change the booking.
    if request.method == "GET" or not details.active:
        return render_template("vouchers/cancel.html", d=details, token=token)
    try:
        run_in_transaction(lambda: services.cancel(booking_id))
    except BookingError as exc:
        db.session.rollback()
        return _manage_page(_details((tenant_id, booking_id)), token, error=exc.message, status=409)
    flash(_("Your booking is cancelled. Your place has been given back."), "success")
    return redirect(url_for(".manage", token=token), 303)


# --- waitlist offers ------------------------------------------------------------------


def _offer(token: str) -> tuple[Tenant, WaitlistEntry]:
    tenant_id, entry_id = read_offer_token(token)
    tenant = _scope(tenant_id)
    entry = db.session.get(WaitlistEntry, (tenant_id, entry_id))
    if entry is None:
        raise _invalid()
    return tenant, entry


def _offer_page(tenant, entry, token, *, error: str | None = None, status: int = 200):
    now = utcnow()
    open_offer = entry.status == WaitlistStatus.OFFERED and entry.offer_expires_at > now
    return (
        render_template(
            "vouchers/offer.html",
            tenant=tenant,
            entry=entry,
            token=token,
            offer=services.offer_details(entry) if open_offer else None,
            options=services.offer_options(entry, now) if open_offer else [],
            error=error,
        ),
        status,
    )


@bp.get("/offer/<token>")
def offer(token: str):
    return _offer_page(*_offer(token), token)


@bp.post("/offer/<token>")
def accept(token: str):
    tenant, entry = _offer(token)
    entry_id = entry.id
    try:
        form = SlotChoiceSchema().load(request.form)
    except ValidationError:
        return _offer_page(tenant, entry, token, error=_("Choose a time."), status=400)
    try:
        booking_id = run_in_transaction(lambda: services.accept(entry_id, form["slot_id"]))
    except BookingError as exc:
        db.session.rollback()
        tenant, entry = _offer(token)
        return _offer_page(tenant, entry, token, error=exc.message, status=409)
    details = load_details(booking_id, tenant.id)
    flash(_("Your booking is confirmed. We have emailed you the voucher."), "success")
    return redirect(voucher_url(details.booking, _external=False), 303)
