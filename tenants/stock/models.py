"""The vaccine catalogue (shared) and stock (per tenant): products, interval rules, lots,
movements and the per-venue counters the booking ledger moves."""

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
from core.ids import uuid7
from core.tenancy import TenantOwned
from core.tenancy import tenant_fk


class Product(db.Model):
    """A vaccine. ``owner_tenant_id`` NULL: the platform catalogue every tenant sees;
    else a tenant's own product (flu, HPV, ...), visible only to that tenant.

    Not :class:`TenantOwned` (platform rows have no tenant): on PostgreSQL its own RLS
    policy shows platform rows and the tenant's own; services filter the same way with
    :func:`tenants.stock.services.visible_products` so SQLite behaves alike.
    """

    __tablename__ = "product"
    __table_args__ = (
        sa.CheckConstraint("doses_in_series >= 1", name="series_positive"),
        sa.CheckConstraint("doses_per_vial >= 1", name="vial_positive"),
        sa.CheckConstraint(
            "min_age_years IS NULL OR max_age_years IS NULL OR min_age_years <= max_age_years",
            name="age_range",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    owner_tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tenant.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(120))
    manufacturer: Mapped[str] = mapped_column(sa.String(120))
    #: doses in the primary series (2 for most COVID-19 vaccines)
    doses_in_series: Mapped[int] = mapped_column(default=2)
    #: may be given as a booster (dose after the primary series)
    booster: Mapped[bool] = mapped_column(default=False)
    doses_per_vial: Mapped[int] = mapped_column(default=1)
    #: an opened multi-dose vial must be used within this many hours (None: single-dose)
    open_vial_hours: Mapped[int | None] = mapped_column()
    min_age_years: Mapped[int | None] = mapped_column()
    max_age_years: Mapped[int | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Product {self.name}>"


class IntervalRule(db.Model):
    """The interval from one dose to the next, valid for earlier doses given on or after
    ``effective_from`` (rules change by date: 14 → 28 days, boosters 6 → 3 months).

    Visible where its product is (RLS on PostgreSQL checks the product).
    """

    __tablename__ = "interval_rule"
    __table_args__ = (
        sa.UniqueConstraint("product_id", "from_dose", "to_dose", "effective_from"),
        sa.CheckConstraint("to_dose > from_dose AND from_dose >= 1", name="dose_order"),
        sa.CheckConstraint("min_days >= 0 AND recommended_days >= min_days", name="days"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    product_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("product.id", ondelete="CASCADE"), index=True
    )
    from_dose: Mapped[int] = mapped_column()
    to_dose: Mapped[int] = mapped_column()
    min_days: Mapped[int] = mapped_column()
    recommended_days: Mapped[int] = mapped_column()
    effective_from: Mapped[dt.date] = mapped_column(sa.Date)


class Lot(TenantOwned, db.Model):
    """A batch of one product at one venue. ``on_hand`` is a counter of its doses left,
    rebuilt from :class:`StockMovement` rows by the recount."""

    __tablename__ = "lot"
    __table_args__ = (
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        sa.CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        sa.CheckConstraint("doses_received >= 0", name="received_not_negative"),
        sa.Index("ix_lot_venue_product", "tenant_id", "venue_id", "product_id"),
    )

    venue_id: Mapped[uuid.UUID] = mapped_column()
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("product.id", ondelete="RESTRICT"))
    batch_number: Mapped[str] = mapped_column(sa.String(60))
    expiry_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: doses received at this venue (0 for a lot created by a transfer in)
    doses_received: Mapped[int] = mapped_column(default=0)
    on_hand: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set when expire_lots first processed this lot (it may keep doses that back
    #: promises until free doses replace them; see tenants.stock.services.expire_lots)
    expired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MovementKind(enum.StrEnum):
    RECEIVED = "received"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    WASTED = "wasted"
    ADMINISTERED = "administered"
    EXPIRED = "expired"
    VOID_ADMINISTRATION = "void_administration"


#: kinds that add doses; every other kind removes them
INBOUND = (MovementKind.RECEIVED, MovementKind.TRANSFER_IN, MovementKind.VOID_ADMINISTRATION)


class StockMovement(TenantOwned, db.Model):
    """One change of a lot's doses; ``delta`` is signed (+ in, - out). The rows are the
    truth the counters are recounted from."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        tenant_fk("lot_id", "lot", ondelete="RESTRICT"),
        sa.CheckConstraint(
            "(kind IN ('received', 'transfer_in', 'void_administration') AND delta > 0) OR "
            "(kind IN ('transfer_out', 'wasted', 'administered', 'expired') AND delta < 0)",
            name="delta_sign",
        ),
        sa.Index("ix_stock_movement_lot", "tenant_id", "lot_id"),
    )

    lot_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[MovementKind] = mapped_column(enum_column(MovementKind, "movement_kind"))
    delta: Mapped[int] = mapped_column()
    reason: Mapped[str | None] = mapped_column(sa.Text)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user_account.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Stock(TenantOwned, db.Model):
    """Per venue and product: doses on hand and doses promised (active bookings).

    The database keeps ``0 <= promised <= on_hand``: a dose is never promised twice.
    """

    __tablename__ = "stock"
    __table_args__ = (
        tenant_fk("venue_id", "venue", ondelete="RESTRICT"),
        sa.UniqueConstraint("tenant_id", "venue_id", "product_id"),
        sa.CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        sa.CheckConstraint("promised >= 0", name="promised_not_negative"),
        sa.CheckConstraint("promised <= on_hand", name="promised_within_on_hand"),
    )

    venue_id: Mapped[uuid.UUID] = mapped_column()
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("product.id", ondelete="RESTRICT"))
    on_hand: Mapped[int] = mapped_column(default=0)
    promised: Mapped[int] = mapped_column(default=0)

    @property
    def free(self) -> int:
        return self.on_hand - self.promised
