"""Stock movements per lot: every dose received, moved, given, wasted or expired."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.models import User
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.reporting.exporters.base import Exporter
from tenants.reporting.exporters.base import iso
from tenants.reporting.sql import local_date
from tenants.stock.models import Lot
from tenants.stock.models import Product
from tenants.stock.models import StockMovement


class StockMovements(Exporter):
    identifier = "stock_movements"
    name = _l("Stock movements per lot")
    description = _l(
        "Every change of every lot in the period: venue, vaccine, batch, expiry, date, "
        "kind, doses (+ in, - out), reason and who recorded it."
    )

    def header(self) -> list:
        return [
            _l("Venue"),
            _l("Vaccine"),
            _l("Batch"),
            _l("Expiry date"),
            _l("Date"),
            _l("Time (UTC)"),
            _l("Kind"),
            _l("Doses"),
            _l("Reason"),
            _l("Recorded by"),
        ]

    def records(self) -> Iterator[tuple]:
        m, lot, v = StockMovement, Lot, Venue
        day = local_date(m.at, v.timezone)
        statement = self.filtered(
            sa.select(
                v.name,
                Product.name,
                lot.batch_number,
                lot.expiry_date,
                day,
                m.at,
                m.kind,
                m.delta,
                m.reason,
                User.name,
            )
            .join(lot, tenant_join(lot, m.lot_id))
            .join(v, tenant_join(v, lot.venue_id))
            .join(Product, Product.id == lot.product_id)
            .outerjoin(User, User.id == m.actor_id)
            .order_by(v.name, lot.batch_number, lot.id, m.at, m.id),
            day,
            None,
            lot.venue_id,
        )
        for venue, vaccine, batch, expiry, on, at, kind, delta, reason, actor in self.stream(
            statement
        ):
            yield (
                venue,
                vaccine,
                batch,
                iso(expiry),
                iso(on),
                iso(at),
                kind.value,
                delta,
                reason or "",
                actor or "",
            )
