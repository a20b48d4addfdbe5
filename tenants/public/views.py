"""The public booking page: ``/b/<tenant>`` and ``/b/<tenant>/<campaign>/…``.

No sign-in. Each request resolves the tenant from the URL and scopes itself to it
(``scope_request_to``), so nothing of another tenant can be loaded: another tenant's
campaign slug or venue id answers 404. Steps, each a plain form or link (no
JavaScript needed): venue → day → time → personal data → review → confirm → done.
The choice so far is kept in the session (:mod:`tenants.public.draft`); the ledger
rechecks seats and doses at confirmation.

Anti-abuse on the confirmation POST: limits per address, per NIK and per phone (keys
are keyed hashes, never the NIK itself), a honeypot field, and a minimum time to fill
the personal-data form. Limits are settings (``PUBLIC_BOOKING_RATE_PER_IP`` …).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import ValidationError

from core import crypto
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.extensions import limiter
from core.models import Tenant
from core.models import TenantStatus
from core.tenancy import current_tenant_id
from core.tenancy import scope_request_to
from onboarding.venues.models import Venue
from tenants.booking.models import Booking
from tenants.booking.models import WaitlistEntry
from tenants.booking.models import mask_nik
from tenants.booking.services import availability
from tenants.booking.services.common import local_day
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import Slot
from tenants.public import draft as drafts
from tenants.public import roster
from tenants.public import services
from tenants.public.schemas import PRIVACY_NOTICE_VERSION
from tenants.public.schemas import PersonSchema

bp = Blueprint("public", __name__, url_prefix="/b/<tenant_slug>", template_folder="templates")
static_bp = Blueprint(
    "public_static", __name__, static_folder="static", static_url_path="/static/public"
)

#: ledger refusals that send the person back to choose another time
_BACK_TO_SLOTS = {"slot_full", "no_doses", "unknown_slot"}


# --- anti-abuse -------------------------------------------------------------------------


def _setting(name: str, default: str):
    """A limit operators (and the load benchmark) can tune, e.g. "30/minute"."""
    return lambda: current_app.config.get(name) or default


def _identity_key(which: str) -> str:
    """The rate-limit key for the draft's NIK or phone: a keyed hash, never the value.
    Empty (exempt) when the session holds no personal data yet."""
    cache = g.setdefault("_public_identity", {})
    if which not in cache:
        cache[which] = ""
        kept = session.get(drafts.SESSION_KEY)
        if isinstance(kept, dict) and kept.get("p"):
            try:
                person = drafts.load(uuid.UUID(kept["c"])).person or {}
            except (KeyError, ValueError):
                person = {}
            if person.get(which):
                cache[which] = (
                    "public-"
                    + which
                    + ":"
                    + crypto.blind_index(person[which], "ratelimit-" + which)
                )
    return cache[which]


_confirm_limits = [
    limiter.limit(_setting("PUBLIC_BOOKING_RATE_PER_IP", "30/minute"), methods=["POST"]),
    limiter.limit(
        _setting("PUBLIC_BOOKING_RATE_PER_NIK", "5/hour"),
        key_func=lambda: _identity_key("nik"),
        exempt_when=lambda: not _identity_key("nik"),
        methods=["POST"],
    ),
    limiter.limit(
        _setting("PUBLIC_BOOKING_RATE_PER_PHONE", "10/hour"),
        key_func=lambda: _identity_key("phone"),
        exempt_when=lambda: not _identity_key("phone"),
        methods=["POST"],
    ),
]


def _limited(view):
    for limit in reversed(_confirm_limits):
        view = limit(view)
    return view


def _honeypot_filled() -> bool:
    return bool(request.form.get(drafts.HONEYPOT, "").strip())


# --- loading ----------------------------------------------------------------------------


def _tenant(tenant_slug: str) -> Tenant:
    """The tenant the URL names, with the request scoped to it; 404 unless it exists and
    has been approved (a suspended one still has a page that says so)."""
    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None or tenant.status == TenantStatus.PENDING:
        abort(404)
    scope_request_to(tenant)
    g.public_tenant = tenant
    return tenant


def _unavailable(tenant: Tenant, campaign: Campaign | None, message: str):
    return render_template(
        "public/unavailable.html", org=tenant, campaign=campaign, message=message
    )


class _Stop(Exception):
    """A polite page (or a redirect) instead of the step."""

    def __init__(self, response):
        self.response = response


def _open_campaign(tenant_slug: str, campaign_slug: str) -> tuple[Tenant, Campaign]:
    """The campaign taking bookings now, or a _Stop with the page that says why."""
    tenant = _tenant(tenant_slug)
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.slug == campaign_slug))
    if campaign is None or campaign.status == CampaignStatus.DRAFT:
        abort(404)
    if tenant.status != TenantStatus.ACTIVE:
        raise _Stop(
            _unavailable(
                tenant, campaign, _("This organiser is not taking bookings at the moment.")
            )
        )
    now = utcnow()
    if campaign.status == CampaignStatus.CLOSED or (
        campaign.closes_at is not None and now >= campaign.closes_at
    ):
        raise _Stop(_unavailable(tenant, campaign, _("Booking for this campaign has closed.")))
    if campaign.opens_at is not None and now < campaign.opens_at:
        raise _Stop(
            _unavailable(tenant, campaign, _("Booking for this campaign has not opened yet."))
        )
    if roster.needs_eligibility(campaign) and roster.eligibility_for(campaign) is None:
        raise _Stop(
            redirect(
                url_for(roster.PROOF_ENDPOINT, tenant_slug=tenant.slug, campaign_slug=campaign.slug)
            )
        )
    return tenant, campaign


def _step(view):
    """Run a step with its tenant and open campaign loaded, or answer the _Stop."""

    @functools.wraps(view)
    def wrapper(tenant_slug: str, campaign_slug: str, **kwargs):
        try:
            tenant, campaign = _open_campaign(tenant_slug, campaign_slug)
        except _Stop as stop:
            return stop.response
        return view(tenant, campaign, **kwargs)

    return wrapper


def _venue(campaign: Campaign, venue_id: str) -> Venue:
    """One of the campaign's approved venues, or 404 (another tenant's id included)."""
    try:
        vid = uuid.UUID(venue_id)
    except ValueError:
        abort(404)
    venue = next((v for v in services.campaign_venues(campaign) if v.id == vid), None)
    if venue is None:
        abort(404)
    return venue


def _day(value: str, campaign: Campaign) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        abort(404)
    if not campaign.starts_on <= day <= campaign.ends_on:
        abort(404)
    return day


def _page(template: str, tenant: Tenant, campaign: Campaign | None, status: int = 200, **context):
    return render_template(template, org=tenant, campaign=campaign, **context), status


def _to(endpoint: str, tenant: Tenant, campaign: Campaign, **values):
    return url_for(endpoint, tenant_slug=tenant.slug, campaign_slug=campaign.slug, **values)


# --- pages ------------------------------------------------------------------------------


@bp.route("")
def tenant(tenant_slug: str):
    """The organiser's published campaigns."""
    org = _tenant(tenant_slug)
    campaigns = services.published_campaigns() if org.status == TenantStatus.ACTIVE else []
    return _page("public/tenant.html", org, None, campaigns=campaigns)


