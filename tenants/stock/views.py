"""The tenant console's stock pages: counters per venue and product, lots, receiving,
transfers, waste and the tenant's own vaccines.

Check-in staff may look (they take doses from lots); coordinators and above change
stock. Every POST makes one service call; the ones that move ledger counters run in
:func:`tenants.booking.transaction.run_in_transaction` (it commits and retries lock
conflicts), the catalogue form commits at the edge like any other form.
"""

from __future__ import annotations

import datetime as dt

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
from core.models import User
from tenants.booking.transaction import run_in_transaction
from tenants.stock import queries
from tenants.stock import services
from tenants.stock.models import Lot
from tenants.stock.models import MovementKind
from tenants.stock.schemas import WASTE_REASONS
from tenants.stock.schemas import ProductSchema
from tenants.stock.schemas import ReceiveLotSchema
from tenants.stock.schemas import TransferSchema
from tenants.stock.schemas import WasteSchema
from tenants.stock.schemas import load_form

bp = tenant_blueprint("stock", __name__, url_prefix="/stock", template_folder="templates")


@bp.context_processor
def _stock_globals():
    membership = g.get("membership")
    return {
        "can_manage": membership is not None
        and ROLE_RANK[membership.role] >= ROLE_RANK[Role.COORDINATOR]
    }


def _movement_labels() -> dict:
    return {
        MovementKind.RECEIVED: _("Received"),
        MovementKind.TRANSFER_IN: _("Transferred in"),
        MovementKind.TRANSFER_OUT: _("Transferred out"),
        MovementKind.WASTED: _("Wasted"),
        MovementKind.ADMINISTERED: _("Given"),
        MovementKind.EXPIRED: _("Expired"),
        MovementKind.VOID_ADMINISTRATION: _("Administration voided"),
    }


@bp.route("")
@require_role(Role.CHECKIN)
def index():
    """On hand, promised and free doses per venue and product; lots by expiry."""
    return render_template(
        "stock/index.html",
        rows=queries.stock_rows(),
        lots=queries.lot_rows(),
        rate_days=queries.RATE_DAYS,
        near_days=queries.NEAR_EXPIRY_DAYS,
    )


def _receive_page(values: dict, errors: dict, status: int = 200):
    return (
        render_template(
            "stock/receive.html",
            values=values,
            errors=errors,
            venues=queries.venues(),
            products=queries.products(),
            today=dt.date.today(),
        ),
        status,
    )


@bp.route("/receive", methods=["GET", "POST"])
@require_role(Role.COORDINATOR)
def receive():
    """Receive a lot at a venue: doses, or vials times the vaccine's doses per vial."""
    if request.method == "GET":
        return _receive_page({"venue_id": request.args.get("venue_id", "")}, {})
    data, errors = load_form(ReceiveLotSchema(), request.form)
    if errors:
        return _receive_page(request.form, errors, 422)
    actor_id = current_user.id

    def work():
        return services.receive_lot(
            data["venue_id"],
            data["product_id"],
            data["batch_number"],
            data["expiry_date"],
            doses=data.get("doses"),
            vials=data.get("vials"),
            actor=db.session.get(User, actor_id),
        ).id

    try:
        lot_id = run_in_transaction(work)
    except DomainError as exc:
        return _receive_page(request.form, {"form": exc.message}, exc.status)
    flash(_("Lot received."), "success")
    return redirect(url_for(".lot", lot_id=lot_id))


def _lot_page(lot: Lot, status: int = 200, **extra):
    venues = [v for v in queries.venues() if v.id != lot.venue_id]
    return (
        render_template(
            "stock/lot.html",
            lot=lot,
            venue=next(v for v in queries.venues() if v.id == lot.venue_id),
            product=services.get_product(lot.product_id),
            movements=queries.movements_of(lot),
            labels=_movement_labels(),
            other_venues=venues,
            waste_reasons=WASTE_REASONS,
            near=lot.expiry_date <= dt.date.today() + dt.timedelta(days=queries.NEAR_EXPIRY_DAYS),
            transfer_values=extra.pop("transfer_values", {}),
            transfer_errors=extra.pop("transfer_errors", {}),
            waste_values=extra.pop("waste_values", {}),
            waste_errors=extra.pop("waste_errors", {}),
            **extra,
        ),
        status,
    )


