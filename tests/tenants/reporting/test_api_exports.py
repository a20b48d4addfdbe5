"""/api/v1/exports: start (Idempotency-Key), poll, download link (audited); scopes;
another tenant's run is 404."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import AuditEntry
from core.tenancy import Scope
from core.tenancy import cross_tenant
from tests.api_support import bearer
from tests.api_support import issue_key
from tests.tenants.ledger_support import make_tenant
from tests.tenants.reporting.support import PERIOD
from tests.tenants.reporting.support import SITI_NIK
from tests.tenants.reporting.support import dataset_for


@pytest.fixture
def tenant(app, create_user):
    tenant = make_tenant()
    dataset_for(tenant, create_user())
    return tenant


BODY = {"exporter": "administered_doses", "format": "csv", "parameters": PERIOD}


def test_start_poll_and_download(client, tenant):
    token = issue_key(tenant, scopes=["read", "reports"])
    headers = bearer(token, **{"Idempotency-Key": "export-1"})
    started = client.post("/api/v1/exports", json=BODY, headers=headers)
    assert started.status_code == 202, started.json
    run = started.json
    assert (
        run["exporter"] == "administered_doses" and run["parameters"]["date_from"] == "2030-01-07"
    )
    again = client.post("/api/v1/exports", json=BODY, headers=headers)  # a retry: same run
    assert again.status_code == 202 and again.json["id"] == run["id"]
    polled = client.get(started.headers["Location"], headers=bearer(token))
    assert polled.status_code == 200
    assert polled.json["status"] == "done" and polled.json["rows_done"] == 1  # ran in-process
    listing = client.get("/api/v1/exports", headers=bearer(token))
    assert [r["id"] for r in listing.json["data"]] == [run["id"]]

    link = client.post(f"/api/v1/exports/{run['id']}/download", headers=bearer(token))
    assert link.status_code == 200 and link.json["url"].startswith("http://localhost/files/")
    file = client.get(link.json["url"])
    body = file.data
    file.close()
    assert list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1][0] == SITI_NIK
    db.session.rollback()
    with cross_tenant(Scope.PLATFORM):
        (entry,) = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "reporting.export.downloaded")
        )
    assert entry.actor_id is None and entry.data["api_key_id"] and entry.tenant_id == tenant.id


def test_a_read_key_polls_but_cannot_start_or_download(client, tenant):
    writer = issue_key(tenant, scopes=["reports"])
    run_id = client.post("/api/v1/exports", json=BODY, headers=bearer(writer)).json["id"]
    reader = bearer(issue_key(tenant, scopes=["read"]))
    assert client.post("/api/v1/exports", json=BODY, headers=reader).status_code == 403
    assert client.post(f"/api/v1/exports/{run_id}/download", headers=reader).status_code == 403
    assert client.get(f"/api/v1/exports/{run_id}", headers=reader).status_code == 200


def test_another_tenants_export_is_404_and_bad_input_is_422(client, tenant):
    run_id = client.post(
        "/api/v1/exports", json=BODY, headers=bearer(issue_key(tenant, scopes=["reports"]))
    ).json["id"]
    other = bearer(issue_key(make_tenant(), scopes=["read", "reports"]))
    assert client.get(f"/api/v1/exports/{run_id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/exports/{run_id}/download", headers=other).status_code == 404
    bad = client.post(
        "/api/v1/exports",
        json={**BODY, "parameters": {"date_from": "2030-02-01", "date_to": "2030-01-01"}},
        headers=other,
    )
    assert bad.status_code == 422 and "date_to" in str(bad.json)
    no_fhir = client.post("/api/v1/exports", json={**BODY, "exporter": "stock_movements",
                                                   "format": "fhir"}, headers=other)  # fmt: skip
    assert no_fhir.status_code == 400 and no_fhir.json["code"] == "format_unavailable"
