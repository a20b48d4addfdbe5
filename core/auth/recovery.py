"""Recovery codes: single-use look-up secrets for a person who lost their authenticator.

Each code is 10 characters from an alphabet without look-alikes (no 0/o, 1/l/i),
made by :mod:`secrets`: about 50 bits, shown grouped as ``abcde-fghjk``. Only an
HMAC-SHA256 of the user id and the normalised code is stored, keyed like the blind
indexes (:func:`core.crypto.blind_indexer`): the codes are random, so a slow hash
buys nothing, and without the key a stolen table cannot be searched offline. The
user id in the hashed text ties a hash to its row.

A code is used by one conditional UPDATE (``… WHERE used_at IS NULL``), so of two
sign-ins racing with the same code only one changes the row; the other finds it used.
These functions only touch rows; the rules, audit and mail are in ``services``.
"""

from __future__ import annotations

import secrets
import uuid

import sqlalchemy as sa

from core.crypto import blind_indexer
from core.db import utcnow
from core.extensions import db
from core.models import RecoveryCode
from core.models import User

COUNT = 10
LENGTH = 10
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
PURPOSE = "recovery-code"


def new_code() -> str:
    """A fresh code, grouped for reading: ``abcde-fghjk``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise(code: str) -> str:
    """What a person typed, without case, spaces or dashes."""
    return "".join(c for c in (code or "").lower() if c not in " -\t\r\n")


def looks_like_code(code: str) -> bool:
    """Whether ``code`` could be a recovery code (right length and alphabet)."""
    value = normalise(code)
    return len(value) == LENGTH and all(c in ALPHABET for c in value)


def _hasher(user_id: uuid.UUID):
    index = blind_indexer(PURPOSE)
    return lambda code: index(f"{user_id}:{normalise(code)}")


def replace_codes(user: User) -> list[str]:
    """Delete the user's codes and make :data:`COUNT` new ones; the plain codes, once."""
    delete_codes(user)
    codes = [new_code() for _ in range(COUNT)]
    hashed = _hasher(user.id)
    db.session.execute(
        sa.insert(RecoveryCode.__table__),
        [{"user_id": user.id, "code_hash": hashed(c)} for c in codes],
    )
    return codes


def delete_codes(user: User) -> int:
    """Delete every recovery code of the user; how many there were."""
    table = RecoveryCode.__table__
    return db.session.execute(sa.delete(table).where(table.c.user_id == user.id)).rowcount


def use_code(user: User, code: str) -> bool:
    """Mark the user's unused ``code`` used; False if it is wrong or was used already."""
    if not looks_like_code(code):
        return False
    table = RecoveryCode.__table__
    result = db.session.execute(
        sa.update(table)
        .where(
            table.c.user_id == user.id,
            table.c.code_hash == _hasher(user.id)(code),
            table.c.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


def remaining(user: User) -> int:
    """How many unused recovery codes the user has."""
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