@bp.route("/lots/<lot_id>")
@require_role(Role.CHECKIN)
def lot(lot_id):
    """A lot: where it is, what is left, and every movement of its doses."""
    return _lot_page(get_or_404(Lot, lot_id))


@bp.route("/lots/<lot_id>/transfer", methods=["POST"])
@require_role(Role.COORDINATOR)
def transfer(lot_id):
    """Send free doses of a lot to another venue of the organisation."""
    lot = get_or_404(Lot, lot_id)
    data, errors = load_form(TransferSchema(), request.form)
    if errors:
        return _lot_page(lot, 422, transfer_values=request.form, transfer_errors=errors)
    lot_pk, actor_id = lot.id, current_user.id

    def work():
        services.transfer_doses(
            lot_pk,
            data["to_venue_id"],
            data["doses"],
            actor=db.session.get(User, actor_id),
            reason=data.get("reason"),
        )

    try:
        run_in_transaction(work)
    except DomainError as exc:
        lot = get_or_404(Lot, lot_pk)
        return _lot_page(
            lot,
            exc.status,
            transfer_values=request.form,
            transfer_errors={"transfer-form": exc.message},
        )
    flash(_("%(n)d doses transferred.", n=data["doses"]), "success")
    return redirect(url_for(".lot", lot_id=lot_pk))


@bp.route("/lots/<lot_id>/waste", methods=["POST"])
@require_role(Role.COORDINATOR)
def waste(lot_id):
    """Record doses of a lot lost (damaged, cold chain, opened vial past its hours)."""
    lot = get_or_404(Lot, lot_id)
    data, errors = load_form(WasteSchema(), request.form)
    if errors:
        return _lot_page(lot, 422, waste_values=request.form, waste_errors=errors)
    reason = str(WASTE_REASONS[data["reason"]])
    if data.get("note"):
        reason = f"{reason}: {data['note']}"
    lot_pk, actor_id = lot.id, current_user.id

    def work():
        services.record_waste(lot_pk, data["doses"], reason, actor=db.session.get(User, actor_id))

    try:
        run_in_transaction(work)
    except DomainError as exc:
        lot = get_or_404(Lot, lot_pk)
        return _lot_page(
            lot, exc.status, waste_values=request.form, waste_errors={"waste-form": exc.message}
        )
    flash(_("%(n)d doses recorded as wasted.", n=data["doses"]), "success")
    return redirect(url_for(".lot", lot_id=lot_pk))


def _products_page(values: dict, errors: dict, status: int = 200):
    return (
        render_template(
            "stock/products.html", products=queries.products(), values=values, errors=errors
        ),
        status,
    )


@bp.route("/products")
@require_role(Role.CHECKIN)
def products():
    """The vaccine catalogue: the platform's vaccines and the organisation's own."""
    return _products_page({"doses_in_series": 1, "doses_per_vial": 1}, {})


@bp.route("/products/new", methods=["POST"])
@require_role(Role.COORDINATOR)
def add_product():
    """Add the organisation's own vaccine (flu, HPV, ...) to its catalogue."""
    data, errors = load_form(ProductSchema(), request.form)
    if errors:
        return _products_page(request.form, errors, 422)
    series = data["doses_in_series"]
    intervals = [
        (n, n + 1, data["interval_days"], data["interval_days"], dt.date(2000, 1, 1))
        for n in range(1, series)
    ]
    try:
        product = services.create_product(
            data["name"],
            data["manufacturer"],
            doses_in_series=series,
            booster=data["booster"],
            doses_per_vial=data["doses_per_vial"],
            open_vial_hours=data.get("open_vial_hours"),
            min_age_years=data.get("min_age_years"),
            max_age_years=data.get("max_age_years"),
            intervals=intervals,
        )
    except DomainError as exc:
        return _products_page(request.form, {"form": exc.message}, exc.status)
    flash(_("%(name)s added to your catalogue.", name=product.name), "success")
    return redirect(url_for(".products"))
