"""Employee rosters, invite codes, the bookings they made, and priority groups.

Personal data on a roster line is encrypted (AES-GCM) and looked up only by keyed
blind indexes, as for :class:`tenants.booking.models.Person`. The associated data
binds a ciphertext to its line's natural key ``(campaign, employee number)`` rather
than to the row id: a re-import upserts by that key in bulk, keeps the existing id
and must not need to read it first.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core import crypto
from core.db import UTCDateTime
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned
from core.tenancy import tenant_fk
from tenants.booking.models import mask_nik

#: blind-index purposes (separate keys: a NIK index is no email index)
NIK_PURPOSE = "nik"
EMAIL_PURPOSE = "roster-email"
INVITE_PURPOSE = "roster-invite"


def entry_aad(campaign_id: uuid.UUID, employee_number: str, field: str) -> str:
    """The associated data of a roster line's ciphertext."""
    return f"roster_entry:{campaign_id}:{employee_number}:{field}"


class RosterEntry(TenantOwned, db.Model):
    """One employee on a campaign's roster; they may book for themselves and for up to
    ``dependants_allowed`` dependants (``dependants_booked`` counts those taken)."""

    __tablename__ = "roster_entry"
    __table_args__ = (
        tenant_fk("campaign_id", "campaign", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "campaign_id", "employee_number"),
        sa.CheckConstraint("dependants_allowed >= 0", name="dependants_allowed_not_negative"),
        sa.CheckConstraint("dependants_booked >= 0", name="dependants_booked_not_negative"),
        sa.CheckConstraint(
            "dependants_booked <= dependants_allowed", name="dependants_within_allowance"
        ),
        sa.CheckConstraint(
            "nik_bidx IS NOT NULL OR date_of_birth IS NOT NULL", name="nik_or_date_of_birth"
        ),
        sa.Index("ix_roster_entry_email", "tenant_id", "campaign_id", "email_bidx"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    #: the employer's own number for the employee, unique per campaign
    employee_number: Mapped[str] = mapped_column(sa.String(64))
    full_name: Mapped[str] = mapped_column(sa.String(200))
    nik_encrypted: Mapped[str | None] = mapped_column(sa.String(255))
    nik_bidx: Mapped[str | None] = mapped_column(sa.String(64))
    date_of_birth: Mapped[dt.date | None] = mapped_column(sa.Date)
    email_encrypted: Mapped[str | None] = mapped_column(sa.String(512))
    #: keyed hash of the lower-cased email: finds the line a magic link is asked for
    email_bidx: Mapped[str | None] = mapped_column(sa.String(64))
    dependants_allowed: Mapped[int] = mapped_column(default=0)
    dependants_booked: Mapped[int] = mapped_column(default=0)
    #: SHA-256 of the secret of the last magic link sent (None once used)
    link_secret_hash: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def _aad(self, field: str) -> str:
        return entry_aad(self.campaign_id, self.employee_number, field)

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
    def dependants_left(self) -> int:
        return self.dependants_allowed - self.dependants_booked


class InviteCode(TenantOwned, db.Model):
    """A single-use code that lets its holder book one dose for themselves in a campaign
    without being on the roster. Only a keyed hash is stored; the code is shown once."""

    __tablename__ = "roster_invite_code"
    __table_args__ = (
        tenant_fk("campaign_id", "campaign", ondelete="CASCADE"),
        tenant_fk("booking_id", "booking", ondelete="RESTRICT"),
        sa.UniqueConstraint("tenant_id", "campaign_id", "code_hash"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    #: keyed hash (blind index) of the normalised code
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set when a booking claimed the code (the code is then spent)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    booking_id: Mapped[uuid.UUID | None] = mapped_column()


class RosterBooking(TenantOwned, db.Model):
    """Which eligibility a booking was made under: a roster line (for the employee or
    one of their dependants) or an invite code. Read by the participation report."""

    __tablename__ = "roster_booking"
    __table_args__ = (
        tenant_fk("campaign_id", "campaign", ondelete="CASCADE"),
        tenant_fk("booking_id", "booking", ondelete="CASCADE"),
        tenant_fk("entry_id", "roster_entry", ondelete="CASCADE"),
        tenant_fk("invite_code_id", "roster_invite_code", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "booking_id"),
        sa.CheckConstraint(
            "(entry_id IS NULL) <> (invite_code_id IS NULL)", name="entry_or_invite_code"
        ),
        sa.Index("ix_roster_booking_entry", "tenant_id", "entry_id"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    booking_id: Mapped[uuid.UUID] = mapped_column()
    entry_id: Mapped[uuid.UUID | None] = mapped_column()
    invite_code_id: Mapped[uuid.UUID | None] = mapped_column()
    #: True when the booking is for one of the employee's dependants
    dependant: Mapped[bool] = mapped_column(default=False)
    #: False once the dependant's place went back to the allowance (booking cancelled)
    holds_allowance: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PriorityGroup(TenantOwned, db.Model):
    """A group a public campaign is restricted to (health workers, over-60s, …), with the
    short statement a person declares to book under it."""

    __tablename__ = "priority_group"
    __table_args__ = (
        tenant_fk("campaign_id", "campaign", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "campaign_id", "name"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(sa.String(120))
    #: what the person declares, e.g. "I work in a health facility in this city."
    declaration: Mapped[str] = mapped_column(sa.String(1000))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PriorityDeclaration(TenantOwned, db.Model):
    """A person's self-declaration, at booking, that they belong to a priority group."""

    __tablename__ = "priority_declaration"
    __table_args__ = (
        tenant_fk("booking_id", "booking", ondelete="CASCADE"),
        tenant_fk("group_id", "priority_group", ondelete="RESTRICT"),
        sa.UniqueConstraint("tenant_id", "booking_id"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column()
    group_id: Mapped[uuid.UUID] = mapped_column()
    #: the statement as it read when declared (the group's text may change later)
    declaration: Mapped[str] = mapped_column(sa.String(1000))
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
