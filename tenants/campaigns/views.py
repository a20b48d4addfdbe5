"""The tenant console's campaign pages: list, create and edit, slots, publish and close.

Coordinators and above. Every POST makes one service call. Capacity changes move a
ledger counter's bound, so they run in :func:`run_in_transaction` like the booking
services; the rest commits at the edge. A service's refusal (a venue not approved, the
organisation not active, seats below bookings) re-renders the page with its message.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.access import get_or_404
from core.access import require_role
from core.access import tenant_blueprint
from core.errors import DomainError
from core.extensions import db
from core.models import Role
from core.models import User
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus
from tenants.booking.services import availability
from tenants.booking.services.common import day_bounds
from tenants.booking.services.common import local_day
from tenants.booking.transaction import run_in_transaction
from tenants.campaigns import services
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import Slot
from tenants.campaigns.schemas import AUDIENCE_LABELS
from tenants.campaigns.schemas import DOSE_CHOICES
from tenants.campaigns.schemas import CapacitySchema
from tenants.campaigns.schemas import load_campaign_form
from tenants.stock import queries as stock_queries
from tenants.stock.schemas import load_form
from tenants.stock.services import get_product

bp = tenant_blueprint("campaigns", __name__, url_prefix="/campaigns", template_folder="templates")


def _actor() -> User:
    return db.session.get(User, current_user.id)


@bp.route("")
@require_role(Role.COORDINATOR)
def index():
    """The organisation's campaigns and where each stands."""
    campaigns = db.session.scalars(
        sa.select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.name)
    ).all()
    names = {p.id: p.name for p in stock_queries.products()}
    return render_template("campaigns/list.html", campaigns=campaigns, product_names=names)


# --- create and edit -------------------------------------------------------------------


def _approved_venues() -> list[Venue]:
    return list(
        db.session.scalars(
            sa.select(Venue).where(Venue.status == VenueStatus.APPROVED).order_by(Venue.name)
        )
    )


def _chosen(values, name: str) -> set[str]:
    """The checked boxes of a checkbox list, from a submitted form or from defaults."""
    if hasattr(values, "getlist"):
        return set(values.getlist(name))
    return {str(v) for v in values.get(name, [])}


def _form_page(campaign: Campaign | None, values, errors: dict, status: int = 200):
    return (
        render_template(
            "campaigns/form.html",
            campaign=campaign,
            values=values,
            chosen_venues=_chosen(values, "venue_ids"),
            chosen_doses=_chosen(values, "doses_offered"),
            errors=errors,
            venues=_approved_venues(),
            other_venues=db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Venue)
                .where(Venue.status != VenueStatus.APPROVED)
            ),
            products=stock_queries.products(),
            audiences=AUDIENCE_LABELS,
            dose_choices=DOSE_CHOICES,
        ),
        status,
    )


def _zone_of(venue_ids) -> ZoneInfo:
    """The zone the booking window is entered in: that of the campaign's first venue by
    name (the order the form lists them in), WIB without one."""
    zone = None
    if venue_ids:
        zone = db.session.scalar(
            sa.select(Venue.timezone)
            .where(Venue.id.in_(list(venue_ids)))
            .order_by(Venue.name, Venue.id)
            .limit(1)
        )
    return ZoneInfo(zone or "Asia/Jakarta")


def _to_utc(data: dict) -> dict:
    zone = _zone_of(data.get("venue_ids"))
    for name in ("opens_at", "closes_at"):
        if data.get(name) is not None:
            data[name] = data[name].replace(tzinfo=zone).astimezone(dt.UTC)
    return data


