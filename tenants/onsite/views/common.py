"""What the on-site views share: the blueprint, the desk (venue and day remembered in
the session), time fields, running a service in the ledger's transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from zoneinfo import ZoneInfo

from flask import g
from flask import session
from flask_login import current_user

from core.access import ROLE_RANK
from core.access import tenant_blueprint
from core.extensions import db
from core.models import Role
from core.models import User
from onboarding.venues.models import Venue
from tenants.booking.transaction import run_in_transaction
from tenants.onsite import clock
from tenants.onsite.services.common import local_day

bp = tenant_blueprint("onsite", __name__, template_folder="../templates")

_DESK = "onsite_desk"


@bp.context_processor
def _onsite_globals():
    membership = g.get("membership")
    rank = ROLE_RANK[membership.role] if membership is not None else 0
    return {
        "is_coordinator": rank >= ROLE_RANK[Role.COORDINATOR],
        "is_admin": rank >= ROLE_RANK[Role.ADMIN],
    }


def desk() -> tuple[Venue, dt.date] | None:
    """The venue and day this browser's desk works on, if chosen (and still valid)."""
    chosen = session.get(_DESK) or {}
    if chosen.get("tenant") != str(g.tenant.id):
        return None
    try:
        venue = db.session.get(Venue, (g.tenant.id, uuid.UUID(chosen["venue"])))
        day = dt.date.fromisoformat(chosen["day"])
    except (KeyError, ValueError):
        return None
    return (venue, day) if venue is not None else None


def remember_desk(venue: Venue, day: dt.date) -> None:
    session[_DESK] = {"tenant": str(g.tenant.id), "venue": str(venue.id), "day": day.isoformat()}


def today_at(venue: Venue) -> dt.date:
    return local_day(clock.now(), venue.timezone)


def at_local(venue: Venue, day: dt.date, time: dt.time | None) -> dt.datetime:
    """A time typed at the desk (the venue's clock, the desk's day) as UTC; now if none."""
    if time is None:
        return clock.now()
    return dt.datetime.combine(day, time, ZoneInfo(venue.timezone)).astimezone(dt.UTC)


def run(work: Callable[[User], object]):
    """Run ``work(actor)`` as one ledger unit of work (commit, retry lock conflicts)."""
    actor_id = current_user.id
    return run_in_transaction(lambda: work(db.session.get(User, actor_id)))


@bp.app_template_filter("onsite_local")
def _onsite_local(at: dt.datetime | None, timezone: str, fmt: str = "%H:%M") -> str:
    """A UTC instant on the venue's clock (``fmt`` e.g. ``%Y-%m-%d %H:%M``)."""
    return at.astimezone(ZoneInfo(timezone)).strftime(fmt) if at else ""
