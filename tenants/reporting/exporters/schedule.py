"""Bookings and schedule per campaign, venue and day: what the ministry asked of
schedulers (seats offered, taken, walk-ins, and how bookings ended)."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.booking.models import Booking
from tenants.booking.models import BookingStatus
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import Slot
from tenants.campaigns.models import WalkInDay
from tenants.reporting.exporters.base import Exporter
from tenants.reporting.exporters.base import iso
from tenants.reporting.sql import local_date

_STATUSES = (
    BookingStatus.BOOKED,
    BookingStatus.ARRIVED,
    BookingStatus.VACCINATED,
    BookingStatus.NO_SHOW,
    BookingStatus.CANCELLED,
)


class BookingsSchedule(Exporter):
    identifier = "bookings_schedule"
    name = _l("Bookings and schedule per venue and day")
    description = _l(
        "Per campaign, venue and day: slots, seats, seats taken, walk-in places and "
        "walk-ins, and bookings by outcome (booked, checked in, vaccinated, no-show, "
        "cancelled). No personal data."
    )

    def header(self) -> list:
        return [
            _l("Campaign"),
            _l("Venue"),
            _l("Province"),
            _l("Date"),
            _l("Slots"),
            _l("Seats"),
            _l("Seats taken"),
            _l("Walk-in places"),
            _l("Walk-ins"),
            _l("Booked"),
            _l("Checked in"),
            _l("Vaccinated"),
            _l("No-shows"),
            _l("Cancelled"),
        ]

    def records(self) -> Iterator[tuple]:
        # Three small aggregates (days x venues rows each), merged by key.
        v = Venue
        venue_join = tenant_join(v, Slot.venue_id)
        slot_day = local_date(Slot.starts_at, v.timezone)
        slots = self.filtered(
            sa.select(
                Slot.campaign_id,
                Slot.venue_id,
                slot_day,
                sa.func.count(),
                sa.func.sum(Slot.capacity),
                sa.func.sum(Slot.booked),
            )
            .join(v, venue_join)
            .group_by(Slot.campaign_id, Slot.venue_id, slot_day),
            slot_day,
            Slot.campaign_id,
            Slot.venue_id,
        )
        walk_ins = self.filtered(
            sa.select(
                WalkInDay.campaign_id,
                WalkInDay.venue_id,
                WalkInDay.day,
                WalkInDay.allowance,
                WalkInDay.used,
            ),
            WalkInDay.day,
            WalkInDay.campaign_id,
            WalkInDay.venue_id,
        )
        b = Booking
        booking_day = sa.func.coalesce(local_date(Slot.starts_at, v.timezone), WalkInDay.day)
        by_status = [sa.func.sum(sa.case((b.status == status, 1), else_=0)) for status in _STATUSES]
        bookings = self.filtered(
            sa.select(b.campaign_id, b.venue_id, booking_day, *by_status)
            .join(v, tenant_join(v, b.venue_id))
            .outerjoin(Slot, tenant_join(Slot, b.slot_id))
            .outerjoin(
                WalkInDay,
                tenant_join(WalkInDay, b.walk_in_day_id),
            )
            .group_by(b.campaign_id, b.venue_id, booking_day),
            booking_day,
            b.campaign_id,
            b.venue_id,
        )
        table: dict[tuple, list] = {}

        def row(key):
            return table.setdefault(key, [0] * 10)

        for cid, vid, day, count, seats, taken in self.session.execute(slots):
            row((cid, vid, day))[0:3] = [count, seats or 0, taken or 0]
        for cid, vid, day, allowance, used in self.session.execute(walk_ins):
            row((cid, vid, day))[3:5] = [allowance, used]
        for cid, vid, day, *counts in self.session.execute(bookings):
            row((cid, vid, day))[5:10] = [int(n or 0) for n in counts]
        campaigns = dict(self.session.execute(sa.select(Campaign.id, Campaign.name)).all())
        venues = {
            vid: (name, province)
            for vid, name, province in self.session.execute(
                sa.select(Venue.id, Venue.name, Venue.province)
            )
        }
        for (cid, vid, day), values in sorted(
            table.items(), key=lambda item: (campaigns[item[0][0]], venues[item[0][1]], item[0][2])
        ):
            yield (campaigns[cid], venues[vid][0], venues[vid][1], iso(day), *values)
