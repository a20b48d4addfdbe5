"""Builders for roster tests: an employee campaign (published, with slots and doses) and
roster files in CSV or XLSX."""

from __future__ import annotations

import csv
import datetime as dt
import io

from core.extensions import db
from core.ids import uuid7
from core.tenancy import tenant_context
from tenants.campaigns.models import Audience
from tests.tenants.ledger_support import build_world
from tests.tenants.ledger_support import make_tenant

#: valid NIKs (province 31, DKI Jakarta): a man born 1990-01-01, a woman born 1985-06-15
NIK_MAN = "3171010101900001"
NIK_WOMAN = "3171015506850002"
HEADER_EN = ["Employee number", "Name", "NIK", "Date of birth", "Email", "Dependants"]
HEADER_ID = ["Nomor karyawan", "Nama lengkap", "NIK", "Tanggal lahir", "Email", "Tanggungan"]


def employee_world(**kwargs):
    """A new tenant with a published employee campaign; returns (tenant, world)."""
    tenant = make_tenant()
    with tenant_context(tenant):
        world = build_world(**{"venues": 1, "doses": 50, "days": 1, **kwargs})
        world.campaign.audience = Audience.EMPLOYEES
        db.session.commit()
        # read once in scope: commits expire objects, and outside a tenant context an
        # expired campaign cannot be reloaded
        world.campaign_id, world.campaign_slug = world.campaign.id, world.campaign.slug
        world.tenant_slug = tenant.slug
        world.slot_ids = [s.id for s in world.slots()]
        db.session.rollback()
    return tenant, world


def csv_bytes(rows: list[list], header=HEADER_EN, delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list], header=HEADER_ID) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


BORN = dt.date(1990, 1, 1)


# --- the permission matrix (tests/onboarding/test_permissions.py) ----------------------


def matrix_campaign(w, slug: str = "alpha") -> dict:
    """A published employee campaign of the matrix world's tenant (made once per world)."""
    made = w.__dict__.setdefault("_roster_campaigns", {})
    if slug not in made:
        from tenants.campaigns.models import Campaign
        from tenants.campaigns.models import CampaignStatus
        from tenants.stock.services import create_product

        with tenant_context(w._tenant(slug)):
            product = create_product("Matrix roster vaccine", "Test")
            campaign = Campaign(
                name="Matrix staff",
                slug="matrix-staff",
                audience=Audience.EMPLOYEES,
                product_id=product.id,
                starts_on=dt.date(2030, 1, 7),
                ends_on=dt.date(2030, 1, 7),
                status=CampaignStatus.PUBLISHED,
            )
            db.session.add(campaign)
            db.session.commit()
            made[slug] = campaign.id
    return {"campaign_id": made[slug]}


def matrix_group(w, slug: str = "alpha") -> dict:
    """A fresh priority group of that campaign (a permitted POST may remove it)."""
    from tenants.roster.models import PriorityGroup

    campaign = matrix_campaign(w, slug)
    with tenant_context(w._tenant(slug)):
        group = PriorityGroup(
            campaign_id=campaign["campaign_id"],
            name=f"Group {uuid7().hex[-8:]}",
            declaration="I am.",
        )
        db.session.add(group)
        db.session.commit()
        return {**campaign, "group_id": group.id}


def matrix_public(w) -> dict:
    matrix_campaign(w)
    return {"campaign_slug": "matrix-staff"}
