"""The Stripe API client for commands (backfill, reconcile). Never used on the webhook path."""

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def client() -> stripe.StripeClient:
    if not settings.STRIPE_API_KEY:
        raise ImproperlyConfigured(
            "STRIPE_API_KEY is not set: commands that read Stripe's API need a secret or "
            "restricted key (read access to events, customers and subscriptions)."
        )
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
    )
