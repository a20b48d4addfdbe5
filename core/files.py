"""Downloads from the local-disk storage backend, by signed expiring link.

:meth:`core.storage.LocalStorage.url` signs the key, its disposition and an expiry
time with the app's secret; this route checks the signature and the expiry and
streams the file. The token is the permission (as a presigned S3 URL is), so the
route needs no session. A forged or altered token and a missing file answer 404, an
expired link 403; never a stack trace. With the S3 backend links point at S3 and
this route serves nothing.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import abort
from flask import send_file
from itsdangerous import BadSignature

from core.extensions import limiter
from core.storage import LinkExpired
from core.storage import LocalStorage
from core.storage import content_disposition
from core.storage import get_storage

log = logging.getLogger(__name__)

bp = Blueprint("files", __name__)


@bp.route("/files/<token>")
@limiter.exempt
def download(token: str):
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        abort(404)
    try:
        grant = storage.resolve_token(token)
    except LinkExpired:
        abort(403, description="This download link has expired. Ask for a new one.")
    except (BadSignature, ValueError):
        log.warning("download refused: invalid token")
        abort(404)
    key = grant["k"]
    try:
        path = storage._path(key)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    inline = bool(grant.get("i"))
    response = send_file(
        path,
        mimetype=grant.get("t") or storage.content_type(key),
        conditional=True,
        max_age=0,
        etag=True,
    )
    response.headers["Content-Disposition"] = content_disposition(grant.get("f"), inline=inline)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    # Even an inline file is no page of this site: no scripts, no same-origin access.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
    )
    return response
