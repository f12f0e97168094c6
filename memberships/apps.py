from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "bootwebhooks.memberships"
    label = "bootwebhooks_memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bootwebhooks.memberships import handlers  # noqa: F401  (registers the handlers)
