"""``/review/stats``: what platform reviewers (and the ministry) see across tenants —
counts of doses given per province, vaccine, dose number and venue-local day, never a
row about a person.

On PostgreSQL the numbers come from ``review_dose_counts()``, a SECURITY DEFINER
function that answers only in the review scope and returns nothing but counts (see
the 0070 migration for why a function rather than scope policies). SQLite has no row
security; there the same aggregate runs as a query in the same scope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint
from flask import render_template
from flask import request
from flask_babel import gettext as _

from core.access import require_platform_role
from core.extensions import db
from core.models import PlatformRole
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_join
from onboarding.venues.models import Venue
from tenants.booking.models import Administration
from tenants.booking.models import Booking
from tenants.reporting.charts import bar_chart
from tenants.reporting.sql import local_date
from tenants.stock.models import Lot
from tenants.stock.models import Product

bp = Blueprint("review_stats", __name__, url_prefix="/review/stats", template_folder="templates")

#: the default window of the page
DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class DoseCount:
    province: str
    vaccine: str
    dose_number: int
    day: dt.date
    doses: int


def dose_counts(date_from: dt.date, date_to: dt.date) -> list[DoseCount]:
    """Doses given (not voided) in the period across every tenant, aggregated. Must
    run in ``cross_tenant(Scope.REVIEW)``."""
    if db.session.get_bind().dialect.name == "postgresql":
        rows = db.session.execute(
            sa.text("SELECT * FROM review_dose_counts(:f, :t)"), {"f": date_from, "t": date_to}
        ).all()
    else:
        a, b, v = Administration, Booking, Venue
        day = local_date(a.administered_at, v.timezone)
        rows = db.session.execute(
            sa.select(v.province, Product.name, a.dose_number, day, sa.func.count())
            .join(b, tenant_join(b, a.booking_id))
            .join(v, tenant_join(v, b.venue_id))
            .join(Lot, tenant_join(Lot, a.lot_id))
            .join(Product, Product.id == Lot.product_id)
            .where(a.voided_at.is_(None), day >= date_from, day <= date_to)
            .group_by(v.province, Product.name, a.dose_number, day)
        ).all()
    counts = [
        DoseCount(
            province,
            vaccine,
            dose,
            day if isinstance(day, dt.date) else dt.date.fromisoformat(day),
            int(n),
        )
        for province, vaccine, dose, day, n in rows
    ]
    return sorted(counts, key=lambda c: (c.day, c.province, c.vaccine, c.dose_number))


def _period() -> tuple[dt.date, dt.date]:
    today = dt.date.today()
    try:
        end = dt.date.fromisoformat(request.args.get("to") or today.isoformat())
        start = dt.date.fromisoformat(
            request.args.get("from") or (end - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        )
    except ValueError:
        end, start = today, today - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end or (end - start).days >= MAX_DAYS:
        start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
    return start, end


@bp.route("")
@require_platform_role(PlatformRole.REVIEWER)
def stats():
    """Doses per province, vaccine, dose number and day, across tenants."""
    start, end = _period()
    with cross_tenant(Scope.REVIEW):
        counts = dose_counts(start, end)
    per_day: dict[dt.date, int] = {}
    per_province: dict[str, int] = {}
    for c in counts:
        per_day[c.day] = per_day.get(c.day, 0) + c.doses
        per_province[c.province] = per_province.get(c.province, 0) + c.doses
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return render_template(
        "reporting/review_stats.html",
        start=start,
        end=end,
        counts=counts,
        per_province=sorted(per_province.items()),
        total=sum(per_day.values()),
        chart=bar_chart(
            [(d.strftime("%d/%m"), per_day.get(d, 0)) for d in days], title=_("Doses per day")
        ),
    )
