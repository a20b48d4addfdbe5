"""/api/v1/campaigns/<id>/roster: bulk upsert with a result per row, scopes, the list
with its cursor, and another tenant's campaign answering 404."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from core.extensions import db
from core.tenancy import tenant_context
from tenants.roster.models import RosterEntry
from tests.api_support import bearer
from tests.api_support import issue_key
from tests.tenants.roster.support import NIK_MAN
from tests.tenants.roster.support import employee_world


def _url(world) -> str:
    return f"/api/v1/campaigns/{world.campaign_id}/roster"


def test_bulk_upsert_reports_each_row_and_updates_by_employee_number(app, client):
    tenant, world = employee_world()
    token = issue_key(tenant, scopes=["read", "roster"])
    rows = [
        {"employee_number": f"E{i:04d}", "full_name": f"Karyawan {i}",
         "date_of_birth": "1990-05-17", "email": f"k{i}@pt.example", "dependants_allowed": i % 3}
        for i in range(1500)
    ]  # fmt: skip
    rows += [
        {"employee_number": "X1", "full_name": "Bad Nik", "nik": "12345"},
        {"employee_number": "X2", "full_name": "No Proof"},
        {"employee_number": "E0001", "full_name": "Twice", "date_of_birth": "1990-05-17"},
        {"employee_number": "X3", "full_name": "Nul\x00", "date_of_birth": "1990-05-17"},
        {"employee_number": "X4", "full_name": "Minus", "nik": NIK_MAN, "dependants_allowed": -2},
    ]
    response = client.post(
        _url(world), json={"rows": rows}, headers=bearer(token, **{"Accept-Language": "en"})
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["counts"] == {"accepted": 1500, "updated": 0, "unchanged": 0, "refused": 5}
    results = body["rows"]
    assert [r["index"] for r in results] == list(range(len(rows)))
    refused = {r["employee_number"]: r for r in results if r["status"] == "refused"}
    assert set(refused) == {"X1", "X2", "E0001", "X3", "X4"}
    assert all(r["reasons"] for r in refused.values())
    assert refused["E0001"]["index"] == 1502  # the repeat, not the first

    rows[7]["full_name"] = "Renamed"
    again = client.post(_url(world), json={"rows": rows[:1500]}, headers=bearer(token))
    assert again.json["counts"] == {"accepted": 0, "updated": 1, "unchanged": 1499, "refused": 0}
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry)) == 1500
        renamed = db.session.scalar(
            sa.select(RosterEntry.full_name).where(RosterEntry.employee_number == "E0007")
        )
        assert renamed == "Renamed"
        db.session.rollback()


def test_list_walks_the_roster_with_a_cursor(app, client):
    tenant, world = employee_world()
    token = issue_key(tenant, scopes=["read", "roster"])
    rows = [{"employee_number": f"E{i}", "full_name": f"K {i}", "nik": NIK_MAN} for i in range(5)]
    assert client.post(_url(world), json={"rows": rows}, headers=bearer(token)).status_code == 200
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(_url(world), query_string=query, headers=bearer(token)).json
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(e["employee_number"] for e in seen) == [f"E{i}" for i in range(5)]
    assert all(e["nik_masked"] == "3171********0001" for e in seen)
    assert NIK_MAN not in str(seen)


def test_scopes_and_tenants(app, client, create_tenant):
    tenant, world = employee_world()
    reader = issue_key(tenant, scopes=["read"])
    body = {"rows": [{"employee_number": "E1", "full_name": "A", "nik": NIK_MAN}]}
    refused = client.post(_url(world), json=body, headers=bearer(reader))
    assert (refused.status_code, refused.json["code"]) == (403, "scope_missing")
    assert client.get(_url(world), headers=bearer(reader)).status_code == 200
    other = issue_key(create_tenant(), scopes=["read", "roster"])
    assert client.post(_url(world), json=body, headers=bearer(other)).status_code == 404
    assert client.get(_url(world), headers=bearer(other)).status_code == 404
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry)) == 0
        db.session.rollback()


_maybe_text = st.none() | st.text(max_size=40)
_row = st.fixed_dictionaries(
    {"employee_number": st.text(min_size=1, max_size=64)},
    optional={
        "full_name": _maybe_text,
        "nik": _maybe_text | st.from_regex(r"3171\d{12}", fullmatch=True),
        "date_of_birth": _maybe_text | st.dates().map(str),
        "email": _maybe_text | st.emails(),
        "dependants_allowed": st.none() | st.integers(-1000, 1000),
    },
)


@pytest.fixture
def roster_api(app):
    tenant, world = employee_world()
    return tenant, world, issue_key(tenant, scopes=["read", "roster"])


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_row, min_size=1, max_size=8))
def test_any_rows_get_a_result_each_and_never_a_server_error(client, roster_api, rows):
    tenant, world, token = roster_api
    response = client.post(_url(world), json={"rows": rows}, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    results = response.json["rows"]
    assert len(results) == len(rows)
    assert all(r["reasons"] for r in results if r["status"] == "refused")
    kept = {r["employee_number"] for r in results if r["status"] != "refused"}
    with tenant_context(tenant):
        stored = set(
            db.session.scalars(
                sa.select(RosterEntry.employee_number).where(RosterEntry.employee_number.in_(kept))
            )
        )
        db.session.rollback()
    assert stored == kept