@bp.route("/<campaign_slug>")
@_step
def campaign(tenant: Tenant, campaign: Campaign):
    """Step 1: choose a venue (address, opening hours, a map link); a venue with no
    places left says so (its days offer the waitlist)."""
    now = utcnow()
    venues = [
        (place, sum(d.bookable for d in services.days_with_seats(campaign, place, now)))
        for place in services.campaign_venues(campaign)
    ]
    return _page("public/venues.html", tenant, campaign, venues=venues)


@bp.route("/<campaign_slug>/venue/<venue_id>")
@_step
def venue(tenant: Tenant, campaign: Campaign, venue_id: str):
    """Step 2: choose a day; a full day offers the waitlist."""
    place = _venue(campaign, venue_id)
    days = services.days_with_seats(campaign, place, utcnow())
    return _page("public/days.html", tenant, campaign, venue=place, days=days)


@bp.route("/<campaign_slug>/venue/<venue_id>/<day>", methods=["GET", "POST"])
@_step
def day(tenant: Tenant, campaign: Campaign, venue_id: str, day: str):
    """Step 3: choose a time; the seats left are the ledger's counters now."""
    place = _venue(campaign, venue_id)
    date = _day(day, campaign)
    draft = drafts.load(campaign.id)
    error = None
    if request.method == "POST":
        slot_id = _slot_of(campaign, place, date, request.form.get("slot", ""))
        if slot_id is not None:
            draft.venue_id, draft.day, draft.slot_id, draft.mode = place.id, date, slot_id, "book"
            drafts.save(draft)
            return redirect(_to("public.details", tenant, campaign))
        error = _("Choose a time.")
    now = utcnow()
    zone = ZoneInfo(place.timezone)
    slots = [
        (s, s.starts_at.astimezone(zone), s.ends_at.astimezone(zone))
        for s in availability(campaign, place.id, date)
        if s.starts_at > now
    ]
    return _page(
        "public/slots.html",
        tenant,
        campaign,
        422 if error else 200,
        venue=place,
        day=date,
        slots=slots,
        chosen=draft.slot_id,
        error=error,
        full=not any(s.bookable for s, _start, _end in slots),
    )


