from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """Facts from Stripe. Its steps (payments.handlers) run where memberships/pipeline.py's
    table puts them; payments registers nothing itself."""

    name = "bootwebhooks.payments"
    label = "bootwebhooks_payments"
    default_auto_field = "django.db.models.BigAutoField"
