"""File storage: one interface, a local-disk backend and an S3 backend, chosen by STORAGE_URL.

``file:///dir`` (the embedded default, ``instance/files``) keeps objects on disk and
serves downloads through :mod:`core.files` with signed, expiring links.
``s3://bucket[/prefix]`` keeps them in S3 (or any S3-compatible server named by
``S3_ENDPOINT_URL``) and hands out presigned GET URLs. Credentials come from boto3's
usual chain (``AWS_ACCESS_KEY_ID``… or an instance role), never from settings.

Keys are server-chosen paths such as ``tenants/<tenant_id>/permits/<uuid>``
(:func:`tenant_key`); never a user's file name. Keys are validated: no ``..`` or
``.`` parts, no absolute paths, no empty parts, no part starting with a dot, no
backslashes or control characters. A bad key raises ``ValueError``; a missing
object raises ``FileNotFoundError`` from ``read``/``open``.

Downloads are attachments unless ``inline=True`` (never serve PDFs, HTML or SVG
inline) and always carry ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import abc
import json
import os
import re
import shutil
import tempfile
import time
import unicodedata
import uuid
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlparse

from flask import Flask
from flask import current_app
from flask import has_request_context
from flask import url_for
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

from core.uow import after_commit

MAX_KEY_LENGTH = 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_TOKEN_SALT = "sentra.files.download"

Data = bytes | bytearray | memoryview | BinaryIO


class LinkExpired(Exception):
    """A signed download link was genuine but is past its expiry."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise ``ValueError``."""
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"storage key longer than {MAX_KEY_LENGTH} characters")
    if _BAD_KEY_CHARS.search(key):
        raise ValueError(f"storage key has a control character or backslash: {key!r}")
    if key.startswith("/"):
        raise ValueError(f"storage key must be relative, not {key!r}")
    for part in key.split("/"):
        if not part:
            raise ValueError(f"storage key has an empty part: {key!r}")
        if part in (".", ".."):
            raise ValueError(f"storage key may not contain '.' or '..': {key!r}")
        if part.startswith("."):
            raise ValueError(f"storage key parts may not start with a dot: {key!r}")
    return key


def tenant_key(tenant_id: uuid.UUID | str, *parts: str) -> str:
    """``tenants/<tenant_id>/<parts...>``: the key of a tenant's object (validated)."""
    if not parts:
        raise ValueError("tenant_key needs at least one part after the tenant id")
    tid = uuid.UUID(str(tenant_id))  # refuses anything that is not a tenant id
    for part in parts:
        if not isinstance(part, str) or not part:
            raise ValueError("tenant_key parts must be non-empty strings")
    return validate_key("/".join(("tenants", str(tid), *parts)))


def content_disposition(filename: str | None, *, inline: bool = False) -> str:
    """A Content-Disposition value (RFC 6266): an ASCII fallback plus the UTF-8 name."""
    kind = "inline" if inline else "attachment"
    if not filename:
        return kind
    # Only the last path part, and no characters that could break out of the header.
    name = re.split(r"[\\/]", filename)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip() or "download"
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r'["%;\\]', "_", fallback).strip() or "download"
    if fallback == name:
        return f'{kind}; filename="{name}"'
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _check_content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or not re.fullmatch(
        r"[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+\"-]+)*", content_type
    ):
        raise ValueError(f"invalid content type: {content_type!r}")
    return content_type


