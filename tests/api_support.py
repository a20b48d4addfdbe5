"""Helpers shared by the API tests: issue keys, build bearer headers, make venues."""

from __future__ import annotations

from core.api.services import create_api_key
from core.extensions import db
from core.tenancy import tenant_context
from onboarding.venues.models import Venue


def issue_key(tenant, scopes=("read",), user=None, name="test key") -> str:
    """Create a key for ``tenant`` (committed) and return its token."""
    with tenant_context(tenant):
        issued = create_api_key(name, list(scopes), user)
        db.session.commit()
    return issued.token


def bearer(token: str, **extra) -> dict:
    return {"Authorization": f"Bearer {token}", **extra}


def make_venues(tenant, count: int, **fields) -> list:
    """``count`` venues of ``tenant`` (committed), returned in creation order."""
    with tenant_context(tenant):
        venues = [
            Venue(
                name=fields.get("name", f"Venue {i}"),
                address="Jl. Sudirman 1",
                province="DKI Jakarta",
                city="Jakarta Selatan",
                opening_hours={"0": [["08:00", "12:00"]]},
                **{k: v for k, v in fields.items() if k != "name"},
            )
            for i in range(count)
        ]
        db.session.add_all(venues)
        db.session.commit()
        ids = [v.id for v in venues]
    return ids
