"""Administered doses: the ministry's report, one row per dose given (voided doses
left out). The one place a full NIK leaves the system, decrypted row by row."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core import crypto
from core.models import Role
from core.models import User
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.booking.models import Person
from tenants.onsite.models import AdverseEvent
from tenants.onsite.models import Screening
from tenants.reporting.exporters.base import Exporter
from tenants.reporting.sql import age_years
from tenants.reporting.sql import iso_date
from tenants.reporting.sql import iso_utc
from tenants.reporting.sql import local_date
from tenants.reporting.sql import uuid_text
from tenants.stock.models import Lot
from tenants.stock.models import Product


def _personal(decrypt, person_id, nik: str | None, address: str | None, phone: str | None):
    """A person's NIK, address and phone decrypted ("" where there is none)."""
    # The associated data is the one tenants.booking.models.Person binds each field to.
    aad = f"person:{person_id}:"
    return (
        decrypt(nik, aad + "nik") if nik else "",
        decrypt(address, aad + "address") if address else "",
        decrypt(phone, aad + "phone") if phone else "",
    )


@dataclass
class Dose:
    """One administered dose with everything the ministry asks about it."""

    administration_id: object
    person_id: object
    nik: str
    full_name: str
    sex: str
    date_of_birth: dt.date
    occupation: str
    address: str
    phone: str
    vaccine: str
    manufacturer: str
    batch_number: str
    expiry_date: dt.date
    dose_number: int
    administered_at: dt.datetime
    day: dt.date
    venue_id: object
    venue_name: str
    venue_address: str
    province: str
    city: str
    vaccinator: str
    vaccinator_id: object
    #: the last screening decision before the dose (vaccinate, defer, do_not_vaccinate)
    screening: str
    #: "severity: description" of each adverse event recorded, "; "-separated
    adverse_events: str


