"""The registration desk: find the booking from a voucher, show what to compare with
the KTP and what is wrong, and check the person in (booked → arrived) exactly once."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit import log_action
from core.extensions import db
from core.models import User
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.models import Person
from tenants.booking.services import BookingError
from tenants.booking.services import find_person_by_nik
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot
from tenants.onsite.models import CheckIn
from tenants.onsite.services.common import EARLY
from tenants.onsite.services.common import LATE
from tenants.onsite.services.common import OnsiteError
from tenants.onsite.services.common import day_bounds
from tenants.onsite.services.common import local_day
from tenants.onsite.services.common import local_time
from tenants.onsite.services.common import tenant_id
from tenants.onsite.services.common import venue_of
from tenants.stock.models import Product
from tenants.stock.services import interval_rule_for
from tenants.vouchers.tokens import find_by_code
from tenants.vouchers.tokens import parse_scan

#: flags that stop a check-in; the others are warnings staff confirm
BLOCKING = frozenset(
    {"cancelled", "no_show", "vaccinated", "already_checked_in", "wrong_venue", "interval"}
)


@dataclass(frozen=True)
class Flag:
    code: str
    message: str

    @property
    def blocking(self) -> bool:
        return self.code in BLOCKING


@dataclass
class Inspection:
    """What the desk shows about a booking before checking it in."""

    booking: Booking
    person: Person
    campaign: Campaign
    product: Product
    venue: Venue
    slot: Slot | None
    checkin: CheckIn | None
    flags: list[Flag] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(f.blocking for f in self.flags)

    @property
    def warnings(self) -> list[Flag]:
        return [f for f in self.flags if not f.blocking]


def find_booking(text: str) -> Booking | None:
    """The booking a scanned QR (the voucher URL or its token) or a typed voucher code
    names, in the current tenant; None otherwise (a voucher of another organiser is
    not found, as if it did not exist)."""
    scanned = parse_scan(text)
    if scanned is not None:
        scanned_tenant, booking_id = scanned
        if scanned_tenant != tenant_id():
            return None
        return db.session.get(Booking, (tenant_id(), booking_id))
    return find_by_code(text)


def active_checkin(booking_id: uuid.UUID) -> CheckIn | None:
    return db.session.scalar(
        sa.select(CheckIn).where(CheckIn.booking_id == booking_id, CheckIn.released_at.is_(None))
    )


def _user_name(user_id: uuid.UUID | None) -> str:
    if user_id is None:
        return "—"
    return db.session.scalar(sa.select(User.name).where(User.id == user_id)) or "—"


def _already(checkin: CheckIn, timezone: str) -> str:
    return _(
        "Already checked in at %(time)s on %(day)s by %(name)s.",
        time=local_time(checkin.checked_in_at, timezone),
        day=local_day(checkin.checked_in_at, timezone).isoformat(),
        name=_user_name(checkin.by_id),
    )


def previous_dose_at(booking: Booking) -> dt.datetime | None:
    """When this person's previous dose of the series was given here (not voided)."""
    if booking.dose_number <= 1:
        return None
    return db.session.scalar(
        sa.select(sa.func.max(Administration.administered_at))
        .join(
            Booking,
            tenant_join(Booking, Administration.booking_id),
        )
        .where(
            Booking.person_id == booking.person_id,
            Booking.product_id == booking.product_id,
            Administration.dose_number == booking.dose_number - 1,
            Administration.voided_at.is_(None),
        )
    )


