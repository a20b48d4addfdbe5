"""The public proof page of an employee campaign: ``/b/<tenant>/<campaign>/proof``.

No sign-in. The person proves they are on the roster (employee number and date of
birth, a magic link by email, or an invite code); the proof is kept in the session
(:mod:`tenants.roster.eligibility`) and they are sent on to the booking page.

Guesses are throttled per address and, for the date-of-birth proof, per employee
number; link requests per email address. The email answer is the same whether the
address is on the roster or not.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint
from flask import abort
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from core.errors import DomainError
from core.extensions import db
from core.extensions import limiter
from core.models import Tenant
from core.models import TenantStatus
from core.tenancy import scope_request_to
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.roster import eligibility
from tenants.roster.schemas import ProofBirthDateSchema
from tenants.roster.schemas import ProofCodeSchema
from tenants.roster.schemas import ProofEmailSchema
from tenants.roster.schemas import load_form

bp = Blueprint(
    "roster_public",
    __name__,
    url_prefix="/b/<tenant_slug>/<campaign_slug>",
    template_folder="templates",
)

PROOFS = ("birth_date", "email", "code")


def _setting(name: str, default: str):
    """A limit operators can tune, e.g. ROSTER_LIMIT_PROOF_IP="20/minute"."""
    return lambda: current_app.config.get(name, default)


def _how() -> str:
    return request.form.get("how", "")


def _by_employee() -> str:
    number = request.form.get("employee_number", "").strip().lower()
    return f"roster-proof:{request.view_args.get('campaign_slug')}:{number}"


def _by_email() -> str:
    return "roster-link:" + request.form.get("email", "").strip().lower()


_throttled = [
    limiter.limit(_setting("ROSTER_LIMIT_PROOF_IP", "20/minute"), methods=["POST"]),
    limiter.limit(
        _setting("ROSTER_LIMIT_PROOF_EMPLOYEE", "5/15 minutes"),
        key_func=_by_employee,
        exempt_when=lambda: _how() != "birth_date",
        methods=["POST"],
    ),
    limiter.limit(
        _setting("ROSTER_LIMIT_LINK_EMAIL", "3/hour"),
        key_func=_by_email,
        exempt_when=lambda: _how() != "email",
        methods=["POST"],
    ),
]


def _throttle(view):
    for limit in reversed(_throttled):
        view = limit(view)
    return view


def _campaign(tenant_slug: str, campaign_slug: str) -> Campaign:
    """The published employee campaign the URL names (the request scoped to its tenant),
    or 404."""
    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None or tenant.status != TenantStatus.ACTIVE:
        abort(404)
    scope_request_to(tenant)
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.slug == campaign_slug))
    if (
        campaign is None
        or campaign.status != CampaignStatus.PUBLISHED
        or campaign.audience != Audience.EMPLOYEES
    ):
        abort(404)
    return campaign


def booking_start(tenant_slug: str, campaign_slug: str) -> str:
    """Where the booking begins: the public booking page (``public.campaign``)."""
    if "public.campaign" in current_app.view_functions:
        return url_for("public.campaign", tenant_slug=tenant_slug, campaign_slug=campaign_slug)
    return f"/b/{tenant_slug}/{campaign_slug}"


def _page(campaign: Campaign, status: int = 200, **extra):
    tenant_slug = request.view_args["tenant_slug"]
    return (
        render_template(
            "roster/proof.html",
            campaign=campaign,
            booking_start=booking_start(tenant_slug, campaign.slug),
            proven=eligibility.current_eligibility(campaign),
            errors=extra.pop("errors", {}),
            values=extra.pop("values", {}),
            how=extra.pop("how", None),
            **extra,
        ),
        status,
    )


@bp.route("/proof", methods=["GET", "POST"])
@_throttle
def proof(tenant_slug: str, campaign_slug: str):
    """Prove that you may book: employee number and date of birth, a link by email, or
    an invite code."""
    campaign = _campaign(tenant_slug, campaign_slug)
    if request.method == "GET":
        return _page(campaign)
    how = _how()
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    if how not in PROOFS:
        message = _("Choose one of the ways to show you may book.")
        return _page(campaign, 422, errors={"form": message})
    schema = {
        "birth_date": ProofBirthDateSchema,
        "email": ProofEmailSchema,
        "code": ProofCodeSchema,
    }[how]()
    data, errors = load_form(schema, request.form)
    if errors:
        return _page(campaign, 422, errors=errors, values=values, how=how)
    if how == "email":
        eligibility.request_magic_link(
            campaign, tenant_slug, data["email"], locale=str(get_locale() or "id")
        )
        return render_template("roster/link_sent.html", campaign=campaign, tenant_slug=tenant_slug)
    try:
        if how == "birth_date":
            proven = eligibility.prove_by_birth_date(
                campaign, data["employee_number"], data["date_of_birth"]
            )
        else:
            proven = eligibility.prove_by_invite_code(campaign, data["code"])
    except DomainError as exc:
        field = "code" if how == "code" else "form"
        return _page(campaign, exc.status, errors={field: exc.message}, values=values, how=how)
    eligibility.remember(proven)
    return redirect(booking_start(tenant_slug, campaign_slug))


@bp.route("/proof/link/<token>", methods=["GET", "POST"])
@limiter.limit(_setting("ROSTER_LIMIT_PROOF_IP", "20/minute"), methods=["POST"])
def link(tenant_slug: str, campaign_slug: str, token: str):
    """The emailed link. Opening it only shows a button: mail scanners that follow links
    must not spend it; pressing the button does."""
    campaign = _campaign(tenant_slug, campaign_slug)
    try:
        if request.method == "GET":
            eligibility.check_link(campaign, token)
            return render_template("roster/link.html", campaign=campaign, tenant_slug=tenant_slug)
        proven = eligibility.prove_by_link(campaign, token)
    except DomainError as exc:
        page = render_template(
            "roster/link.html", campaign=campaign, tenant_slug=tenant_slug, problem=exc.message
        )
        return page, 400
    eligibility.remember(proven)
    return redirect(booking_start(tenant_slug, campaign_slug))
