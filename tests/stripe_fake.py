"""A loopback fake of the few Stripe API endpoints Sentra uses, plus webhook signing.

The real ``stripe`` library talks to it over HTTP (``STRIPE_API_BASE``), so requests
are encoded, sent and parsed exactly as against Stripe. It keeps what it created,
replays idempotent POSTs like Stripe (same key, same response) and records every
request for assertions. Subscriptions are set by the test (``fake.subscriptions``):
they are what ``GET /v1/subscriptions/<id>`` answers, i.e. Stripe's current truth.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl
from urllib.parse import urlparse


@dataclass
class Recorded:
    method: str
    path: str
    params: dict
    headers: dict


@dataclass
class StripeFake:
    """State of the fake Stripe; ``url`` is its API base once started."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    customers: dict[str, dict] = field(default_factory=dict)
    checkout_sessions: dict[str, dict] = field(default_factory=dict)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    idempotent: dict[str, tuple[int, dict]] = field(default_factory=dict)
    #: answer every request with this status (e.g. 500) to test failures
    fail_with: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self._ids):06d}"

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        with self.lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    # --- what the endpoints answer ---

    def handle(self, method: str, path: str, params: dict, headers: dict) -> tuple[int, dict]:
        with self.lock:
            self.requests.append(Recorded(method, path, params, headers))
            if self.fail_with:
                return self.fail_with, _error("api_error", "fake failure")
            key = headers.get("idempotency-key")
            if method == "POST" and key and key in self.idempotent:
                return self.idempotent[key]
            result = self._route(method, path, params)
            if method == "POST" and key:
                self.idempotent[key] = result
            return result

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/customers":
            customer = {
                "id": self.new_id("cus"),
                "object": "customer",
                "name": params.get("name"),
                "email": params.get("email"),
                "metadata": _nested(params, "metadata"),
            }
            self.customers[customer["id"]] = customer
            return 200, customer
        if method == "POST" and path == "/v1/checkout/sessions":
            if params.get("customer") not in self.customers:
                return 400, _error("invalid_request_error", "No such customer")
            sid = self.new_id("cs")
            session = {
                "id": sid,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "customer": params.get("customer"),
                "client_reference_id": params.get("client_reference_id"),
                "url": f"https://checkout.stripe.test/c/pay/{sid}",
                "params": params,
            }
            self.checkout_sessions[sid] = session
            return 200, session
        if method == "POST" and path == "/v1/billing_portal/sessions":
            if params.get("customer") not in self.customers:
                return 400, _error("invalid_request_error", "No such customer")
            sid = self.new_id("bps")
            return 200, {
                "id": sid,
                "object": "billing_portal.session",
                "customer": params["customer"],
                "return_url": params.get("return_url"),
                "url": f"https://billing.stripe.test/p/session/{sid}",
            }
        if method == "GET" and path.startswith("/v1/subscriptions/"):
            sub = self.subscriptions.get(path.rsplit("/", 1)[1])
            if sub is None:
                return 404, _error("invalid_request_error", "No such subscription")
            return 200, sub
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({path})")


def _error(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message}}


def _nested(params: dict, prefix: str) -> dict:
    """``metadata[tenant_id]=x`` → ``{"tenant_id": "x"}`` (one level, as used here)."""
    start = f"{prefix}["
    return {k[len(start) : -1]: v for k, v in params.items() if k.startswith(start)}


def start_fake() -> tuple[StripeFake, ThreadingHTTPServer]:
    """Serve a new fake on 127.0.0.1 on a free port, in a daemon thread."""
    fake = StripeFake()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parsed = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else parsed.query
            params = dict(parse_qsl(body, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = fake.handle(self.command, parsed.path, params, headers)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{fake.new_id('r')}")
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format, *args):  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header, computed as Stripe does (HMAC-SHA256 of "t.body")."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event(event_id: str, event_type: str, obj: dict, created: int | None = None) -> dict:
    """A Stripe event envelope around ``obj``."""
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "api_version": "2026-10-28.endive",
        "created": created or int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def subscription(
    sub_id: str,
    customer: str,
    price: str,
    status: str = "active",
    *,
    created: int | None = None,
    cancel_at_period_end: bool = False,
    tenant_id: str | None = None,
) -> dict:
    """A subscription object shaped as the current API version has it (period on items)."""
    now = int(time.time())
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "created": created or now,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {"tenant_id": tenant_id} if tenant_id else {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "object": "subscription_item",
                    "price": {"id": price, "object": "price"},
                    "current_period_start": now,
                    "current_period_end": now + 30 * 86400,
                }
            ],
        },
    }
