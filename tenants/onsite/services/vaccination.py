"""The vaccination and observation desks: the lot, the opened vial, the dose through
the ledger, the 30-minute observation and adverse events (KIPI); voiding a mistaken
record."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa
from flask_babel import gettext as _

from core.audit import log_action
from core.extensions import db
from core.models import Membership
from core.models import User
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.services import AdministrationResult
from tenants.booking.services import record_administration
from tenants.booking.services import void_administration
from tenants.onsite.models import AdverseEvent
from tenants.onsite.models import Observation
from tenants.onsite.models import ScreeningOutcome
from tenants.onsite.models import Severity
from tenants.onsite.models import VialOpening
from tenants.onsite.services.common import BACKDATE_LIMIT
from tenants.onsite.services.common import OBSERVATION
from tenants.onsite.services.common import VIAL_WARNING
from tenants.onsite.services.common import OnsiteError
from tenants.onsite.services.common import day_bounds
from tenants.onsite.services.common import local_day
from tenants.onsite.services.common import local_time
from tenants.onsite.services.common import tenant_id
from tenants.onsite.services.common import venue_of
from tenants.onsite.services.screening import latest_screening
from tenants.stock.models import Lot
from tenants.stock.models import Product
from tenants.stock.services import record_waste

_NO_SYNC = {"synchronize_session": False}


def usable_lots(venue_id: uuid.UUID, product_id: uuid.UUID, day: dt.date) -> list[Lot]:
    """Lots a dose may come from: at this venue, of this vaccine, with doses, not
    expired on ``day``; the first to expire first (use it before it is lost)."""
    return list(
        db.session.scalars(
            sa.select(Lot)
            .where(
                Lot.venue_id == venue_id,
                Lot.product_id == product_id,
                Lot.on_hand > 0,
                Lot.expiry_date > day,
            )
            .order_by(Lot.expiry_date, Lot.received_at, Lot.id)
        )
    )


def staff(now: dt.datetime) -> list[User]:
    """The tenant's current members (who may be named as vaccinator)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.tenant_id == tenant_id(),
                sa.or_(Membership.ends_at.is_(None), Membership.ends_at > now),
            )
            .order_by(User.name)
        )
    )


def open_vials(venue_id: uuid.UUID) -> list[VialOpening]:
    return list(
        db.session.scalars(
            sa.select(VialOpening)
            .where(VialOpening.venue_id == venue_id, VialOpening.closed_at.is_(None))
            .order_by(VialOpening.opened_at, VialOpening.id)
        )
    )


def open_vial(
    lot_id: uuid.UUID,
    venue_id: uuid.UUID,
    *,
    opened_at: dt.datetime,
    actor: User | None,
    now: dt.datetime,
    doses_on_hand: int | None = None,
) -> VialOpening:
    """Record that a multi-dose vial of a lot was opened at ``opened_at``; it must be
    used up before its product's open-vial hours pass (end of the day without them)."""
    lot = db.session.get(Lot, (tenant_id(), lot_id))
    if lot is None or lot.venue_id != venue_id:
        raise OnsiteError(_("This lot is not at this venue."), code="invalid")
    product = db.session.get(Product, lot.product_id)
    if product.doses_per_vial <= 1:
        raise OnsiteError(_("This vaccine comes in single-dose vials."), code="invalid")
    if opened_at > now + dt.timedelta(minutes=1) or opened_at < now - BACKDATE_LIMIT:
        raise OnsiteError(_("The opening time must be in the past week."), code="invalid")
    venue = venue_of(venue_id)
    if product.open_vial_hours:
        closes_at = opened_at + dt.timedelta(hours=product.open_vial_hours)
    else:
        closes_at = day_bounds(local_day(opened_at, venue.timezone), venue.timezone)[1]
    vial = VialOpening(
        lot_id=lot.id,
        venue_id=venue_id,
        doses_in_vial=min(
            product.doses_per_vial, lot.on_hand if doses_on_hand is None else doses_on_hand
        ),
        opened_at=opened_at,
        closes_at=closes_at,
        doses_used=0,
        opened_by_id=actor.id if actor else None,
    )
    if vial.doses_in_vial <= 0:
        raise OnsiteError(_("This lot has no doses left."), code="invalid")
    db.session.add(vial)
    db.session.flush()
    log_action(vial, "onsite.vial.opened", actor, {"lot_id": str(lot.id)})
    return vial


