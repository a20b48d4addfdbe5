"""The one place Sentra talks to Stripe, through the real ``stripe`` library.

A :class:`StripeGateway` holds its own ``stripe.StripeClient`` (no global
``stripe.api_key``), so the API base can point at a loopback fake in tests
(``STRIPE_API_BASE``) and two apps in one process never share keys. Everything it
returns is plain data (ids, URLs, dicts), so services never handle Stripe objects.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from flask import current_app
from flask_babel import gettext as _

from core.errors import DomainError

log = logging.getLogger(__name__)

#: seconds a webhook's signed timestamp may lag behind our clock (replay window)
WEBHOOK_TOLERANCE = 300
#: seconds before an API call to Stripe gives up (it runs inside a request)
API_TIMEOUT = 15

_EXTENSION_KEY = "sentra_billing_gateway"


class BillingUnavailable(DomainError):
    """Stripe could not be reached or refused the call; the person may try again."""

    status = 503
    code = "billing_unavailable"


class SubscriptionNotFound(Exception):
    """Stripe has no such subscription (deleted test data, another account's id)."""


class InvalidWebhook(Exception):
    """The webhook's body or signature does not verify (answer 400)."""


class StripeGateway:
    """Customers, Checkout, the customer portal and subscriptions, via ``StripeClient``."""

    def __init__(
        self, secret_key: str, webhook_secret: str | None, api_base: str | None = None
    ) -> None:
        base = {"api": api_base.rstrip("/")} if api_base else None
        self.webhook_secret = webhook_secret
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses=base,
            # Stripe's own retry (with the same idempotency key) on network errors and 409s.
            max_network_retries=2,
            http_client=stripe.RequestsClient(timeout=API_TIMEOUT),
        )

    def create_customer(self, *, tenant_id: str, name: str, email: str | None, key: str) -> str:
        """Create the tenant's Stripe customer; returns its id (``cus_…``)."""
        params: dict[str, Any] = {"name": name, "metadata": {"tenant_id": tenant_id}}
        if email:
            params["email"] = email
        customer = self._call(self.client.v1.customers.create, params, key)
        return customer.id

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        price_id: str,
        tenant_id: str,
        success_url: str,
        cancel_url: str,
        key: str,
    ) -> str:
        """Start a subscription Checkout; returns the URL to send the owner to."""
        params = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": tenant_id,
            "line_items": [{"price": price_id, "quantity": 1}],
            # Carried on every subscription event, a second way back to the tenant.
            "subscription_data": {"metadata": {"tenant_id": tenant_id}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        session = self._call(self.client.v1.checkout.sessions.create, params, key)
        return session.url

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        """A customer-portal session (payment methods, cancel); returns its URL."""
        params = {"customer": customer_id, "return_url": return_url}
        session = self._call(self.client.v1.billing_portal.sessions.create, params, None)
        return session.url

    def retrieve_subscription(self, subscription_id: str) -> dict:
        """The subscription as Stripe has it now (the truth, whatever the event order)."""
        try:
            return self.client.v1.subscriptions.retrieve(subscription_id).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise SubscriptionNotFound(subscription_id) from exc
            log.warning("stripe subscription retrieve failed", extra={"error": str(exc)})
            raise BillingUnavailable(_("The payment provider could not be reached.")) from exc
        except stripe.StripeError as exc:
            log.warning("stripe subscription retrieve failed", extra={"error": str(exc)})
            raise BillingUnavailable(_("The payment provider could not be reached.")) from exc

    def construct_event(self, payload: bytes, signature: str | None) -> dict:
        """Verify a webhook against the raw body (signature and age) and parse it."""
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE
            )
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise InvalidWebhook(str(exc)) from exc
        return event.to_dict()

    @staticmethod
    def _call(method, params: dict, key: str | None):
        options = {"idempotency_key": key} if key else None
        try:
            return method(params=params, options=options)
        except stripe.StripeError as exc:
            log.warning("stripe call failed", extra={"error": str(exc)})
            raise BillingUnavailable(
                _("The payment provider could not be reached. Please try again.")
            ) from exc


def billing_enabled() -> bool:
    """Billing is on when a Stripe secret key is configured."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def get_gateway() -> StripeGateway:
    """This app's gateway, made on first use (never at import or in create_app)."""
    gateway = current_app.extensions.get(_EXTENSION_KEY)
    if gateway is None:
        config = current_app.config
        gateway = StripeGateway(
            config["STRIPE_SECRET_KEY"],
            config.get("STRIPE_WEBHOOK_SECRET"),
            config.get("STRIPE_API_BASE"),
        )
        current_app.extensions[_EXTENSION_KEY] = gateway
    return gateway
