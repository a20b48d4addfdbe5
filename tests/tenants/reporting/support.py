"""A small reporting dataset on top of tests/tenants/ledger_support.py.

Alpha (the tenant under test) has two venues; on day one at venue 1, Siti (screened:
vaccinate) gets her first dose from ``LOT-A`` (given by a named vaccinator) and her second is booked
automatically; Budi is booked and does not come; a walk-in, Andi, is vaccinated and
then the dose is voided (recorded in error). Venue 2 is fully booked on day one (four
guests) and Wati waits for a seat.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from core.extensions import db
from core.models import User
from core.tenancy import tenant_context
from tenants.booking.models import Sex
from tenants.booking.services import book_slot
from tenants.booking.services import join_waitlist
from tenants.booking.services import mark_no_show
from tenants.booking.services import record_administration
from tenants.booking.services import register_person
from tenants.booking.services import register_walk_in
from tenants.booking.services import void_administration
from tenants.onsite.models import AdverseEvent
from tenants.onsite.models import Screening
from tenants.onsite.models import ScreeningOutcome
from tenants.onsite.models import Severity
from tenants.stock.models import Lot
from tests.tenants.ledger_support import BEFORE
from tests.tenants.ledger_support import ON_DAY_ONE
from tests.tenants.ledger_support import START
from tests.tenants.ledger_support import World
from tests.tenants.ledger_support import build_world

SITI_NIK = "3171014101900001"
BUDI_NIK = "3171010202850002"
ANDI_NIK = "3171010303800003"
#: the whole campaign, as export parameters
PERIOD = {"date_from": "2030-01-07", "date_to": "2030-01-11"}


@dataclass
class Dataset:
    world: World
    siti: object
    budi: object
    vaccinator: User
    administration_id: object


def build_dataset(vaccinator: User) -> Dataset:
    """Inside an open tenant_context: the dataset of the module docstring."""
    world = build_world(venues=2, stations=2, doses=10, days=5, walk_ins=2)
    venue, other = world.venues
    siti = register_person(
        "Siti Rahayu",
        dt.date(1990, 1, 1),
        nik=SITI_NIK,
        sex=Sex.FEMALE,
        phone="+6281234567890",
        address="Jl. Melati 5, Jakarta",
        occupation="Guru",
    )
    budi = register_person("Budi Santoso", dt.date(1985, 2, 2), nik=BUDI_NIK, sex=Sex.MALE)
    andi = register_person("Andi Walk", dt.date(1980, 3, 3), nik=ANDI_NIK, sex=Sex.MALE)
    slots = world.slots(venue)
    lot = db.session.scalar(sa.select(Lot).where(Lot.venue_id == venue.id))
    first = book_slot(world.campaign, slots[0].id, siti.id, now=BEFORE)
    db.session.add(Screening(booking_id=first.id, outcome=ScreeningOutcome.VACCINATE,
                             at=ON_DAY_ONE - dt.timedelta(minutes=10)))  # fmt: skip
    result = record_administration(first.id, lot.id, vaccinator=vaccinator, now=ON_DAY_ONE)
    db.session.add(
        AdverseEvent(
            administration_id=result.administration.id,
            severity=Severity.MILD,
            description="pain at the injection site",
            observed_at=ON_DAY_ONE + dt.timedelta(minutes=20),
        )
    )
    no_show = book_slot(world.campaign, slots[1].id, budi.id, now=BEFORE)
    mark_no_show(no_show.id, now=ON_DAY_ONE + dt.timedelta(hours=3))
    walk_in = register_walk_in(world.campaign, venue.id, andi.id, now=ON_DAY_ONE)
    voided = record_administration(walk_in.id, lot.id, now=ON_DAY_ONE)
    void_administration(voided.administration.id, "wrong person", actor=vaccinator)
    for slot in world.slots(other)[:2]:  # day one at venue 2 full (2 slots x 2 seats)
        for n in range(2):
            person = register_person(f"Guest {slot.id.hex[-4:]}{n}", dt.date(1970, 1, 1))
            book_slot(world.campaign, slot.id, person.id, now=BEFORE)
    wati = register_person("Wati", dt.date(1999, 9, 9))
    join_waitlist(world.campaign, other.id, START, wati.id, now=BEFORE)
    db.session.commit()
    return Dataset(world, siti, budi, vaccinator, result.administration.id)


def dataset_for(tenant, vaccinator: User) -> Dataset:
    with tenant_context(tenant):
        return build_dataset(vaccinator)


# --- for tests/onboarding/test_permissions.py -----------------------------------------


def matrix_run(w, slug: str = "alpha") -> dict:
    """A queued run of a coordinator's export (made once per world; no job runs it, and
    its download answers with the run's page until it is done)."""
    from tenants.reporting.models import ExportFormat
    from tenants.reporting.models import ExportRun

    runs = w.__dict__.setdefault("_export_runs", {})
    if slug not in runs:
        with tenant_context(w._tenant(slug)):
            run = ExportRun(
                exporter="bookings_schedule", format=ExportFormat.CSV, parameters=PERIOD
            )
            db.session.add(run)
            db.session.commit()
            runs[slug] = run.id
    return {"run_id": runs[slug]}


def matrix_schedule(w, slug: str = "alpha") -> dict:
    """A daily schedule (made once per world; stopping it twice changes nothing)."""
    from tenants.reporting.models import ExportFormat
    from tenants.reporting.models import ReportSchedule

    found = w.__dict__.setdefault("_report_schedules", {})
    if slug not in found:
        with tenant_context(w._tenant(slug)):
            schedule = ReportSchedule(
                exporter="bookings_schedule", format=ExportFormat.CSV, recipients=["a@b.test"]
            )
            db.session.add(schedule)
            db.session.commit()
            found[slug] = schedule.id
    return {"schedule_id": found[slug]}