class AdministeredDoses(Exporter):
    identifier = "administered_doses"
    name = _l("Administered doses (ministry report)")
    description = _l(
        "One row per dose given: NIK in full, name, sex, date of birth and age, "
        "occupation, address, phone, vaccine, batch, dose number, date, venue, "
        "vaccinator, screening outcome and adverse events."
    )
    required_role = Role.ADMIN  # full NIKs
    formats = ("csv", "xlsx", "fhir")
    #: order by person (the FHIR bundle writes each Patient once, before their doses)
    by_person = False

    def header(self) -> list:
        return [
            _l("NIK"),
            _l("Name"),
            _l("Sex"),
            _l("Date of birth"),
            _l("Age"),
            _l("Occupation"),
            _l("Address"),
            _l("Phone"),
            _l("Vaccine"),
            _l("Manufacturer"),
            _l("Batch"),
            _l("Dose number"),
            _l("Date"),
            _l("Time (UTC)"),
            _l("Venue"),
            _l("Province"),
            _l("City"),
            _l("Vaccinator"),
            _l("Screening outcome"),
            _l("Adverse events"),
        ]

    def statement(self, as_text: bool = False) -> sa.Select:
        """The doses of the period. ``as_text``: the columns of :meth:`records`, dates,
        times, age and the person's id already written as text by the database (see
        :mod:`tenants.reporting.sql`); otherwise typed values for :meth:`doses`."""
        a, b, p, lot, prod, v = Administration, Booking, Person, Lot, Product, Venue
        day = local_date(a.administered_at, v.timezone)
        # correlated per dose, both on (tenant_id, booking/administration) indexes
        screening = (
            sa.select(Screening.outcome)
            .where(Screening.tenant_id == b.tenant_id, Screening.booking_id == b.id)
            .where(Screening.at <= a.administered_at)
            .order_by(Screening.at.desc(), Screening.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        events = (
            sa.select(
                sa.func.aggregate_strings(
                    sa.cast(AdverseEvent.severity, sa.String(20))
                    + sa.literal(": ")
                    + AdverseEvent.description,
                    "; ",
                )
            )
            .where(AdverseEvent.tenant_id == a.tenant_id, AdverseEvent.administration_id == a.id)
            .scalar_subquery()
        )
        if as_text:
            blank = functools.partial(sa.func.coalesce, type_=sa.String)
            # the enums are stored as their values: read them as text, not as members
            columns = (
                uuid_text(p.id),
                p.nik_encrypted,
                p.full_name,
                blank(sa.type_coerce(p.sex, sa.String), ""),
                iso_date(p.date_of_birth),
                age_years(p.date_of_birth, day),
                blank(p.occupation, ""),
                p.address_encrypted,
                p.phone_encrypted,
                prod.name,
                prod.manufacturer,
                lot.batch_number,
                a.dose_number,
                iso_date(day),
                iso_utc(a.administered_at),
                v.name,
                v.province,
                v.city,
                blank(User.name, ""),
                blank(sa.type_coerce(screening, sa.String), ""),
                blank(events, ""),
            )
        else:
            columns = (
                a.id,
                p.id,
                p.nik_encrypted,
                p.full_name,
                p.sex,
                p.date_of_birth,
                p.occupation,
                p.address_encrypted,
                p.phone_encrypted,
                prod.name,
                prod.manufacturer,
                lot.batch_number,
                lot.expiry_date,
                a.dose_number,
                a.administered_at,
                day,
                v.id,
                v.name,
                v.address,
                v.province,
                v.city,
                User.name,
                a.vaccinator_id,
                screening,
                events,
            )
        statement = (
            sa.select(*columns)
            .join(b, tenant_join(b, a.booking_id))
            .join(p, tenant_join(p, b.person_id))
            .join(lot, tenant_join(lot, a.lot_id))
            .join(prod, prod.id == lot.product_id)
            .join(v, tenant_join(v, b.venue_id))
            .outerjoin(User, User.id == a.vaccinator_id)
            .where(a.voided_at.is_(None))
        )
        if self.by_person:
            statement = statement.order_by(b.person_id, a.administered_at, a.id)
        else:
            statement = statement.order_by(a.administered_at, a.id)
        return self.filtered(statement, day, b.campaign_id, b.venue_id)

    def doses(self) -> Iterator[Dose]:
        """The doses of the period, oldest first, personal fields decrypted."""
        decrypt = crypto.decryptor()
        for row in self.stream(self.statement()):
            (aid, pid, nik, name, sex, born, occupation, address, phone, vaccine, maker, batch,
             expiry, dose, at, day, vid, vname, vaddr, prov, city, vaccinator, vaccinator_id,
             screening, events) = row  # fmt: skip
            nik, address, phone = _personal(decrypt, pid, nik, address, phone)
            yield Dose(
                aid,
                pid,
                nik,
                name,
                sex.value if sex else "",
                born,
                occupation or "",
                address,
                phone,
                vaccine,
                maker,
                batch,
                expiry,
                dose,
                at,
                day,
                vid,
                vname,
                vaddr,
                prov,
                city,
                vaccinator or "",
                vaccinator_id,
                str(screening or ""),
                events or "",
            )

    def records(self) -> Iterator[tuple]:
        # The hot loop of a million-row export: the database writes dates, times and
        # ages as text, Python only decrypts. No Dose per row (FHIR needs those, CSV and
        # XLSX do not); tests/tenants/reporting/test_exporters.py checks both agree.
        decrypt = crypto.decryptor()
        for row in self.stream(self.statement(as_text=True)):
            (pid, nik, name, sex, born, age, occupation, address, phone, vaccine, maker, batch,
             dose, day, at, venue, province, city, vaccinator, screening, events) = row  # fmt: skip
            nik, address, phone = _personal(decrypt, pid, nik, address, phone)
            yield (nik, name, sex, born, age, occupation, address, phone, vaccine, maker, batch,
                   dose, day, at, venue, province, city, vaccinator, screening, events)  # fmt: skip
