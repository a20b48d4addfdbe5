"""`flask sentra recount-stock` and the ledger's demo data (campaigns, stock, slots).

Imported through ``core.app.MODEL_MODULES``: attaches its command to ``core.cli.sentra``
and appends its demo data to ``core.cli.DEMO_EXTENSIONS``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from core.cli import DEMO_EXTENSIONS
from core.cli import sentra
from core.db import utcnow
from core.extensions import db
from core.models import Tenant
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus
from tenants.booking.recount import recount_stock
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.campaigns.services import create_campaign
from tenants.campaigns.services import generate_slots
from tenants.campaigns.services import publish_campaign
from tenants.stock.models import Product
from tenants.stock.services import receive_lot
from tenants.stock.services import visible_products


@sentra.command("recount-stock")
@click.option("--tenant", "slug", help="Only this tenant (slug); default: every tenant.")
@click.option("--fix", is_flag=True, help="Write the recounted values.")
@with_appcontext
def recount_stock_command(slug: str | None, fix: bool) -> None:
    """Rebuild stock, slot and walk-in counters from the rows; report any drift."""
    query = sa.select(Tenant).order_by(Tenant.slug)
    if slug:
        query = query.where(Tenant.slug == slug)
    tenants = db.session.scalars(query).all()
    if slug and not tenants:
        raise click.ClickException(f"No tenant {slug!r}.")
    total = 0
    for tenant in tenants:
        with tenant_context(tenant):
            drifts = recount_stock(fix=fix)
            db.session.commit()
        for drift in drifts:
            click.echo(f"{tenant.slug}: {drift}")
        total += len(drifts)
    verb = "fixed" if fix else "found"
    click.echo(f"{total} drifting counter(s) {verb} in {len(tenants)} tenant(s).")
    if total and not fix:
        raise SystemExit(1)


@sentra.command("expire-stock")
@click.option("--tenant", "slug", help="Only this tenant (slug); default: every tenant.")
@with_appcontext
def expire_stock_command(slug: str | None) -> None:
    """Take expired lots off hand and move unanswered waitlist offers on (the scheduler
    runs the same hourly as the `stock-expiry` job)."""
    from tenants.booking.jobs import expire_for_tenant

    query = sa.select(Tenant).order_by(Tenant.slug)
    if slug:
        query = query.where(Tenant.slug == slug)
    for tenant in db.session.scalars(query).all():
        report, offers = expire_for_tenant(tenant.id)
        for lot_id, doses in report.expired.items():
            click.echo(f"{tenant.slug}: lot {lot_id}: {doses} dose(s) expired")
        for lot_id, doses in report.shortfall.items():
            click.echo(
                f"{tenant.slug}: lot {lot_id}: {doses} expired dose(s) still back promises; "
                "transfer doses in or move bookings"
            )
        if offers:
            click.echo(f"{tenant.slug}: {offers} waitlist offer(s) expired and moved on")


HOURS = {str(d): [["08:00", "12:00"], ["13:00", "16:00"]] for d in range(6)}  # Mon-Sat


def _venue(tenant: Tenant, name: str, address: str, stations: int) -> Venue:
    venue = db.session.scalar(
        sa.select(Venue).where(Venue.status == VenueStatus.APPROVED).order_by(Venue.created_at)
    )
    if venue is None:
        venue = Venue(
            name=name,
            address=address,
            province=tenant.province or "DKI Jakarta",
            city=tenant.city or "Jakarta Selatan",
            status=VenueStatus.APPROVED,
            decided_at=utcnow(),
        )
        db.session.add(venue)
    if not venue.opening_hours:
        venue.opening_hours = HOURS
    venue.stations = max(venue.stations or 1, stations)
    db.session.flush()
    return venue


def _product(name: str) -> Product:
    return db.session.scalar(visible_products().where(Product.name == name))


def _demo_campaign(tenant, *, venue, product, slug, name, audience, walk_ins, lots):
    if db.session.scalar(sa.select(Campaign.id).where(Campaign.slug == slug)):
        return
    today = dt.datetime.now(ZoneInfo(venue.timezone)).date()
    for batch, doses, months in lots:
        receive_lot(
            venue.id, product.id, batch, today + dt.timedelta(days=30 * months), doses=doses
        )
    campaign = create_campaign(
        name=name,
        slug=slug,
        audience=audience,
        product_id=product.id,
        starts_on=today,
        ends_on=today + dt.timedelta(days=13),
        venue_ids=[venue.id],
        doses_offered=[1, 2],
        slot_minutes=30,
        walk_ins_per_day=walk_ins,
    )
    generate_slots(campaign)
    publish_campaign(campaign)


def seed_ledger_demo(tenants: dict[str, Tenant]) -> None:
    """demo-clinic: an approved venue, Pfizer lots, a published public campaign with
    slots over 14 days; demo-company: a venue and an employee campaign (roster later)."""
    if clinic := tenants.get("demo-clinic"):
        with tenant_context(clinic):
            venue = _venue(clinic, "Klinik Sehat Sentosa - Kebayoran", "Jl. Melawai 10", 3)
            _demo_campaign(
                clinic,
                venue=venue,
                product=_product("Pfizer-BioNTech"),
                slug="vaksin-umum",
                name="Vaksinasi Umum COVID-19",
                audience=Audience.PUBLIC,
                walk_ins=10,
                lots=[("FK8891", 360, 4), ("FL0023", 120, 2)],
            )
    if company := tenants.get("demo-company"):
        with tenant_context(company):
            venue = _venue(company, "PT Maju Bersama - Kantor Pusat", "Jl. Sudirman 45", 2)
            _demo_campaign(
                company,
                venue=venue,
                product=_product("Sinopharm"),
                slug="gotong-royong",
                name="Vaksinasi Gotong Royong Karyawan",
                audience=Audience.EMPLOYEES,
                walk_ins=0,
                lots=[("SP2107A", 400, 6)],
            )
    db.session.flush()


DEMO_EXTENSIONS.append(seed_ledger_demo)
