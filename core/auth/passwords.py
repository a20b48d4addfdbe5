"""Password hashing with argon2id (OWASP parameters), rehashed when they change."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

# OWASP Password Storage: argon2id, m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

#: a valid hash of a random password, verified against when the account does not exist
#: so that sign-in takes as long for unknown emails as for known ones
_DUMMY = _hasher.hash("no such account: timing equaliser")


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Check a password in constant time; an unknown account costs the same as a known one."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether the stored hash was made with older parameters."""
    return _hasher.check_needs_rehash(stored)
