"""Voucher codes: ten characters a person can read out over the phone.

The alphabet leaves out what is misread or misheard (0/O, 1/I/L, U/V), so 29
symbols: 29**10 ≈ 4.2e14 codes (~48 bits). Codes are unique per tenant (a database
constraint); at a million bookings a random new code collides with probability
below 3e-9, and the collision surfaces as an IntegrityError rather than a shared code.

This module imports nothing of the app: ``tenants.booking.models`` uses it as the
column default, so every booking the ledger inserts gets a code.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
CODE_LENGTH = 10
_GROUPS = (4, 4, 2)
_VALID = re.compile(f"[{ALPHABET}]{{{CODE_LENGTH}}}")


def new_voucher_code() -> str:
    """A fresh random code (stored without dashes)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """The code for reading aloud: ``ABCD-EFGH-JK``."""
    parts, start = [], 0
    for size in _GROUPS:
        parts.append(code[start : start + size])
        start += size
    return "-".join(p for p in parts if p)


def normalise_code(text: str) -> str | None:
    """The stored form of what someone typed (any case, dashes or spaces), or None if it
    cannot be a code. Look-alikes the alphabet leaves out are not guessed at: they make
    the input invalid rather than silently matching another code."""
    cleaned = re.sub(r"[\s\-_.]", "", text or "").upper()
    return cleaned if _VALID.fullmatch(cleaned) else None
