"""The roster's demo data: demo-company's employee campaign gets a few employees.

Imported through ``core.app.MODEL_MODULES`` after ``tenants.booking.cli`` (whose demo
makes the campaign); appends to ``core.cli.DEMO_EXTENSIONS``.
"""

from __future__ import annotations

import click
import sqlalchemy as sa

from core.cli import DEMO_EXTENSIONS
from core.extensions import db
from core.models import Tenant
from core.tenancy import tenant_context
from tenants.campaigns.models import Campaign
from tenants.roster.services import import_roster

DEMO_CAMPAIGN = "gotong-royong"
#: (employee number, name, NIK, date of birth, email, dependants)
DEMO_ROSTER = [
    ("PMB-1001", "Budi Santoso", "", "1990-01-01", "budi@demo-company.example", "2"),
    ("PMB-1002", "Sari Dewi Lestari", "3171015506850002", "", "sari@demo-company.example", "1"),
    ("PMB-1003", "Agus Wijaya", "", "1979-03-04", "", "3"),
    ("PMB-1004", "Rina Marlina", "", "1995-11-20", "rina@demo-company.example", "0"),
    ("PMB-1005", "Dedi Kurniawan", "3174021208880003", "1988-08-12", "", "2"),
]
FIELDS = ("employee_number", "full_name", "nik", "date_of_birth", "email", "dependants_allowed")


def seed_roster_demo(tenants: dict[str, Tenant]) -> None:
    """demo-company's employee campaign: five employees (re-running updates, never
    duplicates)."""
    company = tenants.get("demo-company")
    if company is None:
        return
    with tenant_context(company):
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.slug == DEMO_CAMPAIGN))
        if campaign is None:
            return
        rows = [(n, dict(zip(FIELDS, row, strict=True))) for n, row in enumerate(DEMO_ROSTER, 2)]
        import_roster(campaign, rows)
        db.session.flush()
    number, name, _nik, born, _email, _dependants = DEMO_ROSTER[0]
    click.echo(
        f"Employee campaign: /b/{company.slug}/{DEMO_CAMPAIGN}/proof - prove as {name}: "
        f"employee number {number}, date of birth {born}"
    )


DEMO_EXTENSIONS.append(seed_roster_demo)
