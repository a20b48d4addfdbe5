"""The REST API kernel: API keys, bearer authentication, problem documents, cursor
pagination, idempotent POSTs and the OpenAPI document.

Knows nothing of vaccines: the resources themselves live in ``tenants/api/`` and
register on an :class:`core.api.blueprint.ApiBlueprint`.
"""
