"""The Stripe API client for commands (backfill, reconcile). Never used on the webhook path."""

import stripe
from django.core.exceptions import ImproperlyConfigured

from bootwebhooks.conf import app_settings


def client() -> stripe.StripeClient:
    if not app_settings.STRIPE_API_KEY:
        raise ImproperlyConfigured(
            "STRIPE_API_KEY is not set: commands that read Stripe's API need a secret or "
            "restricted key (read access to events, customers and subscriptions)."
        )
    return stripe.StripeClient(
        app_settings.STRIPE_API_KEY,
        base_addresses={"api": app_settings.STRIPE_API_BASE},
        max_network_retries=2,
    )