def inspect_booking(
    booking: Booking, venue_id: uuid.UUID, day: dt.date, now: dt.datetime
) -> Inspection:
    """The person, the appointment and every flag the desk must see (reads only)."""
    venue = venue_of(booking.venue_id)
    here = venue_of(venue_id)
    inspection = Inspection(
        booking=booking,
        person=db.session.get(Person, (tenant_id(), booking.person_id)),
        campaign=db.session.get(Campaign, (tenant_id(), booking.campaign_id)),
        product=db.session.get(Product, booking.product_id),
        venue=venue,
        slot=db.session.get(Slot, (tenant_id(), booking.slot_id)) if booking.slot_id else None,
        checkin=active_checkin(booking.id),
    )
    flags = inspection.flags
    status = booking.status
    if status == BookingStatus.CANCELLED:
        flags.append(Flag("cancelled", _("This booking was cancelled.")))
    elif status == BookingStatus.NO_SHOW:
        flags.append(Flag("no_show", _("This booking was marked as a no-show.")))
    elif status == BookingStatus.VACCINATED:
        flags.append(Flag("vaccinated", _("This dose has already been given.")))
    if inspection.checkin is not None:
        flags.append(Flag("already_checked_in", _already(inspection.checkin, here.timezone)))
    if booking.venue_id != venue_id:
        flags.append(
            Flag(
                "wrong_venue",
                _(
                    "This booking is for %(venue)s, not this venue: its dose is kept there.",
                    venue=venue.name,
                ),
            )
        )
    slot = inspection.slot
    if slot is not None:
        slot_day = local_day(slot.starts_at, venue.timezone)
        if slot_day != day:
            flags.append(
                Flag(
                    "wrong_day",
                    _("The appointment is on %(day)s, not today.", day=slot_day.isoformat()),
                )
            )
        elif now < slot.starts_at - EARLY:
            flags.append(
                Flag(
                    "too_early",
                    _(
                        "Early: the appointment is at %(time)s.",
                        time=local_time(slot.starts_at, venue.timezone),
                    ),
                )
            )
        elif now > slot.ends_at + LATE:
            flags.append(
                Flag(
                    "too_late",
                    _(
                        "Late: the appointment was at %(time)s.",
                        time=local_time(slot.starts_at, venue.timezone),
                    ),
                )
            )
    if booking.dose_number > 1 and status in (BookingStatus.BOOKED, BookingStatus.ARRIVED):
        given = previous_dose_at(booking)
        if given is None:
            flags.append(
                Flag(
                    "previous_dose_unknown",
                    _(
                        "No record of dose %(n)s here: check the vaccination card.",
                        n=booking.dose_number - 1,
                    ),
                )
            )
        else:
            given_day = local_day(given, venue.timezone)
            rule = interval_rule_for(booking.product_id, booking.dose_number - 1, given_day)
            if rule is not None and day < given_day + dt.timedelta(days=rule.min_days):
                flags.append(
                    Flag(
                        "interval",
                        _(
                            "Too soon: dose %(n)s may be given from %(day)s.",
                            n=booking.dose_number,
                            day=(given_day + dt.timedelta(days=rule.min_days)).isoformat(),
                        ),
                    )
                )
    return inspection


