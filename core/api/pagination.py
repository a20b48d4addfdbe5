"""Cursor pagination over UUIDv7 ids.

UUIDv7 ids grow with creation time, so ``id`` alone is a stable keyset: rows inserted
while a client walks the list appear at the end, and none is skipped or repeated (an
OFFSET would do both). The cursor is the last id of a page, signed so clients treat it
as opaque and cannot hand-craft one, and bound to the list it came from.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from core.api.errors import ApiError
from core.extensions import db

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass
class Page:
    """One page of a list and the cursor of the next one (None on the last page)."""

    items: list[Any]
    next_cursor: str | None


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="sentra.api.cursor")


def encode_cursor(list_name: str, last_id: uuid.UUID) -> str:
    """An opaque cursor pointing after ``last_id`` in the list ``list_name``."""
    return _serializer().dumps([list_name, last_id.hex])


def decode_cursor(list_name: str, cursor: str) -> uuid.UUID:
    """The id a cursor points after; 400 problem if forged, garbled or from another list."""
    try:
        name, hex_id = _serializer().loads(cursor)
        if name != list_name:
            raise ValueError(name)
        return uuid.UUID(hex=hex_id)
    except (BadSignature, ValueError, TypeError):
        raise ApiError(
            _("The cursor is not valid for this list; start again without one."),
            code="invalid_cursor",
        ) from None


def paginate(
    statement: sa.Select,
    id_column,
    list_name: str,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page:
    """Run ``statement`` one page at a time in ascending ``id_column`` order.

    ``cursor`` and ``limit`` come validated from :class:`PageArgs` (the ``page``
    argument a paginated operation receives).
    """
    limit = max(1, min(limit, MAX_LIMIT))
    if cursor:
        statement = statement.where(id_column > decode_cursor(list_name, cursor))
    rows = list(db.session.scalars(statement.order_by(id_column).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(list_name, rows[-1].id) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)


class PageArgs(Schema):
    """The query parameters of every paginated list."""

    cursor = fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={"description": "The next_cursor of the previous page."},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Rows per page (default {DEFAULT_LIMIT})."},
    )
