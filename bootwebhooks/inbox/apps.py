from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "bootwebhooks.inbox"
    label = "bootwebhooks_inbox"
    verbose_name = "Webhook inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bootwebhooks.inbox import checks  # noqa: F401  (registers the system checks)
