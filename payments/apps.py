from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "bootwebhooks.payments"
    label = "bootwebhooks_payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bootwebhooks.payments import handlers  # noqa: F401  (registers the handlers)
