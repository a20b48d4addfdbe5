"""The roster's error type."""

from __future__ import annotations

from core.errors import DomainError


class RosterError(DomainError):
    """A roster rule refused the change."""

    code = "roster_invalid"