def _slot_of(campaign: Campaign, venue: Venue, day: dt.date, value: str) -> uuid.UUID | None:
    """The slot id posted, if it is one of this campaign's slots at the venue that day."""
    try:
        slot_id = uuid.UUID(value)
    except ValueError:
        return None
    slot = db.session.get(Slot, (campaign.tenant_id, slot_id))
    if slot is None or slot.campaign_id != campaign.id or slot.venue_id != venue.id:
        return None
    return slot.id if local_day(slot.starts_at, venue.timezone) == day else None


@bp.route("/<campaign_slug>/venue/<venue_id>/<day>/waitlist", methods=["POST"])
@_step
def waitlist(tenant: Tenant, campaign: Campaign, venue_id: str, day: str):
    """A full day: continue to the personal data to join its waitlist."""
    place = _venue(campaign, venue_id)
    draft = drafts.load(campaign.id)
    draft.venue_id, draft.day, draft.slot_id, draft.mode = (
        place.id,
        _day(day, campaign),
        None,
        "waitlist",
    )
    drafts.save(draft)
    return redirect(_to("public.details", tenant, campaign))


@bp.route("/<campaign_slug>/details", methods=["GET", "POST"])
@_step
def details(tenant: Tenant, campaign: Campaign):
    """Step 4: personal data, consent; a NIK that disagrees is confirmed with a tick."""
    draft = drafts.load(campaign.id)
    if not draft.ready_for_details:
        return redirect(_to("public.campaign", tenant, campaign))
    eligibility = roster.eligibility_for(campaign)
    groups = roster.priority_groups(campaign)
    if request.method == "GET":
        values = dict(draft.person or {})
        if values.get("date_of_birth"):
            values["date_of_birth"] = values["date_of_birth"].isoformat()
        if not values and eligibility is not None and eligibility.full_name:
            values["full_name"] = eligibility.full_name  # the roster's spelling, to correct
        values["consent"] = False  # asked again each time the form is sent
        return _details_page(tenant, campaign, draft, eligibility, groups, values=values)
    values = request.form.to_dict()
    errors: dict[str, list[str]] = {}
    if _honeypot_filled():
        errors["form"] = [_("Please leave the last field empty and send the form again.")]
    else:
        waited = drafts.seconds_since_stamp(request.form.get("started", ""), campaign.id)
        if waited is None or waited < current_app.config.get("PUBLIC_BOOKING_MIN_FILL_SECONDS", 3):
            errors["form"] = [
                _("That was very quick. Please check your details and send the form again.")
            ]
    data = None
    try:
        data = PersonSchema().load(request.form)
    except ValidationError as exc:
        errors.update(exc.messages)
    group_id = None
    if groups:
        group_id = next(
            (grp.id for grp in groups if str(grp.id) == request.form.get("group")), None
        )
        if group_id is None:
            errors["group"] = [_("Choose the group you belong to.")]
    dependant = request.form.get("for_whom") == "dependant"
    if dependant and not (eligibility and eligibility.dependants_left > 0):
        errors["for_whom"] = [_("No more family members can be booked under this employee.")]
    if errors:
        return _details_page(
            tenant, campaign, draft, eligibility, groups, values=values, errors=errors, status=422
        )
    data.pop("consent", None)
    data.pop("confirm_mismatch", None)
    draft.person, draft.dependant, draft.priority_group_id = data, dependant, group_id
    drafts.save(draft)
    return redirect(_to("public.review", tenant, campaign))


def _details_page(tenant, campaign, draft, eligibility, groups, *, values, errors=None, status=200):
    errors = errors or {}
    return _page(
        "public/details.html",
        tenant,
        campaign,
        status,
        draft=draft,
        values=values,
        errors=errors,
        warnings=errors.pop("confirm_mismatch", None),
        eligibility=eligibility,
        groups=groups,
        started=drafts.form_stamp(campaign.id),
        honeypot=drafts.HONEYPOT,
        notice_version=PRIVACY_NOTICE_VERSION,
        choice=_describe(draft),
    )


