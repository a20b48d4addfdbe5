"""Reviewers see doses across tenants as counts only, never personal data."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import PlatformRole
from core.models import Role
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from tenants.booking.models import Administration
from tenants.reporting.review import DoseCount
from tenants.reporting.review import dose_counts
from tests.tenants.reporting.support import SITI_NIK
from tests.tenants.reporting.support import dataset_for

DAY_ONE = dt.date(2030, 1, 7)


@pytest.fixture
def two_tenants(app, create_tenant, create_user):
    tenants = []
    for _ in range(2):
        tenant = create_tenant()
        dataset_for(tenant, create_user(name="Dr. Vaksin", tenant=tenant, role=Role.ADMIN))
        tenants.append(tenant)
    return tenants


def test_reviewers_see_counts_across_tenants_and_no_personal_data(
    two_tenants, client, login, create_user
):
    login(client, create_user(platform_role=PlatformRole.REVIEWER))
    page = client.get("/review/stats?from=2030-01-07&to=2030-01-11")
    assert page.status_code == 200
    html = page.data.decode()
    # Siti's first dose in each tenant (the voided walk-in dose does not count)
    assert '<th scope="row">DKI Jakarta</th><td class="num">2</td>' in html
    for personal in (SITI_NIK, SITI_NIK[-4:], "Siti", "Rahayu", "Budi", "Andi", "Wati",
                     "6281234567890", "Dr. Vaksin", "1990-01-01", "Venue 1", "LOT-A"):  # fmt: skip
        assert personal not in html, personal


def test_the_aggregate_is_grouped_by_province_vaccine_dose_and_day(two_tenants):
    with cross_tenant(Scope.REVIEW):
        counts = dose_counts(DAY_ONE, DAY_ONE + dt.timedelta(days=4))
    # each tenant has its own vaccine (ledger_support makes one per world)
    assert sorted(c.doses for c in counts) == [1, 1]
    assert {(c.province, c.dose_number, c.day) for c in counts} == {("DKI Jakarta", 1, DAY_ONE)}
    assert set(DoseCount.__dataclass_fields__) == {
        "province", "vaccine", "dose_number", "day", "doses"
    }  # fmt: skip
    with cross_tenant(Scope.REVIEW):
        assert dose_counts(DAY_ONE + dt.timedelta(days=1), DAY_ONE + dt.timedelta(days=4)) == []


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_database_gives_the_review_scope_counts_and_nothing_else(two_tenants):
    function_columns = db.session.execute(
        sa.text(
            "SELECT array_agg(name ORDER BY ord) FROM ("
            " SELECT unnest(proargnames) AS name, generate_subscripts(proargnames, 1) AS ord"
            " FROM pg_proc WHERE proname = 'review_dose_counts') AS a"
            " WHERE name NOT LIKE 'p\\_%'"
        )
    ).scalar()
    assert function_columns == ["province", "vaccine", "dose_number", "day", "doses"]
    call = sa.text("SELECT count(*) FROM review_dose_counts('2030-01-01', '2030-12-31')")
    with cross_tenant(Scope.REVIEW):
        assert db.session.execute(call).scalar() == 2
        # the rows themselves stay closed to the review scope
        assert db.session.scalars(sa.select(Administration)).all() == []
        db.session.rollback()
    with tenant_context(two_tenants[0]):
        assert db.session.execute(call).scalar() == 0  # only the review scope gets counts
        db.session.rollback()
