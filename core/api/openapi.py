"""The OpenAPI 3.1 document of an :class:`~core.api.blueprint.ApiBlueprint`.

Generated with apispec's MarshmallowPlugin from the same schemas the routes validate
and serialise with, and from each operation's declared scope, paging and errors.
"""

from __future__ import annotations

import re
from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from markupsafe import Markup
from markupsafe import escape
from marshmallow import Schema
from marshmallow import fields

from core.api.blueprint import ApiBlueprint
from core.api.blueprint import Operation
from core.api.pagination import PageArgs

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "apiKey"

_PARAM = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_SCHEMAS = {
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Machine-readable reason; stable."},
        "request_id": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "For 422: the messages of each invalid field.",
        },
    },
    "required": ["title", "status"],
}

_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}

_STANDARD_ERRORS = {
    401: "No API key, or a key that is invalid or revoked.",
    403: "The key lacks the scope this operation needs.",
    422: "A field is invalid (see `errors`), or an Idempotency-Key was reused.",
    429: "The key's rate limit is exhausted; see Retry-After.",
}


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name.removesuffix("Schema") or name


@cache
def page_schema(item_schema: type[Schema]) -> type[Schema]:
    """The envelope of a paginated list of ``item_schema``: ``{data, next_cursor}``."""
    name = _schema_name(item_schema)
    return Schema.from_dict(
        {
            "data": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(
                required=True,
                allow_none=True,
                metadata={"description": "Pass as ?cursor= for the next page; null at the end."},
            ),
        },
        name=f"{name}PageSchema",
    )


def openapi_path(rule: str) -> str:
    """Flask's ``/venues/<uuid:venue_id>`` as OpenAPI's ``/venues/{venue_id}``."""
    return _PARAM.sub(lambda m: "{" + m.group("name") + "}", rule)


def _path_parameters(rule: str) -> list[dict]:
    return [
        {
            "in": "path",
            "name": m.group("name"),
            "required": True,
            "schema": dict(_CONVERTER_SCHEMAS.get(m.group("converter") or "", {"type": "string"})),
        }
        for m in _PARAM.finditer(rule)
    ]


def _operation_dict(op: Operation) -> dict:
    parameters = _path_parameters(op.rule)
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    if op.paginated:
        parameters.append({"in": "query", "schema": PageArgs})
    if op.method == "POST":
        parameters.append(
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "description": "Retry safely: the same key and body replay the first response.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    success: dict = {"description": "Success."}
    if op.response is not None:
        schema = page_schema(type(op.response)) if op.paginated else op.response
        success["content"] = {"application/json": {"schema": schema}}
    responses: dict = {str(op.status): success}
    errors = dict(_STANDARD_ERRORS)
    if op.paginated:
        errors[400] = "The cursor is not valid for this list."
    if any(p["in"] == "path" for p in parameters):
        errors[404] = "No such object in this tenant."
    if op.method == "POST":
        errors[409] = "A request with this Idempotency-Key is still running."
    errors.update(op.errors)
    for status, description in sorted(errors.items()):
        responses[str(status)] = {"description": description, "content": _PROBLEM_CONTENT}
    responses["default"] = {"$ref": "#/components/responses/Problem"}
    result = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "tags": op.tags,
        "parameters": parameters,
        "responses": responses,
        "security": [{SECURITY_SCHEME: [op.scope.value]}] if op.scope else [],
    }
    if op.description:
        result["description"] = op.description
    if op.body is not None:
        result["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body}},
        }
    return result


def build_openapi(bp: ApiBlueprint, description: str = "") -> dict:
    """The OpenAPI 3.1 document of every operation registered on ``bp``."""
    spec = APISpec(
        title=bp.title,
        version=bp.api_version,
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={"description": description},
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from the console: `Authorization: Bearer sk_…`. "
            "The scopes listed on each operation are the key scopes it needs.",
        },
    )
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    spec.components.response(
        "Problem", {"description": "Any other error.", "content": _PROBLEM_CONTENT}
    )
    prefix = bp.url_prefix or ""
    paths: dict[str, dict] = {}
    for op in bp.operations:
        paths.setdefault(openapi_path(prefix + op.rule), {})[op.method.lower()] = _operation_dict(
            op
        )
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _resolve(spec: dict, node: dict | None) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        section = "responses" if "/responses/" in node["$ref"] else "schemas"
        node = spec["components"][section][name]
    return node or {}


def _type_label(spec: dict, schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "string" if "enum" in schema else "object")
    kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if k != "null"]
    label = " | ".join(kinds) or "null"
    if "array" in kinds and "items" in schema:
        label = f"array of {_type_label(spec, schema['items'])}"
    if fmt := schema.get("format"):
        label += f" ({fmt})"
    if "enum" in schema:
        label += ": " + ", ".join(str(v) for v in schema["enum"] if v is not None)
    if isinstance(kind, list) and "null" in kind:
        label += ", nullable"
    return label


def _fields(spec: dict, schema: dict | None) -> list[dict]:
    schema = _resolve(spec, schema)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": _type_label(spec, prop),
            "required": name in required,
            "description": prop.get("description", ""),
            "read_only": prop.get("readOnly", False),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def describe(spec: dict) -> list[dict]:
    """The document flattened for the HTML docs page: sections by tag, then operations."""
    sections: dict[str, list[dict]] = {}
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            responses = []
            for status, response in op.get("responses", {}).items():
                response = _resolve(spec, response)
                content = response.get("content", {})
                media, schema = next(iter(content.items()), (None, {}))
                responses.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "media": media,
                        "schema": _type_label(spec, schema.get("schema", {})) if media else "",
                    }
                )
            sections.setdefault((op.get("tags") or ["other"])[0], []).append(
                {
                    "id": op.get("operationId"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "scopes": [
                        s for req in op.get("security", []) for v in req.values() for s in v
                    ],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": _type_label(spec, p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": _fields(spec, body.get("schema")) if body else None,
                    "responses": responses,
                }
            )
    schemas = [
        {"name": name, "fields": _fields(spec, schema)}
        for name, schema in spec.get("components", {}).get("schemas", {}).items()
    ]
    return [{"tag": tag, "operations": ops} for tag, ops in sections.items()] + [
        {"tag": "schemas", "operations": [], "schemas": schemas}
    ]


def render_description(text: str) -> Markup:
    """The little Markdown the descriptions use (paragraphs, **bold**, `code`) as HTML.

    Escaped first, so nothing in the text can inject markup.
    """
    paragraphs = []
    for block in filter(None, (b.strip() for b in text.split("\n\n"))):
        html = str(escape(" ".join(block.split())))
        html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
        html = re.sub(r"`(.+?)`", r"<code>\1</code>", html)
        paragraphs.append(f"<p>{html}</p>")
    return Markup("\n".join(paragraphs))  # noqa: S704 - built from escaped text
