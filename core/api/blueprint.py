"""``ApiBlueprint``: a Flask blueprint that is a versioned JSON API.

Every route registered with :meth:`ApiBlueprint.operation` gets, in this order:
the per-key rate limit, bearer authentication (the request is scoped to the key's
tenant), the operation's scope check (403), the ``Idempotency-Key`` claim on POSTs,
query and body validation with its marshmallow schemas (422), and serialisation of
the result with the response schema. The same declaration feeds the OpenAPI document
(:mod:`core.api.openapi`), so the document cannot drift from what the routes do.

Feature packages add resources by importing the blueprint and decorating functions::

    @api.operation("/campaigns/<uuid:campaign_id>", scope=ApiScope.READ,
                   response=CampaignSchema(), summary="A campaign", tags=["campaigns"])
    def get_campaign(campaign_id):
        return get_or_404(Campaign, campaign_id)

The function receives ``args`` (validated query) if ``query=`` is given, ``data``
(validated body) if ``body=`` is, and ``page`` (cursor and limit) if ``paginated=True``.
It returns the object (or a :class:`core.api.pagination.Page` when paginated),
optionally with a dict of headers: ``return booking, {"Location": …}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from flask_babel import gettext as _
from marshmallow import EXCLUDE
from marshmallow import Schema
from marshmallow import ValidationError

from core.api import idempotency
from core.api.auth import authenticate
from core.api.auth import check_scope
from core.api.auth import rate_limit_key
from core.api.errors import ApiError
from core.api.errors import Unauthenticated
from core.api.errors import unauthenticated_problem
from core.api.errors import validation_problem
from core.api.models import ApiScope
from core.api.pagination import Page
from core.api.pagination import PageArgs
from core.extensions import csrf
from core.extensions import limiter

DEFAULT_RATE_LIMIT = "600 per minute"
_PAGE_ARGS = PageArgs()


@dataclass
class Operation:
    """One documented route of an API: what it needs, takes and answers."""

    rule: str
    method: str
    endpoint: str
    summary: str
    description: str = ""
    scope: ApiScope | None = ApiScope.READ
    query: Schema | None = None
    body: Schema | None = None
    response: Schema | None = None
    status: int = 200
    paginated: bool = False
    tags: list[str] = field(default_factory=list)
    #: extra documented refusals, e.g. {409: "the slot is full"}
    errors: dict[int, str] = field(default_factory=dict)
    public: bool = False


class ApiBlueprint(Blueprint):
    """A blueprint whose routes are API operations (see the module docstring)."""

    def __init__(self, name: str, import_name: str, *, title: str, version: str, **kwargs):
        super().__init__(name, import_name, **kwargs)
        self.title = title
        self.api_version = version
        self.operations: list[Operation] = []
        # Bearer tokens, no cookies: there is no ambient credential to forge.
        csrf.exempt(self)
        limiter.shared_limit(
            lambda: current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT),
            scope=f"{name}-per-key",
            key_func=rate_limit_key,
        )(self)
        self.before_request(self._authenticate)
        self.after_request(self._complete)
        self.register_error_handler(ValidationError, validation_problem)
        self.register_error_handler(Unauthenticated, unauthenticated_problem)

    # -- request lifecycle -------------------------------------------------------

    @staticmethod
    def _operation() -> Operation | None:
        view = current_app.view_functions.get(request.endpoint)
        return getattr(view, "api_operation", None)

    def _authenticate(self) -> Response | None:
        op = self._operation()
        if op is not None and op.public:
            return None
        key = authenticate()
        if op is not None and op.scope is not None:
            check_scope(op.scope)
        return idempotency.begin(key)

    @staticmethod
    def _complete(response: Response) -> Response:
        return idempotency.complete(response)

    # -- registration ---------------------------------------------------------------

    def operation(
        self,
        rule: str,
        *,
        summary: str,
        method: str = "GET",
        scope: ApiScope | None = ApiScope.READ,
        query: Schema | None = None,
        body: Schema | None = None,
        response: Schema | None = None,
        status: int | None = None,
        paginated: bool = False,
        tags: list[str] | None = None,
        errors: dict[int, str] | None = None,
        description: str | None = None,
    ) -> Callable:
        """Register ``fn`` as an operation of this API (see the module docstring)."""

        def decorator(fn: Callable) -> Callable:
            op = Operation(
                rule=rule,
                method=method.upper(),
                endpoint=fn.__name__,
                summary=summary,
                description=description or (fn.__doc__ or "").strip(),
                scope=ApiScope(scope) if scope else None,
                query=query,
                body=body,
                response=response,
                status=status or (201 if method.upper() == "POST" else 200),
                paginated=paginated,
                tags=tags or [],
                errors=errors or {},
            )

            @functools.wraps(fn)
            def view(**kwargs):
                if op.paginated:
                    kwargs["page"] = _PAGE_ARGS.load(request.args, unknown=EXCLUDE)
                if op.query is not None:
                    kwargs["args"] = op.query.load(request.args, unknown=EXCLUDE)
                if op.body is not None:
                    kwargs["data"] = op.body.load(_json_body())
                return _respond(op, fn(**kwargs))

            view.api_operation = op
            self.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[op.method])
            self.operations.append(op)
            return view

        return decorator

    def public(self, rule: str, *, summary: str, tags: list[str] | None = None) -> Callable:
        """A route without authentication (the OpenAPI document, the docs page)."""

        def decorator(fn: Callable) -> Callable:
            fn.api_operation = Operation(
                rule=rule, method="GET", endpoint=fn.__name__, summary=summary,
                scope=None, tags=tags or [], public=True,
            )  # fmt: skip
            self.add_url_rule(rule, endpoint=fn.__name__, view_func=fn, methods=["GET"])
            return fn

        return decorator


def _json_body() -> object:
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(
            _("Send a JSON body with Content-Type: application/json."), code="invalid_json"
        )
    return data


def _respond(op: Operation, result) -> Response:
    if isinstance(result, Response):
        return result
    headers = {}
    if isinstance(result, tuple):
        result, headers = result
    if op.paginated:
        if not isinstance(result, Page):
            raise TypeError(f"{op.endpoint} is paginated and must return a Page")
        payload = {
            "data": op.response.dump(result.items, many=True),
            "next_cursor": result.next_cursor,
        }
    elif op.response is not None:
        payload = op.response.dump(result)
    else:
        payload = result
    response = jsonify(payload)
    response.status_code = op.status
    response.headers.extend(headers)
    return response