class Storage(abc.ABC):
    """The interface both backends implement (see the module docstring)."""

    @abc.abstractmethod
    def put(self, key: str, data: Data, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing what was there)."""

    def read(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A binary stream of the object; FileNotFoundError if there is none."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; nothing happens if it is gone already."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abc.abstractmethod
    def url(
        self,
        key: str,
        *,
        expires_in: int = 300,
        filename: str | None = None,
        content_type: str | None = None,
        inline: bool = False,
    ) -> str:
        """A short-lived link to download the object (attachment unless ``inline``)."""


class LocalStorage(Storage):
    """Objects as files under ``root``; content types in ``root/.meta`` (keys never start
    with a dot, so neither that nor the ``.tmp`` directory can collide with a key)."""

    def __init__(self, root: Path, app: Flask):
        self.root = root
        self.app = app

    # -- paths
    def _path(self, key: str, base: Path | None = None) -> Path:
        validate_key(key)
        base = (base or self.root).resolve()
        path = (base / key).resolve()
        # resolve() follows symlinks: a link inside the root that points out is refused too.
        if not path.is_relative_to(base) or path == base:
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def _meta_path(self, key: str) -> Path:
        return self._path(key, self.root / ".meta")

    def _write_atomic(self, path: Path, data: Data) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, path)  # atomic on one filesystem: readers see old or new
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    # -- the interface
    def put(self, key: str, data: Data, content_type: str) -> None:
        path = self._path(key)
        meta = json.dumps({"content_type": _check_content_type(content_type)}).encode()
        self._write_atomic(self._meta_path(key), meta)
        self._write_atomic(path, data)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path.open("rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def content_type(self, key: str) -> str:
        """The content type given to :meth:`put` (octet-stream if unknown)."""
        try:
            return json.loads(self._meta_path(key).read_bytes())["content_type"]
        except (OSError, ValueError, KeyError):
            return DEFAULT_CONTENT_TYPE

    def url(
        self,
        key: str,
        *,
        expires_in: int = 300,
        filename: str | None = None,
        content_type: str | None = None,
        inline: bool = False,
    ) -> str:
        validate_key(key)
        if content_type is not None:
            _check_content_type(content_type)
        payload = {
            "k": key,
            "e": int(time.time()) + int(expires_in),
            "i": bool(inline),
            "f": filename,
            "t": content_type,
        }
        token = self._serializer().dumps(payload)
        if has_request_context():
            return url_for("files.download", token=token)
        path = self.app.url_map.bind("localhost").build("files.download", {"token": token})
        return self.app.config["BASE_URL"].rstrip("/") + path

    # -- signed links (used by core.files)
    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.app.config["SECRET_KEY"], salt=_TOKEN_SALT)

    def resolve_token(self, token: str) -> dict:
        """The download a token grants. Raises BadSignature (forged, altered) or LinkExpired."""
        payload = self._serializer().loads(token)
        if not isinstance(payload, dict) or not isinstance(payload.get("e"), int):
            raise BadSignature("malformed download token")
        if time.time() > payload["e"]:
            raise LinkExpired(payload["k"])
        validate_key(payload["k"])
        return payload


class S3Storage(Storage):
    """Objects in an S3 bucket (optionally under a prefix); downloads by presigned GET."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._client = None
        self._pid = None

    @property
    def client(self):
        # A forked rq work horse must not reuse the parent's pooled HTTP connections.
        if self._client is None or self._pid != os.getpid():
            import boto3
            from botocore.config import Config

            config = Config(
                signature_version="s3v4",
                retries={"max_attempts": 3, "mode": "standard"},
                # S3-compatible servers (moto, MinIO, Ceph) want path-style addressing.
                s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            )
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, config=config)
            self._pid = os.getpid()
        return self._client

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @staticmethod
    def _missing(exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        return code in ("NoSuchKey", "404", "NotFound")

    def put(self, key: str, data: Data, content_type: str) -> None:
        extra = {"ContentType": _check_content_type(content_type)}
        if isinstance(data, bytes | bytearray | memoryview):
            body = bytes(data)
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, **extra)
        else:  # streams, multipart above 8 MB
            self.client.upload_fileobj(data, self.bucket, self._key(key), ExtraArgs=extra)

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if self._missing(exc):
                raise FileNotFoundError(key) from exc
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._missing(exc):
                return False
            raise
        return True

    def url(
        self,
        key: str,
        *,
        expires_in: int = 300,
        filename: str | None = None,
        content_type: str | None = None,
        inline: bool = False,
    ) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "ResponseContentDisposition": content_disposition(filename, inline=inline),
        }
        if content_type is not None:
            params["ResponseContentType"] = _check_content_type(content_type)
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=int(expires_in)
        )


def create_storage(app: Flask) -> Storage:
    """Build the backend STORAGE_URL names (no network: clients connect on first use)."""
    url = app.config["STORAGE_URL"]
    parsed = urlparse(url)
    if parsed.scheme == "file":
        root = Path(unquote(parsed.netloc + parsed.path))
        if not root.is_absolute():
            raise ValueError(f"STORAGE_URL file:// needs an absolute path, not {url!r}")
        return LocalStorage(root, app)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3Storage(parsed.netloc, unquote(parsed.path), app.config.get("S3_ENDPOINT_URL"))
    raise ValueError(f"STORAGE_URL must be file:///dir or s3://bucket, not {url!r}")


def get_storage(app: Flask | None = None) -> Storage:
    """This app's storage backend (made once per app, kept in ``app.extensions``)."""
    app = app or current_app._get_current_object()
    storage = app.extensions.get("sentra_storage")
    if storage is None:
        storage = app.extensions["sentra_storage"] = create_storage(app)
    return storage


def delete_after_commit(key: str) -> None:
    """Delete ``key`` once the current transaction commits (never if it rolls back)."""
    validate_key(key)
    storage = get_storage()
    after_commit(lambda: storage.delete(key))
