"""API keys and idempotency records, both owned by one tenant.

A key's secret is never stored: only ``secret_hash``, the SHA-256 of a 256-bit random
secret. A slow password hash (argon2) exists to make guessing *low-entropy* human
passwords expensive; a secret drawn from ``secrets.token_urlsafe(32)`` cannot be
guessed whatever the hash, so the slowness would buy nothing and would cost ~50 ms of
CPU and memory on *every* API request. SHA-256 also makes the hash deterministic, so
the database can compare it (see ``api_key_authenticate`` in the migration).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.db import UTCDateTime
from core.db import utcnow
from core.extensions import db
from core.tenancy import TenantOwned


class ApiScope(enum.StrEnum):
    """What a key may do. ``read`` covers every GET; each write needs its own scope."""

    READ = "read"
    BOOKINGS = "bookings"  # create, cancel, reschedule bookings; check-ins
    ROSTER = "roster"  # upsert employee rosters
    REPORTS = "reports"  # start exports and fetch their download links


class ApiKey(TenantOwned, db.Model):
    """A tenant's key for the REST API: ``Authorization: Bearer sk_<prefix>_<secret>``."""

    __tablename__ = "api_key"
    __table_args__ = (sa.UniqueConstraint("prefix"),)

    #: what the key is for, chosen by its creator ("HR roster sync")
    name: Mapped[str] = mapped_column(sa.String(100))
    #: public, unique across tenants, shown in lists so people can tell keys apart;
    #: the lookup handle that finds the key (and so the tenant) before any tenant scope
    prefix: Mapped[str] = mapped_column(sa.String(16))
    #: hex SHA-256 of the secret part (see the module docstring for why not argon2)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    #: a list of ApiScope values
    scopes: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: updated at most once a minute, so a busy key does not write on every request
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: a revoked key is refused from the next request on; the row stays for the audit trail
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: ApiScope | str) -> bool:
        return str(scope) in (self.scopes or [])


class IdempotencyRecord(TenantOwned, db.Model):
    """The outcome of a POST sent with an ``Idempotency-Key`` header.

    Inserted in the same transaction as the work it guards, so the record and the
    effect commit together or not at all; the unique ``(tenant_id, key)`` makes a
    concurrent duplicate wait for the first request and then replay its response.
    """

    __tablename__ = "api_idempotency"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "key"),
        sa.Index("ix_api_idempotency_created_at", "created_at"),
    )

    #: the client's Idempotency-Key header (at most 255 characters)
    key: Mapped[str] = mapped_column(sa.String(255))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: SHA-256 of method, path and canonical JSON body: a reused key with another
    #: request is refused rather than answered with the wrong response
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    response_headers: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