def _to_local(at: dt.datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if at else ""


@bp.route("/new", methods=["GET", "POST"])
@require_role(Role.COORDINATOR)
def create():
    """A new draft campaign at approved venues."""
    if request.method == "GET":
        defaults = {
            "audience": Audience.PUBLIC.value,
            "slot_minutes": 15,
            "walk_ins_per_day": 0,
            "doses_offered": ["1"],
        }
        return _form_page(None, defaults, {})
    data, errors = load_campaign_form(request.form)
    if errors:
        return _form_page(None, request.form, errors, 422)
    try:
        campaign = services.create_campaign(**_to_utc(data))
    except DomainError as exc:
        return _form_page(None, request.form, {"form": exc.message}, exc.status)
    flash(_("Campaign saved as a draft. Generate its slots, then publish it."), "success")
    return redirect(url_for(".detail", campaign_id=campaign.id))


@bp.route("/<campaign_id>/edit", methods=["GET", "POST"])
@require_role(Role.COORDINATOR)
def edit(campaign_id):
    """Change a draft campaign."""
    campaign = get_or_404(Campaign, campaign_id)
    if request.method == "GET":
        venue_ids = services.campaign_venue_ids(campaign)
        zone = _zone_of(venue_ids)
        values = {
            "name": campaign.name,
            "slug": campaign.slug,
            "audience": campaign.audience.value,
            "product_id": str(campaign.product_id),
            "doses_offered": [str(d) for d in campaign.doses_offered],
            "venue_ids": [str(v) for v in venue_ids],
            "starts_on": campaign.starts_on.isoformat(),
            "ends_on": campaign.ends_on.isoformat(),
            "slot_minutes": campaign.slot_minutes,
            "seats_per_slot": campaign.seats_per_slot,
            "opens_at": _to_local(campaign.opens_at, zone),
            "closes_at": _to_local(campaign.closes_at, zone),
            "min_age_years": campaign.min_age_years,
            "max_age_years": campaign.max_age_years,
            "walk_ins_per_day": campaign.walk_ins_per_day,
        }
        return _form_page(campaign, values, {})
    data, errors = load_campaign_form(request.form)
    if errors:
        return _form_page(campaign, request.form, errors, 422)
    try:
        removed = services.update_campaign(campaign, actor=_actor(), **_to_utc(data))
    except DomainError as exc:
        return _form_page(campaign, request.form, {"form": exc.message}, exc.status)
    if removed:
        flash(
            _(
                "Saved. %(n)d slots no longer fit and were removed; generate slots again.",
                n=removed,
            ),
            "success",
        )
    else:
        flash(_("Saved."), "success")
    return redirect(url_for(".detail", campaign_id=campaign.id))


# --- detail, publish, close ------------------------------------------------------------


def _days(campaign: Campaign) -> list[dict]:
    """Per venue and local day: seats, booked, the venue's doses free and how many more
    people can book that day.

    Doses free come from the ledger's :func:`availability` (one call per venue: a venue's
    free doses are one stock counter, the same for every day); "can book" is then
    :func:`bookable_on_day`'s rule, min(free seats of the day, doses free), computed from
    the day's slot counters read in one query.
    """
    rows = db.session.execute(
        sa.select(Slot.venue_id, Slot.starts_at, Slot.capacity, Slot.booked).where(
            Slot.campaign_id == campaign.id
        )
    ).all()
    # the slots' venues (a slot may outlive its venue's place in the campaign)
    venues = {
        v.id: v
        for v in db.session.scalars(sa.select(Venue).where(Venue.id.in_({r[0] for r in rows})))
    }
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for venue_id, starts_at, capacity, booked in rows:
        key = (venue_id, local_day(starts_at, venues[venue_id].timezone))
        totals[key][0] += capacity
        totals[key][1] += booked
        totals[key][2] += max(0, capacity - booked)
    doses_free = {}
    for venue_id, day in sorted(totals):
        if venue_id not in doses_free:
            slots = availability(campaign, venue_id, day)
            doses_free[venue_id] = slots[0].doses_free if slots else 0
    days = []
    for (venue_id, day), (seats, booked, seats_free) in sorted(
        totals.items(), key=lambda item: (venues[item[0][0]].name, item[0][1])
    ):
        days.append(
            {
                "venue": venues[venue_id],
                "day": day,
                "seats": seats,
                "booked": booked,
                "doses_free": doses_free[venue_id],
                "bookable": max(0, min(seats_free, doses_free[venue_id])),
            }
        )
    return days


def _detail_page(campaign: Campaign, status: int = 200, **extra):
    venue_ids = services.campaign_venue_ids(campaign)
    venues = list(
        db.session.scalars(sa.select(Venue).where(Venue.id.in_(venue_ids)).order_by(Venue.name))
    )
    zone = _zone_of(venue_ids)
    return (
        render_template(
            "campaigns/detail.html",
            campaign=campaign,
            product=get_product(campaign.product_id),
            venues=venues,
            days=_days(campaign),
            opens_at=_to_local(campaign.opens_at, zone).replace("T", " "),
            closes_at=_to_local(campaign.closes_at, zone).replace("T", " "),
            zone=zone.key,
            dose_choices=DOSE_CHOICES,
            audiences=AUDIENCE_LABELS,
            **extra,
        ),
        status,
    )


@bp.route("/<campaign_id>")
@require_role(Role.COORDINATOR)
def detail(campaign_id):
    """A campaign: its settings, venues, and per day the seats, bookings and doses free."""
    return _detail_page(get_or_404(Campaign, campaign_id))


@bp.route("/<campaign_id>/generate", methods=["POST"])
@require_role(Role.COORDINATOR)
def generate(campaign_id):
    """Create the campaign's slots from its venues' opening hours (existing slots stay)."""
    campaign = get_or_404(Campaign, campaign_id)
    if campaign.status == CampaignStatus.CLOSED:
        return _detail_page(campaign, 409, action_error=_("This campaign is closed."))
    try:
        created = services.generate_slots(campaign)
    except DomainError as exc:
        return _detail_page(campaign, exc.status, action_error=exc.message)
    flash(_("%(n)d slots created.", n=created), "success")
    return redirect(url_for(".detail", campaign_id=campaign.id))


@bp.route("/<campaign_id>/publish", methods=["POST"])
@require_role(Role.COORDINATOR)
def publish(campaign_id):
    """Open the campaign for booking (every venue approved, the organisation active)."""
    campaign = get_or_404(Campaign, campaign_id)
    try:
        services.publish_campaign(campaign, actor=_actor())
    except DomainError as exc:
        db.session.rollback()
        campaign = get_or_404(Campaign, campaign_id)
        return _detail_page(campaign, exc.status, action_error=exc.message)
    flash(_("Published: people can book once the booking window opens."), "success")
    return redirect(url_for(".detail", campaign_id=campaign.id))


@bp.route("/<campaign_id>/close", methods=["POST"])
@require_role(Role.COORDINATOR)
def close(campaign_id):
    """Stop new bookings; bookings already made stay valid."""
    campaign = get_or_404(Campaign, campaign_id)
    try:
        services.close_campaign(campaign, actor=_actor())
    except DomainError as exc:
        return _detail_page(campaign, exc.status, action_error=exc.message)
    flash(_("Closed: no new bookings. Existing bookings stay valid."), "success")
    return redirect(url_for(".detail", campaign_id=campaign.id))


# --- the slot editor -------------------------------------------------------------------


def _slots_page(campaign: Campaign, venue_id, day, status: int = 200, **extra):
    venue_ids = services.campaign_venue_ids(campaign)
    venues = list(
        db.session.scalars(sa.select(Venue).where(Venue.id.in_(venue_ids)).order_by(Venue.name))
    )
    venue = next((v for v in venues if str(v.id) == str(venue_id)), venues[0] if venues else None)
    slots = []
    if venue is not None:
        start, end = day_bounds(day, venue.timezone)
        slots = list(
            db.session.scalars(
                sa.select(Slot)
                .where(
                    Slot.campaign_id == campaign.id,
                    Slot.venue_id == venue.id,
                    Slot.starts_at >= start,
                    Slot.starts_at < end,
                )
                .order_by(Slot.starts_at)
            )
        )
    zone = ZoneInfo(venue.timezone) if venue else ZoneInfo("Asia/Jakarta")
    return (
        render_template(
            "campaigns/slots.html",
            campaign=campaign,
            venues=venues,
            venue=venue,
            day=day,
            prev_day=day - dt.timedelta(days=1) if day > campaign.starts_on else None,
            next_day=day + dt.timedelta(days=1) if day < campaign.ends_on else None,
            slots=slots,
            zone=zone,
            errors=extra.pop("errors", {}),
            values=extra.pop("values", {}),
            **extra,
        ),
        status,
    )


def _day_arg(campaign: Campaign, raw: str | None) -> dt.date:
    try:
        day = dt.date.fromisoformat(raw) if raw else campaign.starts_on
    except ValueError:
        day = campaign.starts_on
    return min(max(day, campaign.starts_on), campaign.ends_on)


@bp.route("/<campaign_id>/slots")
@require_role(Role.COORDINATOR)
def slots(campaign_id):
    """The slots of one venue on one day, each with its seats."""
    campaign = get_or_404(Campaign, campaign_id)
    return _slots_page(
        campaign, request.args.get("venue_id"), _day_arg(campaign, request.args.get("day"))
    )


@bp.route("/<campaign_id>/slots/<slot_id>", methods=["POST"])
@require_role(Role.COORDINATOR)
def set_capacity(campaign_id, slot_id):
    """Change one slot's seats (never below the people already booked in it)."""
    campaign = get_or_404(Campaign, campaign_id)
    slot = get_or_404(Slot, slot_id)
    if slot.campaign_id != campaign.id:
        abort(404)
    venue = db.session.get(Venue, (campaign.tenant_id, slot.venue_id))
    day = local_day(slot.starts_at, venue.timezone)
    key = f"slot-{slot.id}"
    data, errors = load_form(CapacitySchema(), request.form)
    if errors:
        return _slots_page(
            campaign,
            venue.id,
            day,
            422,
            errors={key: errors["capacity"]},
            values={key: request.form.get("capacity", "")},
        )
    slot_pk, actor_id, campaign_pk = slot.id, current_user.id, campaign.id

    def work():
        services.set_slot_capacity(slot_pk, data["capacity"], actor=db.session.get(User, actor_id))

    try:
        run_in_transaction(work)
    except DomainError as exc:
        campaign = get_or_404(Campaign, campaign_pk)
        return _slots_page(
            campaign,
            venue.id,
            day,
            exc.status,
            errors={key: exc.message},
            values={key: request.form.get("capacity", "")},
        )
    flash(_("Seats saved."), "success")
    return redirect(
        url_for(".slots", campaign_id=campaign_pk, venue_id=venue.id, day=day.isoformat())
        + f"#{key}"
    )
