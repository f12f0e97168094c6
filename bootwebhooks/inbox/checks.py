"""Start-up checks for the webhook settings.

They run with every management command and, through `raise_on_errors()`, when the WSGI
application loads under gunicorn. An unset secret is an error, never "accept anything".
"""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from bootwebhooks.conf import app_settings


@checks.register(checks.Tags.security)
def check_webhook_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    unreadable = app_settings.problems()
    messages: list[checks.CheckMessage] = [
        checks.Error(
            reason,
            hint="See the settings table in docs/INSTALL.md for each setting's type and default.",
            id="inbox.E000",
        )
        for reason in unreadable.values()
    ]
    if unreadable:
        return messages
    secrets = app_settings.STRIPE_WEBHOOK_SECRETS
    if not secrets:
        messages.append(
            checks.Error(
                "STRIPE_WEBHOOK_SECRETS is not set: every webhook would be refused.",
                hint="Set it to the endpoint's signing secret (whsec_...) from the Stripe "
                "dashboard; during a roll give both, comma-separated. `make run` sets a demo one.",
                id="inbox.E001",
            )
        )
    messages.extend(
        checks.Warning(
            f"STRIPE_WEBHOOK_SECRETS item {position} does not look like a signing secret.",
            hint="Endpoint signing secrets start with whsec_; an API key (sk_...) is not one.",
            id="inbox.W002",
        )
        for position, secret in enumerate(secrets, start=1)
        if not secret.startswith("whsec_")
    )
    if app_settings.STRIPE_WEBHOOK_TOLERANCE <= 0:
        messages.append(
            checks.Error(
                "STRIPE_WEBHOOK_TOLERANCE must be a positive number of seconds.",
                hint="Stripe's libraries use 300; without an age check a captured request "
                "could be replayed forever.",
                id="inbox.E003",
            )
        )
    if app_settings.WEBHOOK_PROCESSING not in ("inline", "queued"):
        messages.append(
            checks.Error(
                f"WEBHOOK_PROCESSING is {app_settings.WEBHOOK_PROCESSING!r}.",
                hint="Use inline (the default) or queued.",
                id="inbox.E005",
            )
        )
    if app_settings.WEBHOOK_MAX_BODY_BYTES <= 0:
        messages.append(
            checks.Error(
                "WEBHOOK_MAX_BODY_BYTES must be positive.",
                hint="The default is 1048576 (1 MiB).",
                id="inbox.E004",
            )
        )
    return messages


def raise_on_errors() -> None:
    errors = [m for m in check_webhook_settings() if m.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{e.id}: {e.msg} Hint: {e.hint}" for e in errors))
