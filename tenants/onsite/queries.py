"""Read-side of the on-site desks: the queue, the live venue board, the day summary."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from core.extensions import db
from core.models import User
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.booking.models import Person
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import CampaignVenue
from tenants.campaigns.models import Slot
from tenants.campaigns.models import WalkInDay
from tenants.onsite.models import AdverseEvent
from tenants.onsite.models import CheckIn
from tenants.onsite.models import DayClose
from tenants.onsite.models import Observation
from tenants.onsite.models import Screening
from tenants.onsite.models import ScreeningOutcome
from tenants.onsite.models import VialOpening
from tenants.onsite.services.common import day_bounds
from tenants.stock.models import Lot
from tenants.stock.models import Product
from tenants.stock.models import Stock


def venues() -> list[Venue]:
    return list(db.session.scalars(sa.select(Venue).order_by(Venue.name)))


def _today(start: dt.datetime, end: dt.datetime):
    """Bookings of the day: a slot that starts in it, or a walk-in registered in it."""
    return sa.or_(
        sa.and_(Slot.starts_at >= start, Slot.starts_at < end),
        sa.and_(Booking.slot_id.is_(None), Booking.created_at >= start, Booking.created_at < end),
    )


def _slot_join():
    return tenant_join(Slot, Booking.slot_id)


def _person_join():
    return tenant_join(Person, Booking.person_id)


@dataclass
class QueueRow:
    booking: Booking
    person: Person
    slot: Slot | None
    checked_in_at: dt.datetime
    screening: Screening | None


@dataclass
class Queue:
    to_screen: list[QueueRow] = field(default_factory=list)
    to_vaccinate: list[QueueRow] = field(default_factory=list)


def queue(venue: Venue, day: dt.date) -> Queue:
    """Checked-in people at the venue still waiting: for screening, or screened
    "vaccinate" and waiting for the dose."""
    start, end = day_bounds(day, venue.timezone)
    rows = db.session.execute(
        sa.select(Booking, Person, Slot, CheckIn.checked_in_at)
        .join(Person, _person_join())
        .outerjoin(Slot, _slot_join())
        .join(
            CheckIn,
            sa.and_(
                CheckIn.tenant_id == Booking.tenant_id,
                CheckIn.booking_id == Booking.id,
                CheckIn.released_at.is_(None),
            ),
        )
        .where(Booking.venue_id == venue.id, Booking.status == BookingStatus.ARRIVED)
        .where(CheckIn.checked_in_at >= start, CheckIn.checked_in_at < end)
        .order_by(CheckIn.checked_in_at)
    ).all()
    latest = _latest_screenings([b.id for b, *_ in rows])
    result = Queue()
    for booking, person, slot, checked_in_at in rows:
        screening = latest.get(booking.id)
        if screening is not None and screening.at < checked_in_at:
            screening = None  # a screening of an earlier visit (deferred, back today)
        row = QueueRow(booking, person, slot, checked_in_at, screening)
        if screening is not None and screening.outcome == ScreeningOutcome.VACCINATE:
            result.to_vaccinate.append(row)
        else:
            result.to_screen.append(row)
    return result


def _latest_screenings(booking_ids: list[uuid.UUID]) -> dict[uuid.UUID, Screening]:
    latest: dict[uuid.UUID, Screening] = {}
    if not booking_ids:
        return latest
    for screening in db.session.scalars(
        sa.select(Screening)
        .where(Screening.booking_id.in_(booking_ids))
        .order_by(Screening.at, Screening.id)
    ):
        latest[screening.booking_id] = screening
    return latest


@dataclass
class ObservedRow:
    observation: Observation
    person: Person
    administration: Administration
    events: int


def under_observation(venue: Venue, now: dt.datetime, *, since: dt.datetime) -> list[ObservedRow]:
    """Doses given since ``since`` whose observation is still running or ended in the
    last 30 minutes (staff release people), voided records left out."""
    rows = db.session.execute(
        sa.select(Observation, Person, Administration)
        .join(
            Administration,
            tenant_join(Administration, Observation.administration_id),
        )
        .join(
            Booking,
            tenant_join(Booking, Observation.booking_id),
        )
        .join(Person, _person_join())
        .where(
            Observation.venue_id == venue.id,
            Observation.started_at >= since,
            Observation.observation_until > now - dt.timedelta(minutes=30),
            Administration.voided_at.is_(None),
        )
        .order_by(Observation.observation_until)
    ).all()
    events = Counter(
        db.session.scalars(
            sa.select(AdverseEvent.administration_id).where(
                AdverseEvent.administration_id.in_([a.id for _o, _p, a in rows])
            )
        )
    )
    return [ObservedRow(o, p, a, events[a.id]) for o, p, a in rows]


@dataclass
class DoseRow:
    administration: Administration
    person: Person
    batch: str
    vaccinator: str | None


def doses_given(venue: Venue, day: dt.date) -> list[DoseRow]:
    """Every dose recorded at the venue on ``day`` (voided ones too, marked), latest
    first: the list an admin corrects from."""
    start, end = day_bounds(day, venue.timezone)
    rows = db.session.execute(
        sa.select(Administration, Person, Lot.batch_number, User.name)
        .join(Lot, tenant_join(Lot, Administration.lot_id))
        .join(
            Booking,
            tenant_join(Booking, Administration.booking_id),
        )
        .join(Person, _person_join())
        .outerjoin(User, User.id == Administration.vaccinator_id)
        .where(
            Lot.venue_id == venue.id,
            Administration.administered_at >= start,
            Administration.administered_at < end,
        )
        .order_by(Administration.administered_at.desc(), Administration.id.desc())
    ).all()
    return [DoseRow(a, p, batch, name) for a, p, batch, name in rows]


@dataclass
class SlotRow:
    slot: Slot
    counts: dict[str, int]


@dataclass
class StockLine:
    product: Product
    on_hand: int
    promised: int

    @property
    def free(self) -> int:
        return self.on_hand - self.promised


@dataclass
class Board:
    venue: Venue
    day: dt.date
    now: dt.datetime
    slots: list[SlotRow]
    walk_ins: dict[str, int]
    walk_in_places: int
    totals: dict[str, int]
    stock: list[StockLine]
    vials: list[tuple[VialOpening, Lot]]
    observing: int
    closed: DayClose | None


_STATUSES = [s.value for s in BookingStatus]


def walk_in_places(venue_id: uuid.UUID, day: dt.date) -> int:
    """Walk-in places still free at the venue on ``day``, over the campaigns running
    there (a campaign's day row is only made at its first walk-in: until then its
    whole allowance is free)."""
    left = db.session.scalar(
        sa.select(
            sa.func.coalesce(
                sa.func.sum(
                    sa.func.coalesce(
                        WalkInDay.allowance - WalkInDay.used, Campaign.walk_ins_per_day
                    )
                ),
                0,
            )
        )
        .select_from(Campaign)
        .join(
            CampaignVenue,
            sa.and_(
                CampaignVenue.tenant_id == Campaign.tenant_id,
                CampaignVenue.campaign_id == Campaign.id,
            ),
        )
        .outerjoin(
            WalkInDay,
            sa.and_(
                WalkInDay.tenant_id == Campaign.tenant_id,
                WalkInDay.campaign_id == Campaign.id,
                WalkInDay.venue_id == CampaignVenue.venue_id,
                WalkInDay.day == day,
            ),
        )
        .where(
            CampaignVenue.venue_id == venue_id,
            Campaign.status == CampaignStatus.PUBLISHED,
            Campaign.starts_on <= day,
            Campaign.ends_on >= day,
        )
    )
    return int(left or 0)


def board(venue: Venue, day: dt.date, now: dt.datetime) -> Board:
    """The live venue board: every slot of the day with its bookings by status, the
    walk-ins, stock on hand against promised per vaccine, opened vials."""
    start, end = day_bounds(day, venue.timezone)
    slots = list(
        db.session.scalars(
            sa.select(Slot)
            .where(Slot.venue_id == venue.id, Slot.starts_at >= start, Slot.starts_at < end)
            .order_by(Slot.starts_at, Slot.id)
        )
    )
    by_slot: dict[uuid.UUID, Counter] = {s.id: Counter() for s in slots}
    for slot_id, status, n in db.session.execute(
        sa.select(Booking.slot_id, Booking.status, sa.func.count())
        .where(Booking.slot_id.in_(list(by_slot)))
        .group_by(Booking.slot_id, Booking.status)
    ):
        by_slot[slot_id][BookingStatus(status).value] += n
    walk_ins = Counter()
    for status, n in db.session.execute(
        sa.select(Booking.status, sa.func.count())
        .join(
            WalkInDay,
            tenant_join(WalkInDay, Booking.walk_in_day_id),
        )
        .where(WalkInDay.venue_id == venue.id, WalkInDay.day == day)
        .group_by(Booking.status)
    ):
        walk_ins[BookingStatus(status).value] += n
    places = walk_in_places(venue.id, day)
    totals = Counter()
    for counts in by_slot.values():
        totals.update(counts)
    totals.update(walk_ins)
    stock = [
        StockLine(product, on_hand, promised)
        for product, on_hand, promised in db.session.execute(
            sa.select(Product, Stock.on_hand, Stock.promised)
            .join(Product, Product.id == Stock.product_id)
            .where(Stock.venue_id == venue.id)
            .order_by(Product.name)
        )
    ]
    vials = list(
        db.session.execute(
            sa.select(VialOpening, Lot)
            .join(Lot, tenant_join(Lot, VialOpening.lot_id))
            .where(VialOpening.venue_id == venue.id, VialOpening.closed_at.is_(None))
            .order_by(VialOpening.closes_at)
        ).all()
    )
    observing = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Observation)
        .join(
            Administration,
            tenant_join(Administration, Observation.administration_id),
        )
        .where(
            Observation.venue_id == venue.id,
            Observation.started_at <= now,
            Observation.observation_until > now,
            Administration.voided_at.is_(None),
        )
    )
    closed = db.session.scalar(
        sa.select(DayClose).where(DayClose.venue_id == venue.id, DayClose.day == day)
    )
    return Board(
        venue=venue,
        day=day,
        now=now,
        slots=[SlotRow(s, {k: by_slot[s.id][k] for k in _STATUSES}) for s in slots],
        walk_ins={k: walk_ins[k] for k in _STATUSES},
        walk_in_places=int(places or 0),
        totals={k: totals[k] for k in _STATUSES},
        stock=stock,
        vials=vials,
        observing=int(observing or 0),
        closed=closed,
    )


def board_json(data: Board) -> dict:
    """The board as the page's poller reads it."""
    return {
        "day": data.day.isoformat(),
        "now": data.now.isoformat(),
        "slots": [
            {"id": str(r.slot.id), "starts_at": r.slot.starts_at.isoformat(), **r.counts}
            for r in data.slots
        ],
        "walk_ins": data.walk_ins,
        "walk_in_places": data.walk_in_places,
        "totals": data.totals,
        "stock": [
            {
                "product": s.product.name,
                "on_hand": s.on_hand,
                "promised": s.promised,
                "free": s.free,
            }
            for s in data.stock
        ],
        "vials": [
            {
                "id": str(v.id),
                "batch": lot.batch_number,
                "doses_left": v.doses_left,
                "closes_at": v.closes_at.isoformat(),
                "minutes_left": max(int((v.closes_at - data.now).total_seconds() // 60), 0),
            }
            for v, lot in data.vials
        ],
        "observing": data.observing,
        "closed": data.closed is not None,
    }


def day_summary(venue: Venue, day: dt.date, now: dt.datetime) -> dict:
    """What the day came to at a venue: bookings by status, walk-ins, doses given
    (by lot), voided records, screening outcomes, adverse events, vial waste."""
    data = board(venue, day, now)
    start, end = day_bounds(day, venue.timezone)
    given = db.session.execute(
        sa.select(Lot.batch_number, sa.func.count())
        .select_from(Administration)
        .join(Lot, tenant_join(Lot, Administration.lot_id))
        .where(
            Lot.venue_id == venue.id,
            Administration.administered_at >= start,
            Administration.administered_at < end,
            Administration.voided_at.is_(None),
        )
        .group_by(Lot.batch_number)
        .order_by(Lot.batch_number)
    ).all()
    voided = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Administration)
        .join(Lot, tenant_join(Lot, Administration.lot_id))
        .where(
            Lot.venue_id == venue.id,
            Administration.administered_at >= start,
            Administration.administered_at < end,
            Administration.voided_at.is_not(None),
        )
    )
    outcomes = dict(
        db.session.execute(
            sa.select(Screening.outcome, sa.func.count())
            .join(
                Booking,
                tenant_join(Booking, Screening.booking_id),
            )
            .where(Booking.venue_id == venue.id, Screening.at >= start, Screening.at < end)
            .group_by(Screening.outcome)
        ).all()
    )
    events = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AdverseEvent)
        .join(
            Observation,
            sa.and_(
                Observation.tenant_id == AdverseEvent.tenant_id,
                Observation.administration_id == AdverseEvent.administration_id,
            ),
        )
        .where(
            Observation.venue_id == venue.id,
            AdverseEvent.observed_at >= start,
            AdverseEvent.observed_at < end,
        )
    )
    wasted = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(VialOpening.leftover_wasted), 0)).where(
            VialOpening.venue_id == venue.id,
            VialOpening.closed_at >= start,
            VialOpening.closed_at < end + dt.timedelta(hours=12),
            VialOpening.opened_at < end,
        )
    )
    return {
        "bookings": {k: v for k, v in data.totals.items()},
        "walk_ins": sum(data.walk_ins.values()) - data.walk_ins.get("cancelled", 0),
        "given": {batch: n for batch, n in given},
        "given_total": sum(n for _b, n in given),
        "voided": int(voided or 0),
        "screening": {ScreeningOutcome(k).value: v for k, v in outcomes.items()},
        "adverse_events": int(events or 0),
        "vial_doses_wasted": int(wasted or 0),
        "open_vials": len(data.vials),
    }
