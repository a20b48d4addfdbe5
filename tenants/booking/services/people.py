"""People: registered once per tenant, identified by a keyed hash of their NIK."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from flask_babel import gettext as _

from core import crypto
from core.extensions import db
from core.ids import uuid7
from tenants.booking.models import Person
from tenants.booking.models import Sex
from tenants.booking.services.common import BookingError

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


def register_person(
    full_name: str,
    date_of_birth: dt.date,
    *,
    nik: str | None = None,
    sex: Sex | None = None,
    phone: str | None = None,
    email: str | None = None,
    address: str | None = None,
    occupation: str | None = None,
    locale: str = "id",
    consent_at: dt.datetime | None = None,
    privacy_notice_version: str | None = None,
) -> Person:
    """Create a person; NIK, phone, email and address are encrypted and bound to the new
    row. ``duplicate_person`` if the NIK is registered already (staff review decides).
    ``consent_at`` and ``privacy_notice_version`` record the consent given on the
    booking page (or at the walk-in desk)."""
    person = Person(
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
        if find_person_by_nik(nik) is not None:
            raise BookingError(
                _(
                    "This NIK is registered already. If it is yours and you did not register, "
                    "contact the organiser: staff can review the record."
                ),
                code="duplicate_person",
            )
        person.nik_encrypted = crypto.encrypt(nik, person._aad("nik"))
        person.nik_bidx = crypto.blind_index(nik, "nik")
    if phone:
        person.phone_encrypted = crypto.encrypt(phone.strip(), person._aad("phone"))
    if address and address.strip():
        person.address_encrypted = crypto.encrypt(address.strip(), person._aad("address"))
    if email:
        person.email_encrypted = crypto.encrypt(email.strip().lower(), person._aad("email"))
    db.session.add(person)
    db.session.flush()
    return person
