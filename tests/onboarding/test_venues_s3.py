"""Venue documents on the S3 backend (moto's S3 server over real HTTP).

Upload through the app, thumbnail job, reviewer's PDF link presigned for five
minutes as an attachment, photos served by the app (the page's CSP allows no other
origin). The database does not matter here: these run once, on SQLite.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import PlatformRole
from core.models import Role
from core.storage import S3Storage
from core.storage import get_storage
from core.tenancy import tenant_context
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import VenueDocument
from tests.onboarding.venue_support import jpeg_bytes
from tests.onboarding.venue_support import make_venue
from tests.onboarding.venue_support import pdf_bytes
from tests.onboarding.venue_support import post_file
from tests.onboarding.venue_support import submit

BUCKET = "sentra-venues-test"


@pytest.fixture
def backend():
    return "sqlite"


@pytest.fixture
def s3(app_config, s3_endpoint):
    app_config.update(STORAGE_URL=f"s3://{BUCKET}", S3_ENDPOINT_URL=s3_endpoint)


@pytest.fixture
def bucket(s3, app):
    storage = get_storage(app)
    assert isinstance(storage, S3Storage)
    storage.client.create_bucket(Bucket=BUCKET)
    yield storage
    for obj in storage.client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        storage.client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    storage.client.delete_bucket(Bucket=BUCKET)


def _fetch(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_documents_on_s3_for_tenant_and_reviewer(
    bucket, app, client, login, create_tenant, create_user
):
    tenant = create_tenant("klinik-s3")
    owner = create_user(tenant=tenant, role=Role.OWNER)
    reviewer = create_user(platform_role=PlatformRole.REVIEWER)
    venue_id = make_venue(tenant, owner)
    login(client, owner)
    url = f"/o/klinik-s3/venues/{venue_id}/documents"
    for kind, data, name in (
        ("photo_entrance", jpeg_bytes(), "door.jpg"),
        ("photo_vaccination_area", jpeg_bytes(color="blue"), "room.jpg"),
        ("permit_letter", pdf_bytes(), "izin lokasi.pdf"),
    ):
        assert post_file(client, url, kind, data, name).status_code == 302
    bad = post_file(client, url, "permit_letter", b"not a pdf at all", "x.pdf")
    assert bad.status_code == 400
    with tenant_context(tenant.id):
        documents = {d.kind: d for d in db.session.scalars(sa.select(VenueDocument))}
    keys = {o["Key"] for o in bucket.client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    # three documents and two thumbnails, nothing of the refused file
    assert keys == {d.storage_key for d in documents.values()} | {
        documents[k].thumbnail_key
        for k in (DocumentKind.PHOTO_ENTRANCE, DocumentKind.PHOTO_VACCINATION_AREA)
    }
    submit(tenant.id, venue_id, owner)

    login(client, reviewer)
    permit = documents[DocumentKind.PERMIT_LETTER]
    response = client.get(f"/review/documents/{tenant.id}/{permit.id}")
    assert response.status_code == 302
    link = response.headers["Location"]
    assert link.startswith(bucket.endpoint_url) and "X-Amz-Expires=300" in link
    status, headers, body = _fetch(link)
    assert status == 200 and body == pdf_bytes()
    assert headers["Content-Disposition"].startswith("attachment")
    assert headers["Content-Type"] == "application/pdf"
    photo = documents[DocumentKind.PHOTO_ENTRANCE]
    thumb = client.get(f"/review/documents/{tenant.id}/{photo.id}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.data == bucket.read(photo.thumbnail_key)
