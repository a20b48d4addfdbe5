"""seed-demo gives the demo tenants venues, stock and published campaigns with slots."""

from __future__ import annotations

import sqlalchemy as sa

from core.extensions import db
from core.models import Tenant
from core.tenancy import tenant_context
from tenants.booking.recount import recount_stock
from tenants.campaigns.models import Audience
from tenants.campaigns.models import Campaign
from tenants.campaigns.models import CampaignStatus
from tenants.campaigns.models import Slot
from tenants.stock.models import Stock


def test_seed_demo_builds_bookable_campaigns(app, runner):
    result = runner.invoke(args=["sentra", "seed-demo"])
    assert result.exit_code == 0, result.output
    expected = {"demo-clinic": Audience.PUBLIC, "demo-company": Audience.EMPLOYEES}
    for slug, audience in expected.items():
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
        with tenant_context(tenant):
            campaign = db.session.scalar(sa.select(Campaign))
            assert campaign.audience == audience
            assert campaign.status == CampaignStatus.PUBLISHED
            days = {
                s.starts_at.date()
                for s in db.session.scalars(sa.select(Slot).where(Slot.campaign_id == campaign.id))
            }
            assert len(days) >= 10  # Monday to Saturday over 14 days
            assert db.session.scalar(sa.select(Stock.on_hand)) > 0
            assert recount_stock() == []
            db.session.rollback()
