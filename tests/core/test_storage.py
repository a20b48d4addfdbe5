"""Storage: the local-disk backend, and S3 through moto's server over real HTTP.

The contract tests run against both backends. Signed local links are checked for
expiry, tampering and traversal through the real download route; presigned S3 URLs
are fetched with urllib from moto's server on loopback.
"""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeSerializer

from core.app import create_app
from core.extensions import db
from core.storage import LocalStorage
from core.storage import S3Storage
from core.storage import content_disposition
from core.storage import delete_after_commit
from core.storage import get_storage
from core.storage import tenant_key
from core.storage import validate_key

BUCKET = "sentra-test"

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "tenants/../../outside",
    "a/./b",
    "a//b",
    "a/b/",
    "tenants/x/.meta",
    "a\\b",
    "a/\x00b",
    "x" * 1025,
]


@pytest.fixture
def backend():
    """Storage needs no PostgreSQL: these tests run once, on SQLite."""
    return "sqlite"


# --- moto's S3 server on loopback -----------------------------------------------------


@pytest.fixture
def s3_app(app_config, s3_endpoint):
    app = create_app(
        {**app_config, "STORAGE_URL": f"s3://{BUCKET}", "S3_ENDPOINT_URL": s3_endpoint}
    )
    storage = get_storage(app)
    storage.client.create_bucket(Bucket=BUCKET)
    yield app
    bucket = storage.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for obj in bucket:
        storage.client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    storage.client.delete_bucket(Bucket=BUCKET)


@pytest.fixture(params=["local", "s3"])
def storage(request, app):
    if request.param == "local":
        return get_storage(app)
    s3_app = request.getfixturevalue("s3_app")
    return get_storage(s3_app)


