"""What the on-site services share: their error, local days, time limits."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from core.errors import DomainError
from core.extensions import db
from core.tenancy import current_tenant_id
from onboarding.venues.models import Venue

#: the ministry's observation after each dose
OBSERVATION = dt.timedelta(minutes=30)
#: how early before the slot, and how late after it ends, a check-in is not flagged
EARLY = dt.timedelta(minutes=60)
LATE = dt.timedelta(minutes=60)
#: an opened vial this close to its hours is flagged at the vaccination desk
VIAL_WARNING = dt.timedelta(minutes=30)
#: doses entered later from a paper form may be up to this old
BACKDATE_LIMIT = dt.timedelta(days=7)


class OnsiteError(DomainError):
    """An on-site desk refused; ``code`` says why (``already_checked_in``,
    ``wrong_venue``, ``not_checked_in``, ``confirm_warnings``, ``note_required``,
    ``no_slot``, ``not_screened``, ``vial_closed``, ``invalid``, ...)."""

    status = 409
    code = "onsite"


def tenant_id() -> uuid.UUID:
    tid = current_tenant_id()
    if tid is None:
        raise RuntimeError(_("on-site services run inside tenant_context()"))
    return tid


def venue_of(venue_id: uuid.UUID) -> Venue:
    venue = db.session.get(Venue, (tenant_id(), venue_id))
    if venue is None:
        raise OnsiteError(_("Unknown venue."), code="invalid", status=404)
    return venue


def local_day(at: dt.datetime, timezone: str) -> dt.date:
    """The venue's local date at an instant."""
    return at.astimezone(ZoneInfo(timezone)).date()


def day_bounds(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a venue's local day, in UTC."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def local_time(at: dt.datetime | None, timezone: str) -> str:
    """``HH:MM`` in the venue's zone (what staff on site read)."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%H:%M") if at else ""
