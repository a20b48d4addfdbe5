"""Who may book an employee campaign, and the bookings made under that eligibility.

A person proves eligibility once per visit, in one of three ways:

- **employee number + date of birth** (the roster's date, or the one a roster NIK
  encodes when the line has no date);
- a **magic link** emailed to an address on the roster: signed, valid for
  :data:`LINK_MAX_AGE`, single-use (the line stores the hash of the link's secret;
  using the link clears it in one conditional UPDATE; asking again replaces it);
- an **invite code**: single-use. A code is *checked* at proof and *spent* when a
  booking claims it (:func:`claim_booking`), in one conditional UPDATE: two people
  holding the same code can both reach the booking form, but only one booking gets it,
  and a person who gives up before booking has not wasted it.

The proof is kept in the Flask session (a signed cookie) for :data:`PROOF_LIFETIME`;
:func:`current_eligibility` reads it back, fresh from the database. The booking page
calls :func:`claim_booking` right after the ledger's ``book_slot``, in the same
transaction: a refusal raises, and the caller's rollback undoes the booking too. The
lock order stays the ledger's (slots, stock) followed by the roster line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import session
from flask_babel import gettext as _
from stdnum.id import nik as stdnum_nik

from core import crypto
from core.auth.tokens import TokenExpired
from core.auth.tokens import TokenInvalid
from core.auth.tokens import external_url
from core.auth.tokens import load_token
from core.auth.tokens import make_token
from core.db import utcnow
from core.extensions import db
from core.mail import send_mail
from core.tenancy import current_tenant_id
from tenants.booking.models import ACTIVE_STATUSES
from tenants.booking.models import Booking
from tenants.booking.models import Person
from tenants.campaigns.models import Campaign
from tenants.roster.models import EMAIL_PURPOSE
from tenants.roster.models import InviteCode
from tenants.roster.models import RosterBooking
from tenants.roster.models import RosterEntry
from tenants.roster.services import RosterError
from tenants.roster.services import code_hash

SESSION_KEY = "roster_eligibility"
PROOF_LIFETIME = dt.timedelta(hours=2)
LINK_MAX_AGE = 30 * 60  # seconds
_LINK_PURPOSE = "roster-link"
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class Eligibility:
    """A proven right to book in one campaign: a roster line, or an unspent invite code."""

    campaign_id: uuid.UUID
    entry_id: uuid.UUID | None = None
    invite_code_id: uuid.UUID | None = None
    full_name: str | None = None
    employee_number: str | None = None
    dependants_allowed: int = 0
    dependants_booked: int = 0

    @property
    def dependants_left(self) -> int:
        return self.dependants_allowed - self.dependants_booked

    @property
    def via_invite_code(self) -> bool:
        return self.invite_code_id is not None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _from_entry(entry: RosterEntry) -> Eligibility:
    return Eligibility(
        campaign_id=entry.campaign_id,
        entry_id=entry.id,
        full_name=entry.full_name,
        employee_number=entry.employee_number,
        dependants_allowed=entry.dependants_allowed,
        dependants_booked=entry.dependants_booked,
    )


# --- the session -----------------------------------------------------------------------


def remember(eligibility: Eligibility) -> None:
    """Keep a proof in the session (one campaign at a time)."""
    session[SESSION_KEY] = {
        "t": str(current_tenant_id()),
        "c": str(eligibility.campaign_id),
        "e": str(eligibility.entry_id) if eligibility.entry_id else None,
        "i": str(eligibility.invite_code_id) if eligibility.invite_code_id else None,
        "at": utcnow().isoformat(),
    }


def forget() -> None:
    session.pop(SESSION_KEY, None)


def current_eligibility(campaign: Campaign) -> Eligibility | None:
    """The session's proof for ``campaign``, read fresh (a spent code or a removed line
    no longer counts), or None."""
    kept = session.get(SESSION_KEY)
    if not isinstance(kept, dict):
        return None
    try:
        tenant_id, campaign_id = uuid.UUID(kept["t"]), uuid.UUID(kept["c"])
        proved_at = dt.datetime.fromisoformat(kept["at"])
        entry_id = uuid.UUID(kept["e"]) if kept.get("e") else None
        code_id = uuid.UUID(kept["i"]) if kept.get("i") else None
    except (KeyError, TypeError, ValueError):
        return None
    if (tenant_id, campaign_id) != (campaign.tenant_id, campaign.id):
        return None
    if utcnow() - proved_at > PROOF_LIFETIME:
        return None
    if entry_id is not None:
        entry = db.session.get(RosterEntry, (tenant_id, entry_id))
        if entry is None or entry.campaign_id != campaign.id:
            return None
        return _from_entry(entry)
    if code_id is not None:
        code = db.session.get(InviteCode, (tenant_id, code_id))
        if code is None or code.campaign_id != campaign.id or code.used_at is not None:
            return None
        return Eligibility(campaign_id=campaign.id, invite_code_id=code.id)
    return None


# --- proofs ----------------------------------------------------------------------------


def _no_match() -> RosterError:
    return RosterError(
        _(
            "We could not match this employee number and date of birth to the roster. "
            "Check both; if they are right, ask your HR team to check the roster."
        ),
        code="no_match",
        status=422,
    )


def prove_by_birth_date(
    campaign: Campaign, employee_number: str, date_of_birth: dt.date
) -> Eligibility:
    """Eligibility from an employee number and a date of birth; ``no_match`` otherwise
    (the same refusal whichever of the two is wrong)."""
    entry = db.session.scalar(
        sa.select(RosterEntry).where(
            RosterEntry.campaign_id == campaign.id,
            RosterEntry.employee_number == employee_number.strip(),
        )
    )
    if entry is None:
        raise _no_match()
    born = entry.date_of_birth
    if born is None and entry.nik:
        born = stdnum_nik.get_birth_date(entry.nik)  # women's day is stored + 40
    if born != date_of_birth:
        raise _no_match()
    return _from_entry(entry)


def request_magic_link(campaign: Campaign, tenant_slug: str, email: str, *, locale: str) -> int:
    """Email a sign-in link to each roster line of the campaign with this address.

    Returns how many were sent, for tests and logs only: callers must answer the same
    whatever it is, so the page reveals nothing about who is on the roster.
    """
    bidx = crypto.blind_index(email.strip().lower(), EMAIL_PURPOSE)
    entries = db.session.scalars(
        sa.select(RosterEntry).where(
            RosterEntry.campaign_id == campaign.id, RosterEntry.email_bidx == bidx
        )
    ).all()
    for entry in entries:
        secret = secrets.token_urlsafe(24)
        entry.link_secret_hash = _hash(secret)  # a newer link replaces an older one
        token = make_token(
            _LINK_PURPOSE,
            {"t": str(entry.tenant_id), "c": str(campaign.id), "e": str(entry.id), "k": secret},
        )
        send_mail(
            entry.email,
            "roster/magic_link",
            {
                "campaign_name": campaign.name,
                "full_name": entry.full_name,
                "url": external_url(
                    "roster_public.link",
                    tenant_slug=tenant_slug,
                    campaign_slug=campaign.slug,
                    token=token,
                ),
                "minutes": LINK_MAX_AGE // 60,
            },
            locale=locale,
        )
    db.session.flush()
    return len(entries)


def check_link(campaign: Campaign, token: str) -> dict:
    """The payload of a genuine, unexpired, unused link for this campaign; RosterError
    if not. Spends nothing (see :func:`prove_by_link`)."""
    invalid = RosterError(
        _("This link is not valid, has expired or was used already. Ask for a new one."),
        code="link_invalid",
        status=400,
    )
    try:
        payload = load_token(_LINK_PURPOSE, token, LINK_MAX_AGE)
        if (uuid.UUID(payload["t"]), uuid.UUID(payload["c"])) != (campaign.tenant_id, campaign.id):
            raise invalid
        uuid.UUID(payload["e"])
        str(payload["k"])
    except (TokenExpired, TokenInvalid, KeyError, TypeError, ValueError):
        raise invalid from None
    unused = db.session.scalar(
        sa.select(RosterEntry.id).where(
            RosterEntry.id == uuid.UUID(payload["e"]),
            RosterEntry.campaign_id == campaign.id,
            RosterEntry.link_secret_hash == _hash(str(payload["k"])),
        )
    )
    if unused is None:
        raise invalid
    return payload


def prove_by_link(campaign: Campaign, token: str) -> Eligibility:
    """Eligibility from a magic link, which is spent by this call (conditional UPDATE:
    of two clicks at once, one wins)."""
    payload = check_link(campaign, token)
    entry_id = uuid.UUID(payload["e"])
    spent = db.session.execute(
        sa.update(RosterEntry)
        .where(
            RosterEntry.id == entry_id,
            RosterEntry.campaign_id == campaign.id,
            RosterEntry.link_secret_hash == _hash(str(payload["k"])),
        )
        .values(link_secret_hash=None)
        .returning(RosterEntry.id)
        .execution_options(**_NO_SYNC)
    ).first()
    if spent is None:
        raise RosterError(
            _("This link is not valid, has expired or was used already. Ask for a new one."),
            code="link_invalid",
            status=400,
        )
    entry = db.session.get(RosterEntry, (campaign.tenant_id, entry_id))
    db.session.refresh(entry)
    return _from_entry(entry)


def prove_by_invite_code(campaign: Campaign, code: str) -> Eligibility:
    """Eligibility from an unspent invite code (spent later, by the booking)."""
    found = db.session.scalar(
        sa.select(InviteCode).where(
            InviteCode.campaign_id == campaign.id,
            InviteCode.code_hash == code_hash(code),
            InviteCode.used_at.is_(None),
        )
    )
    if found is None:
        raise RosterError(
            _("This invite code is not valid for this campaign, or it was used already."),
            code="invite_code_invalid",
            status=422,
        )
    return Eligibility(campaign_id=campaign.id, invite_code_id=found.id)


# --- claims ----------------------------------------------------------------------------


def _claim_invite_code(eligibility: Eligibility, booking: Booking, dependant: bool) -> None:
    if dependant:
        raise RosterError(
            _("An invite code is for one person; it cannot be used to book for others."),
            code="no_dependants_left",
            status=409,
        )
    spent = db.session.execute(
        sa.update(InviteCode)
        .where(InviteCode.id == eligibility.invite_code_id, InviteCode.used_at.is_(None))
        .values(used_at=utcnow(), booking_id=booking.id)
        .returning(InviteCode.id)
        .execution_options(**_NO_SYNC)
    ).first()
    if spent is None:
        raise RosterError(
            _("This invite code was used already; each code books once."),
            code="invite_code_used",
            status=409,
        )


def _claim_dependant(eligibility: Eligibility) -> None:
    taken = db.session.execute(
        sa.update(RosterEntry)
        .where(
            RosterEntry.id == eligibility.entry_id,
            RosterEntry.dependants_booked < RosterEntry.dependants_allowed,
        )
        .values(dependants_booked=RosterEntry.dependants_booked + 1)
        .returning(RosterEntry.id)
        .execution_options(**_NO_SYNC)
    ).first()
    if taken is None:
        raise RosterError(
            _(
                "You have booked for all the dependants your employer allows. To change "
                "that, ask your HR team."
            ),
            code="no_dependants_left",
            status=409,
        )


def _claim_own(eligibility: Eligibility, booking: Booking) -> None:
    # Lock the roster line (a no-op UPDATE) so two "for myself" bookings of one employee
    # cannot both pass the check below.
    nik_bidx = db.session.execute(
        sa.update(RosterEntry)
        .where(RosterEntry.id == eligibility.entry_id)
        .values(updated_at=RosterEntry.updated_at)
        .returning(RosterEntry.nik_bidx)
        .execution_options(**_NO_SYNC)
    ).scalar_one()
    if nik_bidx is not None:
        person_bidx = db.session.scalar(
            sa.select(Person.nik_bidx).where(Person.id == booking.person_id)
        )
        if person_bidx != nik_bidx:
            raise RosterError(
                _(
                    "The NIK given does not match the one on the roster for this employee "
                    "number. If the roster is wrong, ask your HR team to correct it."
                ),
                code="nik_mismatch",
                status=409,
            )
    other = db.session.scalar(
        sa.select(Booking.id)
        .join(
            RosterBooking,
            sa.and_(
                RosterBooking.booking_id == Booking.id,
                RosterBooking.tenant_id == Booking.tenant_id,
            ),
        )
        .where(
            RosterBooking.entry_id == eligibility.entry_id,
            RosterBooking.dependant.is_(False),
            Booking.dose_number == booking.dose_number,
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.id != booking.id,
        )
        .limit(1)
    )
    if other is not None:
        raise RosterError(
            _(
                "You have booked this dose for yourself already. To book for a family "
                "member, choose a booking for a dependant."
            ),
            code="already_booked",
            status=409,
        )


def claim_booking(eligibility: Eligibility, booking: Booking, *, dependant: bool) -> RosterBooking:
    """Record that ``booking`` was made under ``eligibility``; for a dependant, take one
    place of the allowance (atomically: refused with ``no_dependants_left`` when none is
    left); with an invite code, spend it (``invite_code_used`` if someone else did).

    Call right after ``book_slot`` in the same transaction; on a refusal the caller
    rolls back and the booking goes too.
    """
    if booking.campaign_id != eligibility.campaign_id:
        raise RosterError(_("This booking is for another campaign."), code="wrong_campaign")
    if eligibility.invite_code_id is not None:
        _claim_invite_code(eligibility, booking, dependant)
    elif dependant:
        _claim_dependant(eligibility)
    else:
        _claim_own(eligibility, booking)
    claim = RosterBooking(
        campaign_id=booking.campaign_id,
        booking_id=booking.id,
        entry_id=eligibility.entry_id,
        invite_code_id=eligibility.invite_code_id,
        dependant=dependant,
        holds_allowance=dependant,
    )
    db.session.add(claim)
    db.session.flush()
    return claim


def release_booking(booking_id: uuid.UUID) -> bool:
    """Give a cancelled dependant booking's place back to the allowance (once: the
    claim's ``holds_allowance`` flips in a conditional UPDATE). True if one was given."""
    released = db.session.execute(
        sa.update(RosterBooking)
        .where(RosterBooking.booking_id == booking_id, RosterBooking.holds_allowance.is_(True))
        .values(holds_allowance=False)
        .returning(RosterBooking.entry_id)
        .execution_options(**_NO_SYNC)
    ).first()
    if released is None:
        return False
    db.session.execute(
        sa.update(RosterEntry)
        .where(RosterEntry.id == released.entry_id, RosterEntry.dependants_booked > 0)
        .values(dependants_booked=RosterEntry.dependants_booked - 1)
        .execution_options(**_NO_SYNC)
    )
    return True
