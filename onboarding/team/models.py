"""Invitations to join a tenant's team."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.db import UTCDateTime
from core.db import enum_column
from core.db import utcnow
from core.extensions import db
from core.models import Role
from core.tenancy import TenantOwned


class InvitationState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Invitation(TenantOwned, db.Model):
    """An emailed offer to join the tenant with a role; accepted once, by that email only.

    The link carries a signed token whose secret part is stored only as a SHA-256 hash:
    a database leak gives no working links, and resending rotates the secret so an
    earlier link stops working.
    """

    __tablename__ = "invitation"
    __table_args__ = (sa.Index("ix_invitation_tenant_email", "tenant_id", "email"),)

    #: stored lower-case; the account that accepts must have this email
    email: Mapped[str] = mapped_column(sa.String(254))
    role: Mapped[Role] = mapped_column(enum_column(Role, "invitation_role"))
    #: hex SHA-256 of the link's secret
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: when the invitation was last (re)sent
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def state(self, now: dt.datetime | None = None) -> InvitationState:
        if self.accepted_at is not None:
            return InvitationState.ACCEPTED
        if self.revoked_at is not None:
            return InvitationState.REVOKED
        if self.expires_at <= (now or utcnow()):
            return InvitationState.EXPIRED
        return InvitationState.PENDING
