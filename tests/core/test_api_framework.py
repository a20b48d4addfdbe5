"""The API kernel through a blueprint of its own: scopes, problems, idempotency, pages,
rate limits and the OpenAPI document. (The real /api/v1 resources are tested in
tests/tenants/test_api_*.py.)"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate
from openapi_spec_validator import OpenAPIV31SpecValidator

from core.api.blueprint import ApiBlueprint
from core.api.models import ApiScope
from core.api.models import IdempotencyRecord
from core.api.openapi import build_openapi
from core.api.pagination import paginate
from core.extensions import db
from core.ids import uuid7
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from tests.api_support import bearer
from tests.api_support import issue_key
from tests.api_support import make_venues


class NewVenue(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    stations = fields.Integer(load_default=1, validate=validate.Range(min=1))


class VenueOut(Schema):
    id = fields.UUID()
    name = fields.String()
    stations = fields.Integer()


#: a test API, registered on each test's app; its write needs the bookings scope
test_api = ApiBlueprint("api_test", __name__, url_prefix="/api/test", title="Test", version="0")


@test_api.operation(
    "/venues",
    method="POST",
    summary="Create a venue",
    scope=ApiScope.BOOKINGS,
    body=NewVenue(),
    response=VenueOut(),
    tags=["test"],
)
def create_venue(data: dict):
    venue = Venue(
        name=data["name"],
        stations=data["stations"],
        address="Jl. Test 1",
        province="Bali",
        city="Denpasar",
        opening_hours={},
    )
    db.session.add(venue)
    db.session.flush()
    return venue, {"Location": f"/api/test/venues/{venue.id}"}


@test_api.operation(
    "/venues", summary="List venues", response=VenueOut(), paginated=True, tags=["test"]
)
def list_venues(page: dict):
    return paginate(sa.select(Venue), Venue.id, "test-venues", **page)


@test_api.operation("/other", summary="Another list", response=VenueOut(), paginated=True)
def other_list(page: dict):
    return paginate(sa.select(Venue), Venue.id, "other", **page)


@pytest.fixture
def api_client(app, client):
    app.register_blueprint(test_api)
    return client


def _count_venues(tenant) -> int:
    with tenant_context(tenant):
        return db.session.scalar(sa.select(sa.func.count()).select_from(Venue))


def test_read_scoped_key_cannot_write(api_client, create_tenant):
    tenant = create_tenant()
    token = issue_key(tenant, scopes=["read"])
    response = api_client.post("/api/test/venues", json={"name": "X"}, headers=bearer(token))
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "scope_missing"
    assert response.json["required_scope"] == "bookings"
    assert _count_venues(tenant) == 0
    # a bookings-only key writes, but cannot read
    writer = issue_key(tenant, scopes=["bookings"])
    assert (
        api_client.post("/api/test/venues", json={"name": "X"}, headers=bearer(writer)).status_code
        == 201
    )
    assert api_client.get("/api/test/venues", headers=bearer(writer)).status_code == 403


def test_invalid_fields_are_422_problems_per_field(api_client, create_tenant):
    token = issue_key(create_tenant(), scopes=["bookings"])
    response = api_client.post(
        "/api/test/venues", json={"stations": 0, "colour": "red"}, headers=bearer(token)
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["code"] == "validation_failed"
    assert set(body["errors"]) == {"name", "stations", "colour"}
    not_json = api_client.post(
        "/api/test/venues", data="name=x", headers=bearer(token, **{"Content-Type": "text/plain"})
    )
    assert not_json.status_code == 400 and not_json.json["code"] == "invalid_json"
    a_list = api_client.post("/api/test/venues", json=[1, 2], headers=bearer(token))
    assert a_list.status_code == 422


def _app_with(request, app_config, **settings):
    """An app made with ``settings`` (the fixtures that build it are asked for after)."""
    from tests.conftest import IsolatedClient

    app_config.update(settings)
    app = request.getfixturevalue("app")
    app.register_blueprint(test_api)
    app.test_client_class = IsolatedClient
    return app.test_client(), request.getfixturevalue("create_tenant")


def test_api_needs_no_csrf_token(app_config, request):
    client, create_tenant = _app_with(request, app_config, WTF_CSRF_ENABLED=True)
    client.auto_csrf = False
    token = issue_key(create_tenant(), scopes=["bookings"])
    response = client.post("/api/test/venues", json={"name": "X"}, headers=bearer(token))
    assert response.status_code == 201
    # while the console's forms still need one
    refused = client.post("/o/anything/api-keys/", data={"name": "x", "scopes": ["read"]})
    assert refused.status_code == 400


def test_idempotent_post_replays_the_first_response(api_client, create_tenant):
    tenant = create_tenant()
    token = issue_key(tenant, scopes=["bookings"])
    headers = bearer(token, **{"Idempotency-Key": "order-42"})
    first = api_client.post("/api/test/venues", json={"name": "A", "stations": 2}, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # the same body with its keys in another order is the same request
    again = api_client.post("/api/test/venues", json={"stations": 2, "name": "A"}, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.mimetype == "application/json"
    assert _count_venues(tenant) == 1

    mismatch = api_client.post("/api/test/venues", json={"name": "B"}, headers=headers)
    assert mismatch.status_code == 422
    assert mismatch.json["code"] == "idempotency_key_reused"
    assert _count_venues(tenant) == 1

    # without a key, or with another, the work is done again
    api_client.post("/api/test/venues", json={"name": "A", "stations": 2}, headers=bearer(token))
    api_client.post(
        "/api/test/venues",
        json={"name": "A", "stations": 2},
        headers=bearer(token, **{"Idempotency-Key": "order-43"}),
    )
    assert _count_venues(tenant) == 3


def test_idempotency_keys_belong_to_one_tenant_and_failures_store_nothing(
    api_client, create_tenant
):
    a, b = create_tenant(), create_tenant()
    token_a, token_b = issue_key(a, scopes=["bookings"]), issue_key(b, scopes=["bookings"])
    key = {"Idempotency-Key": "same-key"}
    failed = api_client.post("/api/test/venues", json={"name": ""}, headers=bearer(token_a, **key))
    assert failed.status_code == 422
    ok_a = api_client.post("/api/test/venues", json={"name": "A"}, headers=bearer(token_a, **key))
    assert ok_a.status_code == 201 and "Idempotent-Replayed" not in ok_a.headers
    ok_b = api_client.post("/api/test/venues", json={"name": "A"}, headers=bearer(token_b, **key))
    assert ok_b.status_code == 201 and "Idempotent-Replayed" not in ok_b.headers
    assert ok_a.json["id"] != ok_b.json["id"]
    assert _count_venues(a) == _count_venues(b) == 1
    with tenant_context(a):
        record = db.session.scalar(sa.select(IdempotencyRecord))
        assert record.response_status == 201
    too_long = api_client.post(
        "/api/test/venues",
        json={"name": "A"},
        headers=bearer(token_a, **{"Idempotency-Key": "k" * 256}),
    )
    assert too_long.status_code == 400 and too_long.json["code"] == "idempotency_key_invalid"


def test_pagination_walks_every_row_once_in_order(api_client, create_tenant):
    a, b = create_tenant(), create_tenant()
    ids = make_venues(a, 7)
    make_venues(b, 3)
    token = issue_key(a)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/test/venues?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api_client.get(url, headers=bearer(token))
        assert page.status_code == 200
        seen += [row["id"] for row in page.json["data"]]
        pages += 1
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
        if pages == 1:  # a row created mid-walk lands at the end, never skipped
            ids += make_venues(a, 1)
    assert pages == 3
    assert seen == [str(i) for i in sorted(ids)]
    assert len(set(seen)) == 8


def test_cursors_cannot_be_forged_or_reused_across_lists(api_client, create_tenant):
    tenant = create_tenant()
    make_venues(tenant, 3)
    token = issue_key(tenant)
    cursor = api_client.get("/api/test/venues?limit=1", headers=bearer(token)).json["next_cursor"]
    assert cursor
    other = api_client.get(f"/api/test/other?cursor={cursor}", headers=bearer(token))
    assert other.status_code == 400 and other.json["code"] == "invalid_cursor"
    forged = api_client.get(f"/api/test/venues?cursor={cursor[:-2]}xx", headers=bearer(token))
    assert forged.status_code == 400 and forged.mimetype == "application/problem+json"
    for bad_limit in ("0", "201", "many"):
        response = api_client.get(f"/api/test/venues?limit={bad_limit}", headers=bearer(token))
        assert response.status_code == 422, bad_limit
        assert "limit" in response.json["errors"]


def test_rate_limit_is_per_key_across_operations(app_config, request):
    client, create_tenant = _app_with(
        request, app_config, RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute"
    )
    tenant = create_tenant()
    one, two = issue_key(tenant), issue_key(tenant)
    for url in ("/api/test/venues", "/api/test/other", "/api/test/venues"):
        assert client.get(url, headers=bearer(one)).status_code == 200
    limited = client.get("/api/test/other", headers=bearer(one))
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert "Retry-After" in limited.headers
    # the other key, from the same address, has its own budget
    assert client.get("/api/test/venues", headers=bearer(two)).status_code == 200


def test_openapi_document_is_valid_3_1_and_describes_every_operation(app):
    document = build_openapi(test_api)
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"] == "3.1.0"
    post = document["paths"]["/api/test/venues"]["post"]
    assert post["security"] == [{"apiKey": ["bookings"]}]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewVenue"
    }
    assert {p["name"] for p in post["parameters"]} == {"Idempotency-Key"}
    assert {"201", "401", "403", "409", "422", "429", "default"} <= set(post["responses"])
    listing = document["paths"]["/api/test/venues"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"cursor", "limit"}
    page = document["components"]["schemas"]["VenueOutPage"]
    assert page["properties"]["data"]["items"] == {"$ref": "#/components/schemas/VenueOut"}
    assert set(document["components"]["schemas"]["NewVenue"]["required"]) == {"name"}


def test_unknown_ids_and_methods_are_problems(api_client, create_tenant):
    token = issue_key(create_tenant())
    assert api_client.delete("/api/test/venues", headers=bearer(token)).status_code == 405
    missing = api_client.get(f"/api/test/nothing/{uuid7()}", headers=bearer(token))
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert re.fullmatch(r"[0-9a-f]{16}|[\w-]+", missing.json["request_id"])


def test_expired_idempotency_records_are_purged_across_tenants(api_client, create_tenant):
    import datetime as dt

    from core.api.idempotency import PURGE_JOB
    from core.api.idempotency import purge_idempotency_records
    from core.db import utcnow
    from core.jobs import PERIODIC
    from core.jobs import execute

    a, b = create_tenant().id, create_tenant().id  # ids: the job runner ends the session
    for tenant in (a, b):
        token = issue_key(tenant, scopes=["bookings"])
        for key in ("old", "new"):
            api_client.post(
                "/api/test/venues",
                json={"name": key},
                headers=bearer(token, **{"Idempotency-Key": key}),
            )
    with tenant_context(a):
        assert db.session.scalar(sa.select(sa.func.count(IdempotencyRecord.id))) == 2
    assert PURGE_JOB in PERIODIC
    # nothing is old enough yet
    assert execute(PURGE_JOB.path, None, PURGE_JOB.scope, {}) == 0
    later = utcnow() + dt.timedelta(hours=25)
    assert purge_idempotency_records(now=later) == 4
    db.session.commit()
    for tenant in (a, b):
        with tenant_context(tenant):
            assert db.session.scalar(sa.select(sa.func.count(IdempotencyRecord.id))) == 0


def test_docs_descriptions_render_bold_and_code_but_never_markup():
    from core.api.openapi import render_description

    html = str(render_description("**Keys** go in `Authorization`.\n\n<script>x</script> *"))
    assert html == (
        "<p><strong>Keys</strong> go in <code>Authorization</code>.</p>\n"
        "<p>&lt;script&gt;x&lt;/script&gt; *</p>"
    )
