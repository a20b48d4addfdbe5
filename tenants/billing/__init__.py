"""Billing: plans, the tenant's Stripe subscription, usage against limits, standing.

Stripe is reached only through :mod:`tenants.billing.gateway`. Billing is off when no
``STRIPE_SECRET_KEY`` is set: every tenant is then on an unlimited trial.
"""