def check_in(
    booking_id: uuid.UUID,
    venue_id: uuid.UUID,
    day: dt.date,
    *,
    actor: User | None,
    nonce: str | None = None,
    confirm_warnings: bool = False,
    now: dt.datetime,
) -> CheckIn:
    """Staff matched the voucher and the KTP: the booking becomes ``arrived``.

    One conditional UPDATE (booked → arrived, at this venue) decides, so of two desks
    checking the same person in only one succeeds; the other is refused with the
    first check-in's time. A repeat of the same request (same ``nonce``) answers with
    the check-in it made. Blocking flags refuse; warnings need ``confirm_warnings``.
    """
    if nonce:
        earlier = _by_nonce(nonce, booking_id)
        if earlier is not None:
            return earlier
    booking = db.session.get(Booking, (tenant_id(), booking_id), populate_existing=True)
    if booking is None:
        raise OnsiteError(_("Unknown booking."), code="invalid", status=404)
    inspection = inspect_booking(booking, venue_id, day, now)
    blocking = [f for f in inspection.flags if f.blocking]
    if blocking:
        # The same request may have committed since the first look (a retry racing it).
        if nonce and (earlier := _by_nonce(nonce, booking_id)) is not None:
            return earlier
        raise OnsiteError(blocking[0].message, code=blocking[0].code)
    if inspection.warnings and not confirm_warnings:
        raise OnsiteError(
            _(
                "Confirm that you checked the warnings: %(list)s",
                list=" ".join(f.message for f in inspection.warnings),
            ),
            code="confirm_warnings",
        )
    arrived = db.session.execute(
        sa.update(Booking)
        .where(
            Booking.tenant_id == tenant_id(),
            Booking.id == booking_id,
            Booking.venue_id == venue_id,
            Booking.status == BookingStatus.BOOKED,
        )
        .values(status=BookingStatus.ARRIVED)
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    ).first()
    if arrived is None:
        # Another desk won the row meanwhile (or this very request, retried).
        if nonce and (earlier := _by_nonce(nonce, booking_id)) is not None:
            return earlier
        if (first := active_checkin(booking_id)) is not None:
            raise OnsiteError(_already(first, inspection.venue.timezone), code="already_checked_in")
        raise OnsiteError(_("This booking is no longer active."), code="not_active")
    checkin = CheckIn(
        booking_id=booking_id,
        venue_id=venue_id,
        checked_in_at=now,
        by_id=actor.id if actor else None,
        client_nonce=nonce or None,
    )
    db.session.add(checkin)
    db.session.flush()
    log_action(checkin, "onsite.checkin.created", actor, {"booking_id": str(booking_id)})
    db.session.refresh(booking)
    return checkin


def _by_nonce(nonce: str, booking_id: uuid.UUID) -> CheckIn | None:
    earlier = db.session.scalar(sa.select(CheckIn).where(CheckIn.client_nonce == nonce))
    if earlier is None:
        return None
    if earlier.booking_id != booking_id:
        raise OnsiteError(_("This form was already used; reload the page."), code="invalid")
    return earlier


@dataclass(frozen=True)
class LookupRow:
    booking: Booking
    person: Person
    slot: Slot | None


def lookup_today(
    venue_id: uuid.UUID, day: dt.date, query: str, *, actor: User | None
) -> list[LookupRow]:
    """People who lost their voucher: today's bookings at this venue whose person's
    name contains ``query`` (3 letters at least) or whose NIK is ``query``. Never
    wider than today and this venue, and every search is in the audit trail (who
    searched, how, how many found; not the NIK itself)."""
    query = (query or "").strip()
    venue = venue_of(venue_id)
    start, end = day_bounds(day, venue.timezone)
    digits = query.replace(" ", "")
    if digits.isdigit():
        try:
            person = find_person_by_nik(digits)
        except BookingError as exc:
            raise OnsiteError(exc.message, code="invalid") from exc
        match = Person.id == person.id if person is not None else sa.false()
        kind = "nik"
    else:
        if len(query) < 3:
            raise OnsiteError(_("Type at least 3 letters of the name."), code="invalid")
        pattern = "%" + query.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
        match = sa.func.lower(Person.full_name).like(pattern)
        kind = "name"
    today = sa.or_(
        sa.and_(Slot.starts_at >= start, Slot.starts_at < end),
        # walk-ins have no slot: registered today
        sa.and_(Booking.slot_id.is_(None), Booking.created_at >= start, Booking.created_at < end),
    )
    rows = db.session.execute(
        sa.select(Booking, Person, Slot)
        .join(Person, tenant_join(Person, Booking.person_id))
        .outerjoin(Slot, tenant_join(Slot, Booking.slot_id))
        .where(Booking.venue_id == venue_id, match, today)
        .order_by(Slot.starts_at, Person.full_name)
        .limit(20)
    ).all()
    log_action(
        venue,
        "onsite.checkin.lookup",
        actor,
        {"by": kind, "day": day.isoformat(), "found": len(rows)},
    )
    return [LookupRow(b, p, s) for b, p, s in rows]
