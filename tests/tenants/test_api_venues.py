"""/api/v1: venues, tenant isolation, the OpenAPI document and the docs page."""

from __future__ import annotations

import re
import uuid

from openapi_spec_validator import OpenAPIV31SpecValidator

from onboarding.venues.models import VenueStatus
from tests.api_support import bearer
from tests.api_support import issue_key
from tests.api_support import make_venues


def test_list_and_get_venues(client, create_tenant):
    tenant = create_tenant()
    ids = make_venues(tenant, 3)
    approved = make_venues(tenant, 1, status=VenueStatus.APPROVED, name="Klinik Sehat")[0]
    token = issue_key(tenant)

    listing = client.get("/api/v1/venues", headers=bearer(token))
    assert listing.status_code == 200
    assert listing.mimetype == "application/json"
    assert [v["id"] for v in listing.json["data"]] == [str(i) for i in sorted([*ids, approved])]
    assert listing.json["next_cursor"] is None

    only_approved = client.get("/api/v1/venues?status=approved", headers=bearer(token))
    assert [v["id"] for v in only_approved.json["data"]] == [str(approved)]
    bad_status = client.get("/api/v1/venues?status=open", headers=bearer(token))
    assert bad_status.status_code == 422 and "status" in bad_status.json["errors"]

    one = client.get(f"/api/v1/venues/{approved}", headers=bearer(token))
    assert one.status_code == 200
    assert one.json["name"] == "Klinik Sehat"
    assert one.json["status"] == "approved"
    assert one.json["opening_hours"] == {"0": [["08:00", "12:00"]]}


def test_a_key_of_one_tenant_cannot_read_another_tenants_venues(client, create_tenant):
    a, b = create_tenant(), create_tenant()
    make_venues(a, 2)
    b_venue = make_venues(b, 1)[0]
    token_a = issue_key(a)

    stranger = client.get(f"/api/v1/venues/{b_venue}", headers=bearer(token_a))
    unknown = client.get(f"/api/v1/venues/{uuid.uuid4()}", headers=bearer(token_a))
    for response in (stranger, unknown):
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
    # exactly the same answer: a stranger's id says nothing about its existence
    assert stranger.json["title"] == unknown.json["title"]
    listed = client.get("/api/v1/venues", headers=bearer(token_a)).json["data"]
    assert len(listed) == 2 and str(b_venue) not in {v["id"] for v in listed}
    assert client.get(f"/api/v1/venues/{b_venue}", headers=bearer(issue_key(b))).status_code == 200


def test_venues_need_a_key(client, create_tenant):
    venue = make_venues(create_tenant(), 1)[0]
    for url in ("/api/v1/venues", f"/api/v1/venues/{venue}"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
    reports_only = issue_key(create_tenant(), scopes=["reports"])
    assert client.get("/api/v1/venues", headers=bearer(reports_only)).status_code == 403


def test_openapi_json_is_valid_3_1(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"] == "3.1.0"
    assert {"/api/v1/venues", "/api/v1/venues/{venue_id}"} <= set(document["paths"])
    get_venue = document["paths"]["/api/v1/venues/{venue_id}"]["get"]
    assert get_venue["security"] == [{"apiKey": ["read"]}]
    assert "404" in get_venue["responses"]


def test_docs_page_renders_every_operation_with_no_external_resources(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for path in client.get("/api/v1/openapi.json").json["paths"]:
        assert path in html
    assert "Idempotency-Key" in html and "schemathesis run" in html
    # nothing loaded from elsewhere: every src/href is same-origin
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', html):
        assert not re.match(r"^(?:[a-z]+:)?//", url, re.I), url
    assert "<script" not in html
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
