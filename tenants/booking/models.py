"""People, bookings, administrations (doses given) and the waitlist."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core import crypto
from core.db import UTCDateTime
from core.db import enum_column
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned
from core.tenancy import tenant_fk
from tenants.vouchers.codes import new_voucher_code


def mask_nik(nik: str | None) -> str | None:
    """The NIK as shown to people: the first and last four digits (``3171********0001``)."""
    return f"{nik[:4]}{'*' * (len(nik) - 8)}{nik[-4:]}" if nik else None


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"


class Person(TenantOwned, db.Model):
    """Someone who books. The NIK, phone and email are encrypted (bound to this row);
    ``nik_bidx`` is a keyed hash for duplicate detection, never a way to look people up
    by NIK alone from outside."""

    __tablename__ = "person"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "nik_bidx"),)

    full_name: Mapped[str] = mapped_column(sa.String(200))
    date_of_birth: Mapped[dt.date] = mapped_column(sa.Date)
    sex: Mapped[Sex | None] = mapped_column(enum_column(Sex, "person_sex"))
    nik_encrypted: Mapped[str | None] = mapped_column(sa.String(255))
    nik_bidx: Mapped[str | None] = mapped_column(sa.String(64))
    phone_encrypted: Mapped[str | None] = mapped_column(sa.String(255))
    email_encrypted: Mapped[str | None] = mapped_column(sa.String(512))
    #: home address, encrypted like the NIK (where to find someone after an adverse event)
    address_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    occupation: Mapped[str | None] = mapped_column(sa.String(120))
    #: the language the person booked in ('id' or 'en'): emails to them use it
    locale: Mapped[str] = mapped_column(sa.String(5), default="id", server_default="id")
    #: when they consented to processing, and to which version of the privacy notice
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    privacy_notice_version: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def _aad(self, field: str) -> str:
        return f"person:{self.id}:{field}"

    @property
    def nik(self) -> str | None:
        return crypto.decrypt(self.nik_encrypted, self._aad("nik")) if self.nik_encrypted else None

    @property
    def nik_masked(self) -> str | None:
        return mask_nik(self.nik)

    @property
    def email(self) -> str | None:
        if not self.email_encrypted:
            return None
        return crypto.decrypt(self.email_encrypted, self._aad("email"))

    @property
    def phone(self) -> str | None:
        if not self.phone_encrypted:
            return None
        return crypto.decrypt(self.phone_encrypted, self._aad("phone"))

    @property
    def address(self) -> str | None:
        if not self.address_encrypted:
            return None
        return crypto.decrypt(self.address_encrypted, self._aad("address"))


class BookingStatus(enum.StrEnum):
    BOOKED = "booked"
    ARRIVED = "arrived"  # checked in (or a walk-in in progress)
    VACCINATED = "vaccinated"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class BookingSource(enum.StrEnum):
    ONLINE = "online"
    WALK_IN = "walk_in"
    SECOND_DOSE = "second_dose"  # booked automatically when the previous dose was given
    WAITLIST = "waitlist"


#: bookings that hold a seat in their slot and count against "one booking per dose"
ACTIVE_STATUSES = (BookingStatus.BOOKED, BookingStatus.ARRIVED, BookingStatus.VACCINATED)
#: bookings that hold a promised dose in the venue's stock
PROMISING_STATUSES = (BookingStatus.BOOKED, BookingStatus.ARRIVED)

_ACTIVE_SQL = "status IN ('booked', 'arrived', 'vaccinated')"


class Booking(TenantOwned, db.Model):
    """A person's appointment for one dose: a seat in a slot (none for walk-ins) and a
    dose promised from the venue's stock while it is booked or arrived."""

    __tablename__ = "booking"
    __table_args__ = (
        tenant_fk("person_id", "person", ondelete="RESTRICT"),
        tenant_fk("campaign_id", "campaign", ondelete="RESTRICT"),
        tenant_fk("slot_id", "slot", ondelete="RESTRICT"),
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        tenant_fk("walk_in_day_id", "walk_in_day", ondelete="RESTRICT"),
        tenant_fk("follows_booking_id", "booking", ondelete="RESTRICT"),
        sa.CheckConstraint("dose_number >= 1", name="dose_number_positive"),
        # One active booking per person, campaign and dose number, on both databases.
        sa.Index(
            "uq_booking_active_dose",
            "tenant_id",
            "campaign_id",
            "person_id",
            "dose_number",
            unique=True,
            sqlite_where=sa.text(_ACTIVE_SQL),
            postgresql_where=sa.text(_ACTIVE_SQL),
        ),
        sa.Index("ix_booking_slot", "tenant_id", "slot_id"),
        sa.Index("ix_booking_person", "tenant_id", "person_id"),
        sa.Index("ix_booking_venue_product", "tenant_id", "venue_id", "product_id", "status"),
        sa.UniqueConstraint("tenant_id", "voucher_code"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column()
    campaign_id: Mapped[uuid.UUID] = mapped_column()
    slot_id: Mapped[uuid.UUID | None] = mapped_column()
    venue_id: Mapped[uuid.UUID] = mapped_column()
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("product.id", ondelete="RESTRICT"))
    dose_number: Mapped[int] = mapped_column()
    status: Mapped[BookingStatus] = mapped_column(
        enum_column(BookingStatus, "booking_status"), default=BookingStatus.BOOKED
    )
    source: Mapped[BookingSource] = mapped_column(
        enum_column(BookingSource, "booking_source"), default=BookingSource.ONLINE
    )
    #: a walk-in's day (its allowance counter)
    walk_in_day_id: Mapped[uuid.UUID | None] = mapped_column()
    #: the booking whose administered dose made this one (second doses)
    follows_booking_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the code read out at the door (``tenants.vouchers.codes``); made by the column
    #: default, so every insert path of the ledger gets one
    voucher_code: Mapped[str] = mapped_column(sa.String(10), default=new_voucher_code)
    #: when the voucher email was queued, or found to have no address to go to (once;
    #: the sweeper sends what a lost job left unsent)
    voucher_mailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: when the day-before reminder was queued (once per booking; cleared on reschedule)
    reminder_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Administration(TenantOwned, db.Model):
    """A dose given: which booking, which lot, who, when. Voided, never deleted."""

    __tablename__ = "administration"
    __table_args__ = (
        tenant_fk("booking_id", "booking", ondelete="RESTRICT"),
        tenant_fk("lot_id", "lot", ondelete="RESTRICT"),
        sa.Index("ix_administration_booking", "tenant_id", "booking_id"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column()
    lot_id: Mapped[uuid.UUID] = mapped_column()
    dose_number: Mapped[int] = mapped_column()
    vaccinator_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user_account.id"))
    administered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(sa.Text)


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    EXPIRED = "expired"


class WaitlistEntry(TenantOwned, db.Model):
    """A person waiting for a seat at a venue on a day; offered in turn when one frees."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        tenant_fk("campaign_id", "campaign", ondelete="CASCADE"),
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        tenant_fk("person_id", "person", ondelete="RESTRICT"),
        tenant_fk("booking_id", "booking", ondelete="RESTRICT"),
        sa.Index("ix_waitlist_entry_queue", "tenant_id", "campaign_id", "venue_id", "day"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    venue_id: Mapped[uuid.UUID] = mapped_column()
    day: Mapped[dt.date] = mapped_column(sa.Date)
    person_id: Mapped[uuid.UUID] = mapped_column()
    dose_number: Mapped[int] = mapped_column(default=1)
    status: Mapped[WaitlistStatus] = mapped_column(
        enum_column(WaitlistStatus, "waitlist_status"), default=WaitlistStatus.WAITING
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    offered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    offer_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the booking made when the offer was accepted
    booking_id: Mapped[uuid.UUID | None] = mapped_column()
