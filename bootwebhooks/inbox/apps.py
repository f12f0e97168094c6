from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "bootwebhooks.inbox"
    label = "bootwebhooks_inbox"
    verbose_name = "Webhook inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The overview panel on the admin index, in any site, without copying a template: it
        # extends "admin/index.html", so a site's own index template still applies, and a site
        # that set its own index_template keeps it (and may include the panel from there).
        from django.apps import apps

        from bootwebhooks.inbox import checks  # noqa: F401  (registers the system checks)

        if apps.is_installed("django.contrib.admin"):
            from django.contrib import admin

            if admin.site.index_template is None:
                admin.site.index_template = "admin/bootwebhooks_inbox/index.html"
