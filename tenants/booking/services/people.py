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


_LOOKED_UP = "people.nik_looked_up"


def _looked_up() -> dict:
    """NIK blind indexes found absent earlier in the open transaction: the booking page
    and the API look a NIK up and then register it, and that second look-up is a round
    trip with nothing new to say (the unique index is the guard against a race either
    way). Bound to the transaction object, so it never outlives it."""
    session = db.session()
    txn = session.get_transaction()
    kept = session.info.get(_LOOKED_UP)
    if kept is None or kept[0] is not txn:
        kept = session.info[_LOOKED_UP] = (txn, set())
    return kept[1]


def find_person_by_nik(nik: str) -> Person | None:
    """The tenant's person with this NIK (by its blind index), or None."""
    bidx = crypto.blind_index(normalise_nik(nik), "nik")
    person = db.session.scalar(sa.select(Person).where(Person.nik_bidx == bidx))
    if person is None:
        _looked_up().add(bidx)
    return person


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
        bidx = crypto.blind_index(nik, "nik")
        if bidx not in _looked_up() and find_person_by_nik(nik) is not None:
            raise _duplicate_person()
        _looked_up().discard(bidx)  # registered now
        person.nik_encrypted = crypto.encrypt(nik, person._aad("nik"))
        person.nik_bidx = bidx
    if phone:
        person.phone_encrypted = crypto.encrypt(phone.strip(), person._aad("phone"))
    if address and address.strip():
        person.address_encrypted = crypto.encrypt(address.strip(), person._aad("address"))
    if email:
        person.email_encrypted = crypto.encrypt(email.strip().lower(), person._aad("email"))
    db.session.add(person)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:
        # someone registered the same NIK since the look-up: the unique index says so
        if nik is not None and "nik_bidx" in str(exc.orig):
            raise _duplicate_person() from exc
        raise
    return person


def _duplicate_person() -> BookingError:
    return BookingError(
        _(
            "This NIK is registered already. If it is yours and you did not register, "
            "contact the organiser: staff can review the record."
        ),
        code="duplicate_person",
    )