def _take_from_vial(lot_id: uuid.UUID, at: dt.datetime) -> uuid.UUID | None:
    """One dose from the oldest open vial of the lot still within its hours."""
    candidates = db.session.scalars(
        sa.select(VialOpening.id)
        .where(
            VialOpening.lot_id == lot_id,
            VialOpening.closed_at.is_(None),
            VialOpening.doses_used < VialOpening.doses_in_vial,
            VialOpening.closes_at > at,
            VialOpening.opened_at <= at,
        )
        .order_by(VialOpening.opened_at, VialOpening.id)
    ).all()
    for vial_id in candidates:
        row = db.session.execute(
            sa.update(VialOpening)
            .where(
                VialOpening.tenant_id == tenant_id(),
                VialOpening.id == vial_id,
                VialOpening.closed_at.is_(None),
                VialOpening.doses_used < VialOpening.doses_in_vial,
            )
            .values(doses_used=VialOpening.doses_used + 1)
            .returning(VialOpening.id)
            .execution_options(**_NO_SYNC)
        ).first()
        if row is not None:
            return row.id
    return None


@dataclass
class DoseResult:
    """The dose recorded (with the ledger's answer about the next dose), the vial it
    came from, the observation and warnings for the desk."""

    ledger: AdministrationResult
    observation: Observation
    vial: VialOpening | None
    warnings: list[str] = field(default_factory=list)


def record_dose(
    booking_id: uuid.UUID,
    lot_id: uuid.UUID,
    *,
    vaccinator_id: uuid.UUID,
    administered_at: dt.datetime,
    actor: User | None,
    now: dt.datetime,
) -> DoseResult:
    """Record a dose for a checked-in person screened "vaccinate".

    The ledger (``record_administration``) takes the dose from the lot and the
    venue's stock, releases the booking's promise and books the next dose (its
    voucher mail follows from ``booking_created``). For a multi-dose vaccine the dose
    comes from an opened vial of the lot (one is opened at ``administered_at`` if
    none is open); the person is then observed for 30 minutes.
    """
    booking = db.session.get(Booking, (tenant_id(), booking_id), populate_existing=True)
    if booking is None or booking.status != BookingStatus.ARRIVED:
        raise OnsiteError(
            _("Only a checked-in person waiting for their dose can be vaccinated."),
            code="not_checked_in",
        )
    screening = latest_screening(booking_id)
    if screening is None or screening.outcome != ScreeningOutcome.VACCINATE:
        raise OnsiteError(_("Screen this person first."), code="not_screened")
    if administered_at > now + dt.timedelta(minutes=1) or administered_at < now - BACKDATE_LIMIT:
        raise OnsiteError(_("The time of the dose must be in the past week."), code="invalid")
    vaccinator = next((u for u in staff(now) if u.id == vaccinator_id), None)
    if vaccinator is None:
        raise OnsiteError(_("Choose the vaccinator from your team."), code="invalid")
    lot = db.session.get(Lot, (tenant_id(), lot_id))
    if lot is None or lot.venue_id != booking.venue_id or lot.product_id != booking.product_id:
        raise OnsiteError(
            _("This lot is not of this booking's vaccine at this venue."), code="lot_unusable"
        )
    product = db.session.get(Product, booking.product_id)
    venue = venue_of(booking.venue_id)
    doses_before = db.session.scalar(sa.select(Lot.on_hand).where(Lot.id == lot_id))

    # The ledger first (booking, slots, stock, lot: its lock order), then the vial.
    result = record_administration(booking_id, lot_id, vaccinator=vaccinator, now=administered_at)
    warnings: list[str] = []
    vial = None
    if product.doses_per_vial > 1:
        vial_id = _take_from_vial(lot_id, administered_at)
        if vial_id is None:
            vial = open_vial(
                lot_id,
                booking.venue_id,
                opened_at=administered_at,
                actor=actor,
                now=now,
                doses_on_hand=doses_before,
            )
            db.session.execute(
                sa.update(VialOpening)
                .where(VialOpening.tenant_id == tenant_id(), VialOpening.id == vial.id)
                .values(doses_used=VialOpening.doses_used + 1)
                .execution_options(**_NO_SYNC)
            )
            warnings.append(
                _(
                    "A new vial of lot %(batch)s was recorded as opened at %(time)s.",
                    batch=lot.batch_number,
                    time=local_time(administered_at, venue.timezone),
                )
            )
        vial = db.session.get(
            VialOpening, (tenant_id(), vial_id or vial.id), populate_existing=True
        )
        if vial.closes_at - now <= VIAL_WARNING and vial.doses_left > 0:
            warnings.append(
                _(
                    "The open vial of lot %(batch)s must be used by %(time)s (%(n)s doses left).",
                    batch=lot.batch_number,
                    time=local_time(vial.closes_at, venue.timezone),
                    n=vial.doses_left,
                )
            )
    observation = Observation(
        administration_id=result.administration.id,
        booking_id=booking_id,
        venue_id=booking.venue_id,
        started_at=administered_at,
        observation_until=administered_at + OBSERVATION,
        vial_opening_id=vial.id if vial else None,
    )
    db.session.add(observation)
    db.session.flush()
    log_action(
        result.administration,
        "onsite.administration.recorded",
        actor,
        {"booking_id": str(booking_id), "lot_id": str(lot_id), "vaccinator": str(vaccinator.id)},
    )
    return DoseResult(result, observation, vial, warnings)


