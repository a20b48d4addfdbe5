"""Invite codes: single-use, shown once, stored only as keyed hashes."""

from __future__ import annotations

import re
import secrets

import sqlalchemy as sa
from flask_babel import gettext as _

from core import crypto
from core.audit import log_action
from core.extensions import db
from core.models import User
from tenants.campaigns.models import Campaign
from tenants.roster.models import INVITE_PURPOSE
from tenants.roster.models import InviteCode
from tenants.roster.services.common import RosterError

#: invite codes: 12 characters of an alphabet without 0/O, 1/I/L (60 bits)
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12


def normalise_code(code: str) -> str:
    """Upper-case, without spaces and dashes (codes are shown grouped: ABCD-EFGH-JKMN)."""
    return re.sub(r"[\s\-]", "", code or "").upper()


def code_hash(code: str) -> str:
    return crypto.blind_index(normalise_code(code), INVITE_PURPOSE)


def create_invite_codes(campaign: Campaign, count: int, *, actor: User | None) -> list[str]:
    """Make ``count`` single-use codes; returns them (shown once, stored only hashed)."""
    if not 1 <= count <= 1000:
        raise RosterError(_("Make between 1 and 1000 codes at a time."))
    codes = []
    for _i in range(count):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _j in range(CODE_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4)))
        db.session.add(
            InviteCode(
                campaign_id=campaign.id,
                code_hash=code_hash(raw),
                created_by_id=actor.id if actor else None,
            )
        )
    db.session.flush()
    log_action(campaign, "tenants.roster.invite_codes_create", actor, {"count": count})
    return codes


def invite_code_counts(campaign: Campaign) -> tuple[int, int]:
    """(codes made, codes used) for a campaign."""
    made, used = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(InviteCode.used_at)).where(
            InviteCode.campaign_id == campaign.id
        )
    ).one()
    return made, used
