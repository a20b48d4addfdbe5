"""The kernel's tables: tenants, users and their memberships, the audit log and the outbox.

None of these is tenant-owned in the sense of :class:`core.tenancy.TenantOwned`:
a user signs in before any tenant is chosen and lists the tenants they belong to,
and the outbox is swept across tenants. Their own row-level security policies are
written in the migrations.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from core.db import UTCDateTime
from core.db import enum_column
from core.db import utcnow
from core.extensions import db
from core.ids import uuid7


class TenantKind(enum.StrEnum):
    COMPANY = "company"  # runs employee drives (private employer programme)
    CLINIC = "clinic"  # runs public drives
    HOSPITAL = "hospital"
    OTHER = "other"


class TenantStatus(enum.StrEnum):
    PENDING = "pending"  # until one venue is approved
    ACTIVE = "active"
    SUSPENDED = "suspended"  # new bookings stop; existing vouchers stay valid


class Tenant(db.Model):
    """An organisation that runs vaccination drives: a company or a clinic."""

    __tablename__ = "tenant"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    #: lower-case, used in URLs (/o/<slug>, /b/<slug>)
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[TenantKind] = mapped_column(enum_column(TenantKind, "tenant_kind"))
    status: Mapped[TenantStatus] = mapped_column(
        enum_column(TenantStatus, "tenant_status"), default=TenantStatus.PENDING
    )
    #: why the tenant was suspended, shown to its owners
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    province: Mapped[str | None] = mapped_column(sa.String(100))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="tenant")

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class PlatformRole(enum.StrEnum):
    REVIEWER = "reviewer"  # ministry reviewer: decides venue permits
    PLATFORM_ADMIN = "platform_admin"  # runs the platform


#: Platform roles that must use two-factor sign-in.
TOTP_REQUIRED_ROLES = frozenset({PlatformRole.REVIEWER, PlatformRole.PLATFORM_ADMIN})


class User(UserMixin, db.Model):
    """A person who signs in: tenant staff, a ministry reviewer or a platform admin."""

    __tablename__ = "user_account"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    #: stored lower-case; unique across the platform
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: argon2id, rehashed at sign-in when the parameters change
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: part of the session id; bumping it signs the user out everywhere
    session_version: Mapped[int] = mapped_column(default=1)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    platform_role: Mapped[PlatformRole | None] = mapped_column(
        enum_column(PlatformRole, "platform_role")
    )
    #: TOTP secret, encrypted with core.crypto (bound to the user id)
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255))
    #: last accepted TOTP time step: each code works once
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    locale: Mapped[str] = mapped_column(sa.String(8), default="id")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    def get_id(self) -> str:
        """Flask-Login's session id: the user id and session version, so old sessions die."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.disabled_at is None

    @property
    def needs_totp(self) -> bool:
        return self.platform_role in TOTP_REQUIRED_ROLES

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class RecoveryCode(db.Model):
    """A single-use code that stands in for a TOTP code when the phone is lost.

    Only a keyed hash is stored (core.auth.recovery); the codes are shown once.
    """

    __tablename__ = "recovery_code"
    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    #: HMAC-SHA256 of the user id and the normalised code, hex
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set once, by a conditional UPDATE: a code signs in once
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Role(enum.StrEnum):
    """A member's role in one tenant, from most to least powerful."""

    OWNER = "owner"
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    CHECKIN = "checkin"


class Membership(db.Model):
    """A user's role in a tenant; access ends at ``ends_at`` (staff hired for one drive)."""

    __tablename__ = "membership"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[Role] = mapped_column(enum_column(Role, "membership_role"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    tenant: Mapped[Tenant] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")

    def is_current(self, now: dt.datetime | None = None) -> bool:
        return self.ends_at is None or self.ends_at > (now or utcnow())


class AuditEntry(db.Model):
    """One line of the append-only audit trail (the app role may not update or delete)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_tenant_at", "tenant_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    #: None for platform-level actions (sign-in, reviewer management)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenant.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: dotted code, package.noun.verb, e.g. core.user.signed_in
    action: Mapped[str] = mapped_column(sa.String(100))
    object_type: Mapped[str | None] = mapped_column(sa.String(60))
    object_id: Mapped[str | None] = mapped_column(sa.String(80))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt; shown to operators


class OutboxMessage(db.Model):
    """An email that a state change must cause, written in the same transaction.

    The delivery job runs after commit and claims the row, so each message is sent
    once even if the job is enqueued twice; the sweeper re-enqueues what is stuck.
    """

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_status_due", "status", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenant.id"))
    #: template name under templates/mail/, e.g. "core/verify_email"
    template: Mapped[str] = mapped_column(sa.String(100))
    recipient: Mapped[str] = mapped_column(sa.String(254))
    locale: Mapped[str] = mapped_column(sa.String(8), default="id")
    context: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: not before this time (retries back off)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