def void_dose(
    administration_id: uuid.UUID, reason: str, *, actor: User | None, now: dt.datetime
) -> Booking:
    """An admin voids a mistaken record (the ledger returns the dose to its lot and
    the person to ``arrived``; the original stays, voided, with the audit line). The
    dose goes back to its open vial too, if the vial is still open."""
    result = void_administration(administration_id, reason, actor=actor, now=now)
    vial_id = db.session.scalar(
        sa.select(Observation.vial_opening_id).where(
            Observation.administration_id == administration_id
        )
    )
    if vial_id is not None:
        db.session.execute(
            sa.update(VialOpening)
            .where(
                VialOpening.tenant_id == tenant_id(),
                VialOpening.id == vial_id,
                VialOpening.closed_at.is_(None),
                VialOpening.doses_used > 0,
            )
            .values(doses_used=VialOpening.doses_used - 1)
            .execution_options(**_NO_SYNC)
        )
    return result


def close_vial(
    vial_id: uuid.UUID,
    *,
    actor: User | None,
    now: dt.datetime,
    reason: str | None = None,
) -> VialOpening:
    """Close an opened vial: its doses not recorded as given are wasted from its
    lot. Conditional, so a
    vial closes once; the waste is refused (``promised_doses``) when the venue's
    remaining doses are all promised — the stock must be fixed first."""
    vial = db.session.get(VialOpening, (tenant_id(), vial_id), populate_existing=True)
    if vial is None or vial.closed_at is not None:
        raise OnsiteError(_("This vial is already closed."), code="vial_closed")
    leftover = max(vial.doses_left, 0)
    lot_on_hand = db.session.scalar(sa.select(Lot.on_hand).where(Lot.id == vial.lot_id)) or 0
    leftover = min(leftover, lot_on_hand)
    closed = db.session.execute(
        sa.update(VialOpening)
        .where(
            VialOpening.tenant_id == tenant_id(),
            VialOpening.id == vial_id,
            VialOpening.closed_at.is_(None),
        )
        .values(closed_at=now, leftover_wasted=leftover)
        .returning(VialOpening.id)
        .execution_options(**_NO_SYNC)
    ).first()
    if closed is None:
        raise OnsiteError(_("This vial is already closed."), code="vial_closed")
    if leftover:
        record_waste(
            vial.lot_id,
            leftover,
            reason or _("Opened vial closed with doses left"),
            actor=actor,
        )
    db.session.refresh(vial)
    log_action(vial, "onsite.vial.closed", actor, {"wasted": leftover})
    return vial


def record_adverse_event(
    administration_id: uuid.UUID,
    severity: Severity,
    description: str,
    *,
    observed_at: dt.datetime,
    actor: User | None,
    now: dt.datetime,
) -> AdverseEvent:
    """Record an adverse event following immunisation (KIPI) for a dose given."""
    administration = db.session.get(Administration, (tenant_id(), administration_id))
    if administration is None:
        raise OnsiteError(_("Unknown dose."), code="invalid", status=404)
    if not description or not description.strip():
        raise OnsiteError(_("Describe what was observed."), code="invalid")
    if observed_at > now + dt.timedelta(minutes=1) or observed_at < administration.administered_at:
        raise OnsiteError(
            _("The time must be after the dose and not in the future."), code="invalid"
        )
    event = AdverseEvent(
        administration_id=administration_id,
        severity=severity,
        description=description.strip(),
        observed_at=observed_at,
        by_id=actor.id if actor else None,
    )
    db.session.add(event)
    db.session.flush()
    log_action(event, "onsite.adverse_event.recorded", actor, {"severity": severity.value})
    return event
