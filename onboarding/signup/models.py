"""What sign-up records about an organisation beyond the kernel's Tenant row."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.db import UTCDateTime
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned


class TenantContact(TenantOwned, db.Model):
    """How the ministry and the platform reach an organisation (one row per tenant).

    Kept out of the kernel's ``tenant`` table: it is onboarding data, tenant-owned and
    behind row-level security like the rest.
    """

    __tablename__ = "tenant_contact"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    #: the contact phone typed at sign-up, as written (spaces and + kept)
    phone: Mapped[str] = mapped_column(sa.String(32))
    #: the user who signed the organisation up (its first owner)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
