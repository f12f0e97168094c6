from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "bootwebhooks.memberships"
    label = "bootwebhooks_memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bootwebhooks.memberships import checks, pipeline  # noqa: F401  (checks register)
        from bootwebhooks.memberships.services import refresh_linked
        from bootwebhooks.payments.signals import customer_linked

        pipeline.register()
        customer_linked.connect(refresh_linked, dispatch_uid="bootwebhooks.memberships")
