"""The booking in progress, kept between the steps in the Flask session.

The session is a signed cookie: the person cannot alter what it says, but can read it.
So the personal data in it is *encrypted* too (``core.crypto``, AES-GCM, bound to the
campaign), and the cookie never shows a NIK in clear, even to someone reading the
browser's storage. One draft per visitor: starting another campaign replaces it.

Also here: the anti-abuse pieces that live in the form, a signed timestamp (how long
the form took to fill) and a honeypot field (a hidden input that people leave empty).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from flask import current_app
from flask import session
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer

from core import crypto
from core.db import utcnow
from tenants.booking.models import Sex

SESSION_KEY = "public_booking"
DONE_KEY = "public_booking_done"
#: the honeypot's name: plausible for a bot, labelled "leave empty" for people
HONEYPOT = "website"
_FORM_SALT = "sentra.public.form-started"


@dataclass
class Draft:
    """What the person chose so far. ``mode`` is ``book`` (a slot) or ``waitlist`` (a
    full day at a venue)."""

    campaign_id: uuid.UUID
    venue_id: uuid.UUID | None = None
    day: dt.date | None = None
    slot_id: uuid.UUID | None = None
    mode: str = "book"
    person: dict | None = None
    #: booking for a dependant (employee campaigns that allow them)
    dependant: bool = False
    priority_group_id: uuid.UUID | None = None

    @property
    def ready_for_details(self) -> bool:
        if self.mode == "waitlist":
            return self.venue_id is not None and self.day is not None
        return self.slot_id is not None

    @property
    def ready_for_review(self) -> bool:
        return self.ready_for_details and self.person is not None


def _aad(campaign_id: uuid.UUID) -> str:
    return f"booking-draft:{campaign_id}"


def load(campaign_id: uuid.UUID) -> Draft:
    """The session's draft for this campaign, or a fresh one."""
    kept = session.get(SESSION_KEY)
    if not isinstance(kept, dict) or kept.get("c") != str(campaign_id):
        return Draft(campaign_id=campaign_id)
    try:
        person = None
        if kept.get("p"):
            person = json.loads(crypto.decrypt(kept["p"], _aad(campaign_id)))
            person["date_of_birth"] = dt.date.fromisoformat(person["date_of_birth"])
            person["sex"] = Sex(person["sex"])
        return Draft(
            campaign_id=campaign_id,
            venue_id=uuid.UUID(kept["v"]) if kept.get("v") else None,
            day=dt.date.fromisoformat(kept["d"]) if kept.get("d") else None,
            slot_id=uuid.UUID(kept["s"]) if kept.get("s") else None,
            mode=kept.get("m") or "book",
            person=person,
            dependant=bool(kept.get("dep")),
            priority_group_id=uuid.UUID(kept["g"]) if kept.get("g") else None,
        )
    except (KeyError, TypeError, ValueError):
        # an old or damaged cookie (or a rotated key): start again rather than fail
        return Draft(campaign_id=campaign_id)


def save(draft: Draft) -> None:
    person = None
    if draft.person is not None:
        plain = {
            **draft.person,
            "date_of_birth": draft.person["date_of_birth"].isoformat(),
            "sex": str(draft.person["sex"]),
        }
        person = crypto.encrypt(json.dumps(plain), _aad(draft.campaign_id))
    session[SESSION_KEY] = {
        "c": str(draft.campaign_id),
        "v": str(draft.venue_id) if draft.venue_id else None,
        "d": draft.day.isoformat() if draft.day else None,
        "s": str(draft.slot_id) if draft.slot_id else None,
        "m": draft.mode,
        "p": person,
        "dep": draft.dependant,
        "g": str(draft.priority_group_id) if draft.priority_group_id else None,
    }


def clear() -> None:
    session.pop(SESSION_KEY, None)


def remember_done(campaign_id: uuid.UUID, kind: str, object_id: uuid.UUID) -> None:
    """What the confirmation page shows: a booking or a waitlist entry just made."""
    session[DONE_KEY] = {"c": str(campaign_id), "k": kind, "id": str(object_id)}


def done(campaign_id: uuid.UUID) -> tuple[str, uuid.UUID] | None:
    kept = session.get(DONE_KEY)
    if not isinstance(kept, dict) or kept.get("c") != str(campaign_id):
        return None
    try:
        return kept["k"], uuid.UUID(kept["id"])
    except (KeyError, ValueError):
        return None


# --- in the form ------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_FORM_SALT)


def form_stamp(campaign_id: uuid.UUID) -> str:
    """A signed "this form was shown now" for the campaign, for a hidden field (the
    time to the millisecond: the signer's own timestamp has whole seconds only)."""
    return _serializer().dumps([str(campaign_id), utcnow().timestamp()])


def seconds_since_stamp(stamp: str, campaign_id: uuid.UUID) -> float | None:
    """How long ago the form with this stamp was shown, or None if the stamp is not ours
    (altered, for another campaign, or older than a day)."""
    try:
        value = _serializer().loads(stamp or "", max_age=24 * 3600)
        kept_campaign, shown_at = value
        shown_at = float(shown_at)
    except (BadSignature, TypeError, ValueError):
        return None
    if kept_campaign != str(campaign_id):
        return None
    return utcnow().timestamp() - shown_at