def fetch(url: str):
    """GET over real HTTP (for presigned S3 URLs): status, headers (case-insensitive), body."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def get_local(client, url: str):
    """Follow a local download URL with the test client (path and query only)."""
    parts = urlsplit(url)
    response = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
    response.get_data()  # buffer the body, then release the open file
    response.close()
    return response


# --- keys -----------------------------------------------------------------------------


def test_tenant_key_prefixes_and_validates():
    tid = uuid.uuid4()
    assert tenant_key(tid, "permits", "a.pdf") == f"tenants/{tid}/permits/a.pdf"
    assert tenant_key(str(tid), "x/y") == f"tenants/{tid}/x/y"
    with pytest.raises(ValueError):
        tenant_key("../other", "x")
    with pytest.raises(ValueError):
        tenant_key(tid)
    for bad in ("", "..", "../x", "a//b", "/abs"):
        with pytest.raises(ValueError):
            tenant_key(tid, bad)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_everywhere(storage, key):
    with pytest.raises(ValueError):
        validate_key(key)
    with pytest.raises(ValueError):
        storage.put(key, b"x", "text/plain")
    for call in (storage.read, storage.exists, storage.delete, storage.url):
        with pytest.raises(ValueError):
            call(key)


# --- the contract, on both backends ---------------------------------------------------


def test_put_read_open_exists_delete(storage):
    key = tenant_key(uuid.uuid4(), "docs", "report.txt")
    assert not storage.exists(key)
    storage.put(key, b"first version", "text/plain")
    assert storage.exists(key)
    assert storage.read(key) == b"first version"
    storage.put(key, io.BytesIO(b"second version"), "text/plain")  # a stream, overwriting
    with storage.open(key) as stream:
        assert stream.read() == b"second version"
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # deleting what is gone is fine
    with pytest.raises(FileNotFoundError):
        storage.read(key)
    with pytest.raises(FileNotFoundError):
        storage.open(key)


def test_large_stream_round_trips(storage):
    key = tenant_key(uuid.uuid4(), "big.bin")
    data = bytes(range(256)) * 40_000  # ~10 MB: S3 uploads it in parts
    storage.put(key, io.BytesIO(data), "application/octet-stream")
    assert storage.read(key) == data


def test_content_type_is_checked(storage):
    with pytest.raises(ValueError):
        storage.put("a/b", b"x", "text/html\r\nX-Evil: 1")


# --- S3: presigned URLs over HTTP -----------------------------------------------------


def test_s3_presigned_url_downloads_as_attachment(s3_app):
    storage = get_storage(s3_app)
    assert isinstance(storage, S3Storage)
    key = tenant_key(uuid.uuid4(), "permits", "p.pdf")
    storage.put(key, b"%PDF-1.7 test", "application/pdf")
    # The object is private: without a signature the server refuses it.
    assert fetch(f"{storage.endpoint_url}/{BUCKET}/{key}")[0] == 403
    url = storage.url(key, filename="izin lokasi.pdf", content_type="application/pdf")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    status, headers, body = fetch(url)
    assert status == 200
    assert body == b"%PDF-1.7 test"
    assert headers["Content-Disposition"] == 'attachment; filename="izin lokasi.pdf"'
    assert headers["Content-Type"] == "application/pdf"


def test_s3_presigned_url_inline_and_default_disposition(s3_app):
    storage = get_storage(s3_app)
    key = tenant_key(uuid.uuid4(), "photo.jpg")
    storage.put(key, b"\xff\xd8\xff jpeg", "image/jpeg")
    _, headers, _ = fetch(storage.url(key, inline=True))
    assert headers["Content-Disposition"] == "inline"
    assert headers["Content-Type"] == "image/jpeg"  # the type given to put()
    _, headers, _ = fetch(storage.url(key, expires_in=60))
    assert headers["Content-Disposition"] == "attachment"


def test_s3_bucket_prefix_and_lazy_client(app_config, s3_endpoint, s3_app):
    app = create_app(
        {**app_config, "STORAGE_URL": f"s3://{BUCKET}/env-a", "S3_ENDPOINT_URL": s3_endpoint}
    )
    storage = get_storage(app)
    assert get_storage(app) is storage  # cached per app
    assert storage._client is None  # nothing connects before first use
    storage.put("k/v", b"1", "text/plain")
    keys = [o["Key"] for o in storage.client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["env-a/k/v"]
    assert get_storage(s3_app).exists("k/v") is False


# --- local: atomic writes, the root, signed links -------------------------------------


def test_local_writes_atomically_and_stays_in_its_root(app, tmp_path):
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    storage.put("a/b.txt", b"data", "text/plain")
    assert (storage.root / "a" / "b.txt").read_bytes() == b"data"
    assert list((storage.root / ".tmp").iterdir()) == []  # no temporary file left behind

    class Broken(io.RawIOBase):
        def readinto(self, buffer):
            raise OSError("disk went away")

    with pytest.raises(OSError):
        storage.put("a/b.txt", Broken(), "text/plain")
    assert storage.read("a/b.txt") == b"data"  # the old version is intact
    assert list((storage.root / ".tmp").iterdir()) == []

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (storage.root / "link").symlink_to(outside)
    for call in (storage.read, storage.exists):
        with pytest.raises(ValueError):
            call("link/secret")
    with pytest.raises(ValueError):
        storage.put("link/new", b"x", "text/plain")
    assert not (outside / "new").exists()


def test_local_link_serves_the_file_as_attachment(app, client):
    storage = get_storage(app)
    key = tenant_key(uuid.uuid4(), "permits", "permit.pdf")
    storage.put(key, b"%PDF-1.7 local", "application/pdf")
    with app.test_request_context():
        url = storage.url(key, filename="Izin Lokasi \u2013 Klinik.pdf")
    assert url.startswith("/files/")
    response = get_local(client, url)
    assert response.status_code == 200
    assert response.data == b"%PDF-1.7 local"
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="Izin Lokasi  Klinik.pdf"; '
        "filename*=UTF-8''Izin%20Lokasi%20%E2%80%93%20Klinik.pdf"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "no-store" in response.headers["Cache-Control"]


def test_local_link_inline_and_type_override(app, client):
    storage = get_storage(app)
    storage.put("img/a.png", b"\x89PNG\r\n\x1a\n", "image/png")
    with app.test_request_context():
        inline = storage.url("img/a.png", inline=True)
        as_text = storage.url("img/a.png", content_type="text/plain")
    response = get_local(client, inline)
    assert response.headers["Content-Disposition"] == "inline"
    assert response.mimetype == "image/png"
    response = get_local(client, as_text)
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.mimetype == "text/plain"


def test_local_url_outside_a_request_uses_base_url(app):
    url = get_storage(app).url("a/b")
    assert url.startswith("http://localhost/files/")


def test_local_link_expires(app, client, monkeypatch):
    storage = get_storage(app)
    storage.put("a/b", b"x", "text/plain")
    with app.test_request_context():
        url = storage.url("a/b", expires_in=60)
    assert get_local(client, url).status_code == 200
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    response = get_local(client, url)
    assert response.status_code == 403
    assert b"Traceback" not in response.data
    assert response.data != b"x"


def test_local_link_tampering_is_404(app, client):
    storage = get_storage(app)
    storage.put("a/b", b"x", "text/plain")
    storage.put("a/c", b"other", "text/plain")
    with app.test_request_context():
        url = storage.url("a/b")
    token = url.rsplit("/", 1)[1]
    payload, _, signature = token.rpartition(".")
    # the first character: the last one of base64 text may carry bits decoding drops
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    forged_elsewhere = URLSafeSerializer("another-secret", salt="sentra.files.download").dumps(
        {"k": "a/c", "e": int(time.time()) + 60, "i": False, "f": None, "t": None}
    )
    for bad in (f"{payload}.{flipped}", forged_elsewhere, "garbage", "a" * 500):
        response = client.get(f"/files/{bad}")
        assert response.status_code == 404, bad
        assert b"Traceback" not in response.data
        assert b"other" not in response.data


def test_local_link_refuses_traversal_even_when_signed(app, client, tmp_path):
    """Defence in depth: a validly signed token for an escaping key still gets nothing."""
    storage = get_storage(app)
    (storage.root.parent / "secret.txt").write_bytes(b"secret")
    signer = URLSafeSerializer(app.config["SECRET_KEY"], salt="sentra.files.download")
    for key in ("../secret.txt", "/etc/passwd", ".meta/x"):
        token = signer.dumps({"k": key, "e": int(time.time()) + 60, "i": False})
        response = client.get(f"/files/{token}")
        assert response.status_code == 404
        assert b"secret" not in response.data


def test_local_link_to_a_deleted_file_is_404(app, client):
    storage = get_storage(app)
    storage.put("a/b", b"x", "text/plain")
    with app.test_request_context():
        url = storage.url("a/b")
    storage.delete("a/b")
    assert get_local(client, url).status_code == 404


def test_s3_backend_serves_nothing_through_the_local_route(s3_app, app):
    token = URLSafeSerializer(s3_app.config["SECRET_KEY"], salt="sentra.files.download").dumps(
        {"k": "a/b", "e": int(time.time()) + 60, "i": False}
    )
    with s3_app.app_context():
        assert s3_app.test_client().get(f"/files/{token}").status_code == 404


# --- deletion after commit ------------------------------------------------------------


def test_delete_after_commit_waits_for_the_commit(app):
    storage = get_storage(app)
    storage.put("a/keep", b"x", "text/plain")
    storage.put("a/drop", b"x", "text/plain")
    delete_after_commit("a/keep")
    db.session.rollback()
    assert storage.exists("a/keep")
    delete_after_commit("a/drop")
    assert storage.exists("a/drop")
    db.session.commit()
    assert not storage.exists("a/drop")
    with pytest.raises(ValueError):
        delete_after_commit("../x")


def test_content_disposition_cannot_break_the_header():
    value = content_disposition('evil"\r\nSet-Cookie: a=b;.pdf')
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="evil_Set-Cookie: a=b_.pdf"')
    assert content_disposition("../../etc/passwd") == 'attachment; filename="passwd"'
    assert content_disposition(None, inline=True) == "inline"