def _describe(draft: drafts.Draft) -> dict | None:
    if draft.venue_id is None:
        return None
    tid = current_tenant_id()
    venue = db.session.get(Venue, (tid, draft.venue_id))
    slot = db.session.get(Slot, (tid, draft.slot_id)) if draft.slot_id else None
    if venue is None:
        return None
    zone = ZoneInfo(venue.timezone)
    return {
        "venue": venue,
        "day": draft.day,
        "starts": slot.starts_at.astimezone(zone) if slot else None,
        "ends": slot.ends_at.astimezone(zone) if slot else None,
    }


@bp.route("/<campaign_slug>/review")
@_step
def review(tenant: Tenant, campaign: Campaign):
    """Step 5: check everything (the NIK masked) and confirm."""
    draft = drafts.load(campaign.id)
    if not draft.ready_for_review:
        return redirect(_to("public.details", tenant, campaign))
    return _review_page(tenant, campaign, draft)


def _review_page(tenant, campaign, draft, status=200, error=None):
    return _page(
        "public/review.html",
        tenant,
        campaign,
        status,
        draft=draft,
        person=draft.person,
        nik_masked=mask_nik(draft.person["nik"]),
        honeypot=drafts.HONEYPOT,
        error=error,
        groups={grp.id: grp for grp in roster.priority_groups(campaign)},
        choice=_describe(draft),
    )


@bp.route("/<campaign_slug>/confirm", methods=["POST"])
@_limited
@_step
def confirm(tenant: Tenant, campaign: Campaign):
    """Book (or join the waitlist): the ledger rechecks seats and doses now."""
    draft = drafts.load(campaign.id)
    if not draft.ready_for_review:
        return redirect(_to("public.details", tenant, campaign))
    if _honeypot_filled():
        return _review_page(
            tenant,
            campaign,
            draft,
            400,
            _("Please leave the last field empty and confirm again."),
        )
    campaign_id, tenant_slug, campaign_slug = campaign.id, tenant.slug, campaign.slug
    try:
        done = services.confirm(campaign_id, draft, locale=str(get_locale() or "id"))
    except DomainError as exc:
        db.session.rollback()
        if getattr(exc, "code", None) in _BACK_TO_SLOTS and draft.mode == "book":
            draft.slot_id = None
            drafts.save(draft)
            flash(exc.message + " " + _("Your details are kept."), "error")
            return redirect(
                _to(
                    "public.day",
                    tenant,
                    campaign,
                    venue_id=draft.venue_id,
                    day=draft.day.isoformat(),
                )
            )
        return _review_page(tenant, campaign, draft, exc.status, exc.message)
    drafts.clear()
    drafts.remember_done(campaign_id, done.kind, done.id)
    # After the commit the ORM objects are expired: use the names read before it
    # (reloading tenant and campaign was a fifth of this request).
    return redirect(url_for("public.done", tenant_slug=tenant_slug, campaign_slug=campaign_slug))


@bp.route("/<campaign_slug>/done")
def done(tenant_slug: str, campaign_slug: str):
    """The confirmation: when and where, the voucher code and link."""
    org = _tenant(tenant_slug)
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.slug == campaign_slug))
    if campaign is None or campaign.status == CampaignStatus.DRAFT:
        abort(404)
    made = drafts.done(campaign.id)
    if made is None:
        return redirect(
            url_for("public.campaign", tenant_slug=org.slug, campaign_slug=campaign.slug)
        )
    kind, object_id = made
    if kind == "waitlist":
        entry = db.session.get(WaitlistEntry, (org.id, object_id))
        if entry is None:
            abort(404)
        venue = db.session.get(Venue, (org.id, entry.venue_id))
        return _page("public/done.html", org, campaign, waitlist=entry, venue=venue)
    booking = db.session.get(Booking, (org.id, object_id))
    if booking is None:
        abort(404)
    venue = db.session.get(Venue, (org.id, booking.venue_id))
    slot = db.session.get(Slot, (org.id, booking.slot_id))
    zone = ZoneInfo(venue.timezone)
    return _page(
        "public/done.html",
        org,
        campaign,
        booking=booking,
        venue=venue,
        starts=slot.starts_at.astimezone(zone),
        ends=slot.ends_at.astimezone(zone),
        voucher=_voucher_link(booking),
    )


def _voucher_link(booking: Booking) -> str | None:
    """The voucher page (issue 5, vouchers) if that package is installed; else None and
    the page shows the voucher code alone."""
    try:
        from tenants.vouchers.tokens import voucher_url
    except ImportError:
        return None
    if "vouchers.voucher" not in current_app.view_functions:
        return None
    return voucher_url(booking, _external=False)
