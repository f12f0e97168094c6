from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "memberships"
    label = "memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from memberships import handlers  # noqa: F401  (registers the handlers)
