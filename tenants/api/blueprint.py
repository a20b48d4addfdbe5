"""The ``/api/v1`` blueprint. Resource modules import ``api`` and decorate operations."""

from __future__ import annotations

from core.api.blueprint import ApiBlueprint

api = ApiBlueprint(
    "api_v1",
    __name__,
    url_prefix="/api/v1",
    title="Sentra API",
    version="1",
    template_folder="templates",
    cli_group="api",
)

DESCRIPTION = """\
The API of one Sentra tenant: connect HR systems (rosters in) and reporting tools
(bookings and exports out).

**Authentication.** Create a key in the console (API keys), then send
`Authorization: Bearer sk_<prefix>_<secret>`. A key belongs to one tenant and sees
only that tenant's data; another tenant's object answers 404. Each key has scopes:
`read` for every GET, and `bookings`, `roster`, `reports` for the writes of each area.

**Errors** are `application/problem+json` (RFC 9457) with a stable `code`; invalid
fields answer 422 with `errors` per field.

**Lists** are paginated with an opaque cursor: follow `next_cursor` until it is null.

**Retries.** Send an `Idempotency-Key` header (any unique string, e.g. a UUID) with a
POST: the same key and body within 24 hours replay the first response without doing
the work twice; the same key with another body answers 422.

**Rate limits** apply per key; a 429 carries `Retry-After`.
"""
