"""The on-site desks' clock: one place the views ask for "now" (tests move it)."""

from __future__ import annotations

import datetime as dt

from core.db import utcnow


def now() -> dt.datetime:
    """The current instant (UTC)."""
    return utcnow()
