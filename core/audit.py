"""The audit trail: ``log_action(obj, "package.noun.verb", actor, data)``.

Append-only: the application's database role may insert into ``audit_log`` but not
update or delete (see the migrations). Written in the same transaction as the
change it records, so a change is never committed without its line.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import g
from flask import has_request_context
from flask import request

from core.extensions import db
from core.models import AuditEntry
from core.models import User
from core.tenancy import current_tenant_id


def log_action(
    obj: Any,
    action: str,
    actor: User | None,
    data: dict | None = None,
    *,
    tenant_id: uuid.UUID | None = None,
) -> AuditEntry:
    """Record that ``actor`` did ``action`` to ``obj`` (any model with an ``id``, or None).

    The tenant is the object's, else the active tenant context's.
    """
    if action.count(".") < 2:
        raise ValueError(f"audit actions are dotted package.noun.verb, not {action!r}")
    tenant_id = tenant_id or getattr(obj, "tenant_id", None) or current_tenant_id()
    if obj is not None and obj.__class__.__name__ == "Tenant":
        tenant_id = obj.id
    entry = AuditEntry(
        tenant_id=tenant_id,
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=type(obj).__name__ if obj is not None else None,
        object_id=str(obj.id) if getattr(obj, "id", None) is not None else None,
        data=data or {},
    )
    if has_request_context():
        entry.ip = request.remote_addr
        entry.request_id = g.get("request_id")
    db.session.add(entry)
    return entry
