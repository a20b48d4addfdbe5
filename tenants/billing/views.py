"""Billing pages for owners (``/o/<tenant>/billing/``) and Stripe's webhook."""

from __future__ import annotations

import logging
import uuid

import click
from flask import Blueprint
from flask import abort
from flask import current_app
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from core.access import ROLE_RANK
from core.access import require_role
from core.access import tenant_blueprint
from core.errors import DomainError
from core.extensions import csrf
from core.extensions import db
from core.extensions import limiter
from core.models import Role
from core.tenancy import Scope
from core.tenancy import cross_tenant
from tenants.billing import queries
from tenants.billing import services
from tenants.billing import webhooks
from tenants.billing.gateway import InvalidWebhook
from tenants.billing.gateway import billing_enabled
from tenants.billing.gateway import get_gateway
from tenants.billing.plans import PLANS
from tenants.billing.plans import paid_plans
from tenants.billing.schemas import CheckoutSchema

log = logging.getLogger(__name__)

bp = tenant_blueprint("billing", __name__, url_prefix="/billing", template_folder="templates")
#: Stripe calls this one with no session, no tenant and no CSRF token: its signature is the proof.
webhook_bp = Blueprint("billing_webhook", __name__, cli_group="billing")


def _external(endpoint: str, **values) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.route("/")
@require_role(Role.OWNER)
def page():
    """Plan, usage this month against its limits, invoices; upgrade or manage."""
    tenant = g.tenant
    account = queries.get_account(tenant)
    plan = queries.effective_plan(account)
    return render_template(
        "billing/page.html",
        billing_on=billing_enabled(),
        account=account,
        plan=plan,
        plans=PLANS,
        paid_plans=[p for p in paid_plans() if p.stripe_price_id()],
        usage=queries.get_usage(tenant),
        allowance=queries.booking_allowed(tenant),
        suspended=queries.is_suspended(account),
        grace_ends=queries.grace_ends_at(account),
        invoices=queries.list_invoices(tenant),
        format_amount=queries.format_amount,
        limit_reached=queries.limit_reached,
        request_key=uuid.uuid4(),
        checkout_state=request.args.get("checkout"),
    )


@bp.route("/checkout", methods=["POST"])
@require_role(Role.OWNER)
def checkout():
    """Send the owner to Stripe Checkout for the chosen plan."""
    try:
        data = CheckoutSchema().load(request.form.to_dict())
    except ValidationError as exc:
        raise DomainError(
            _("Choose a plan to upgrade to."), code="invalid", errors=exc.messages
        ) from exc
    url = services.start_checkout(
        g.tenant,
        data["plan"],
        actor=current_user,
        request_key=data["request_key"],
        success_url=_external("billing.page", checkout="success"),
        cancel_url=_external("billing.page", checkout="cancelled"),
    )
    return redirect(url, code=303)


@bp.route("/portal", methods=["POST"])
@require_role(Role.OWNER)
def portal():
    """Send the owner to Stripe's customer portal (payment methods, invoices, cancel)."""
    url = services.open_portal(g.tenant, actor=current_user, return_url=_external("billing.page"))
    return redirect(url, code=303)


@bp.app_context_processor
def billing_notice():
    """The console banner: payment owed, bookings suspended, or the plan's limit reached."""
    tenant, membership = g.get("tenant"), g.get("membership")
    if tenant is None or membership is None or not billing_enabled():
        return {}
    if (request.endpoint or "").startswith("billing."):
        return {}  # the billing page says it itself, with more detail
    try:
        account = queries.get_account(tenant)
        owner = membership.role == Role.OWNER
        if queries.is_suspended(account):
            kind = "suspended"
        elif account is not None and account.delinquent:
            kind = "past_due"
        elif ROLE_RANK[membership.role] >= ROLE_RANK[Role.ADMIN] and (
            queries.booking_allowed(tenant).reason == "plan_limit"
        ):
            kind = "plan_limit"
        else:
            return {}
    except Exception:  # a banner must never break a page
        log.exception("billing banner failed")
        return {}
    return {
        "billing_notice": {
            "kind": kind,
            "owner": owner,
            "grace_ends": queries.grace_ends_at(account),
        }
    }


@webhook_bp.route("/billing/stripe/webhook", methods=["POST"])
@csrf.exempt
@limiter.exempt
def stripe_webhook():
    """Verify Stripe's signature on the raw body, then apply the event once."""
    if not billing_enabled():
        abort(404)
    try:
        event = get_gateway().construct_event(
            request.get_data(), request.headers.get("Stripe-Signature")
        )
    except InvalidWebhook as exc:
        log.warning("stripe webhook refused", extra={"error": str(exc)})
        return {"error": "invalid payload or signature"}, 400
    outcome = webhooks.process_stripe_event(event)
    log.info("stripe webhook", extra={"event": event.get("id"), "outcome": outcome})
    # Commit at the edge (core.app): the event id and its effect together, or neither.
    return {"received": True, "outcome": outcome}


@webhook_bp.cli.command("enforce-grace")
def enforce_grace_command() -> None:
    """Suspend new bookings of tenants past their payment grace period (run periodically)."""
    with cross_tenant(Scope.SYSTEM):
        count = services.enforce_payment_grace()
    db.session.commit()
    click.echo(f"{count} tenant(s) suspended for non-payment.")
