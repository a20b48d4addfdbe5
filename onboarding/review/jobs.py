"""Periodic work of the review console."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import utcnow
from core.extensions import db
from core.mail import send_mail
from core.models import PlatformRole
from core.models import User
from onboarding.review.services import review_queue


def send_reviewer_digest() -> int:
    """Daily job (review scope): email each reviewer the state of the queue.

    Nothing is sent when the queue is empty. Returns the number of emails queued.
    """
    queue = review_queue()
    if not queue:
        return 0
    now = utcnow()
    oldest = max(entry.waiting for entry in queue)
    by_province: dict[str, int] = {}
    for entry in queue:
        by_province[entry.venue.province] = by_province.get(entry.venue.province, 0) + 1
    context = {
        "count": len(queue),
        "oldest_hours": int(oldest.total_seconds() // 3600),
        "over_three_days": sum(1 for e in queue if e.waiting.days >= 3),
        "by_province": sorted(by_province.items()),
        "date": now.date().isoformat(),
    }
    reviewers = db.session.scalars(
        sa.select(User)
        .where(User.platform_role == PlatformRole.REVIEWER, User.disabled_at.is_(None))
        .order_by(User.email)
    ).all()
    for reviewer in reviewers:
        # Platform mail: no tenant, so no tenant's outbox scope is needed.
        send_mail(
            reviewer.email,
            "review/digest",
            {**context, "name": reviewer.name},
            locale=reviewer.locale,
            tenant_id=None,
        )
    return len(reviewers)
