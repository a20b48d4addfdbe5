"""People: registered once per tenant, identified by a keyed hash of their NIK."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from core import crypto
from core.extensions import db
from core.ids import uuid7
from tenants.booking.models import Person
from tenants.booking.models import Sex
from tenants.booking.services import hotpath
from tenants.booking.services.common import BookingError
from tenants.booking.services.common import tenant_id

_NIK = re.compile(r"^\d{16}$")


def normalise_nik(nik: str) -> str:
    """Digits only; ``invalid_nik`` unless 16 of them (full checks belong to the forms)."""
    digits = re.sub(r"[\s.-]", "", nik or "")
    if not _NIK.match(digits):
        raise BookingError(_("A NIK has 16 digits."), code="invalid_nik")
    return digits


def find_person_by_nik(nik: str) -> Person | None:
    """The tenant's person with this NIK (by its blind index), or None."""
    bidx = crypto.blind_index(normalise_nik(nik), "nik")
    return db.session.scalar(sa.select(Person).where(Person.nik_bidx == bidx))


def person_with_nik(
    full_name: str, date_of_birth: dt.date, *, nik: str, **details
) -> tuple[Person, bool]:
    """The tenant's person with this NIK, registered with these details if nobody has
    the NIK yet: ``(new person, True)``, or ``(the registered person, False)``, whose
    details are left as they are (the caller decides whether it is the same human).
    ``details`` are :func:`_new_person`'s keywords (sex, phone, email, address,
    occupation, locale, consent).

    One statement, ``INSERT … ON CONFLICT (tenant, NIK blind index) DO NOTHING``, not a
    look-up followed by an insert: a new person (nearly everyone on the booking page)
    costs one round trip, and two requests registering one NIK at once end with one
    row and each their answer, with no error to catch."""
    person = _new_person(full_name, date_of_birth, nik=nik, **details)
    table = Person.__table__
    state = sa.inspect(person).dict
    given = {c.key: state[c.key] for c in table.columns if c.key in state}
    values = hotpath.row_values(table, given)
    insert = (postgresql if _dialect() == "postgresql" else sqlite).insert
    inserted = db.session.execute(
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "nik_bidx"])
        .returning(table.c.id)
    ).scalar()
    if inserted is not None:
        return hotpath.attach(Person, values), True
    existing = db.session.scalar(sa.select(Person).where(Person.nik_bidx == values["nik_bidx"]))
    if existing is None:  # cannot happen under the unique constraint; say so if it does
        raise RuntimeError("person insert conflicted but no person has the NIK")
    return existing, False


def register_person(
    full_name: str,
    date_of_birth: dt.date,
    *,
    nik: str | None = None,
    **details,
) -> Person:
    """Create a person; NIK, phone, email and address are encrypted and bound to the new
    row. ``duplicate_person`` if the NIK is registered already (staff review decides).
    ``details`` are :func:`_new_person`'s keywords; ``consent_at`` and
    ``privacy_notice_version`` record the consent given on the booking page (or at the
    walk-in desk)."""
    if nik is not None:
        person, created = person_with_nik(full_name, date_of_birth, nik=nik, **details)
        if not created:
            raise duplicate_person()
        return person
    person = _new_person(full_name, date_of_birth, nik=None, **details)
    db.session.add(person)
    db.session.flush()
    return person


def _new_person(
    full_name: str,
    date_of_birth: dt.date,
    *,
    nik: str | None,
    sex: Sex | None = None,
    phone: str | None = None,
    email: str | None = None,
    address: str | None = None,
    occupation: str | None = None,
    locale: str = "id",
    consent_at: dt.datetime | None = None,
    privacy_notice_version: str | None = None,
) -> Person:
    """A new, unsaved person of the current tenant with its fields encrypted."""
    person = Person(
        tenant_id=tenant_id(),
        id=uuid7(),
        full_name=full_name.strip(),
        date_of_birth=date_of_birth,
        sex=sex,
        occupation=(occupation or "").strip() or None,
        locale=locale,
        consent_at=consent_at,
        privacy_notice_version=privacy_notice_version,
    )
    if nik is not None:
        nik = normalise_nik(nik)
        person.nik_encrypted = crypto.encrypt(nik, person._aad("nik"))
        person.nik_bidx = crypto.blind_index(nik, "nik")
    if phone:
        person.phone_encrypted = crypto.encrypt(phone.strip(), person._aad("phone"))
    if address and address.strip():
        person.address_encrypted = crypto.encrypt(address.strip(), person._aad("address"))
    if email:
        person.email_encrypted = crypto.encrypt(email.strip().lower(), person._aad("email"))
    return person


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def duplicate_person() -> BookingError:
    return BookingError(
        _(
            "This NIK is registered already. If it is yours and you did not register, "
            "contact the organiser: staff can review the record."
        ),
        code="duplicate_person",
    )
