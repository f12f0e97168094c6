"""Start-up checks for the webhook settings and for what the apps need from the host site.

They run with every management command and, through `checked_application()`, when the
WSGI or ASGI application loads. An unset secret is an error, never "accept anything". What
the apps cannot arrange for themselves in a host site (an HTTPS redirect exemption, SQLite's
write mode, a tasks backend for queued mode) is reported with the exact lines to add.
"""

import ipaddress
import re
import sys
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db.models.base import ModelBase
from django.urls import NoReverseMatch, reverse

from bootwebhooks.conf import app_settings

T = TypeVar("T")
QUEUE_SETTINGS = """TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}"""


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
    problem = queue_problem() if app_settings.WEBHOOK_PROCESSING == "queued" else ""
    if problem:
        messages.append(
            checks.Error(
                f"WEBHOOK_PROCESSING is queued, but {problem}.",
                hint="Install the queue extra (pip install 'bootwebhooks[queue]'), add "
                f"'django_tasks' and 'django_tasks_db' to INSTALLED_APPS and set {QUEUE_SETTINGS}; "
                "or leave WEBHOOK_PROCESSING at inline.",
                id="inbox.E006",
            )
        )
    messages.extend(
        checks.Error(
            f"{name} must be zero (no bound) or a positive number of seconds.",
            hint="The defaults are 3 (lock) and 5 (statement); keep them under gunicorn's "
            "--timeout.",
            id="inbox.E009",
        )
        for name in ("WEBHOOK_LOCK_TIMEOUT", "WEBHOOK_STATEMENT_TIMEOUT")
        if getattr(app_settings, name) < 0
    )
    messages.extend(
        checks.Error(
            f"METRICS_ALLOWED_NETWORKS item {network!r} is not a network.",
            hint="Give networks in CIDR form, e.g. 10.0.0.0/8,127.0.0.1/32.",
            id="inbox.E010",
        )
        for network in app_settings.METRICS_ALLOWED_NETWORKS
        if not _is_network(network)
    )
    return messages


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        return False
    return True


def queue_problem() -> str:
    """Why queued mode cannot work in this site, or "" when it can: the events must go to
    django-tasks-db's database queue, which `run_webhook_worker` drains. (django-tasks' own
    default backend runs a task on the spot, inside the webhook's transaction.)"""
    try:
        from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
        from django_tasks_db import DatabaseBackend
    except ImportError:
        return "django-tasks and django-tasks-db are not installed"
    for app in ("django_tasks", "django_tasks_db"):
        if not apps.is_installed(app):
            return f"{app!r} is not in INSTALLED_APPS"
    try:
        backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    except Exception as exc:  # an unknown backend path, bad options: the backend's own words
        return f"the default tasks backend cannot be loaded ({exc})"
    if not isinstance(backend, DatabaseBackend):
        return f"the default tasks backend is {type(backend).__name__}, not a database queue"
    return ""


@checks.register(checks.Tags.security, checks.Tags.urls)
def check_webhook_not_redirected(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Stripe counts a 3xx as a failed delivery: SECURE_SSL_REDIRECT must spare the webhook."""
    middleware = "django.middleware.security.SecurityMiddleware"
    if not (getattr(settings, "SECURE_SSL_REDIRECT", False) and middleware in settings.MIDDLEWARE):
        return []
    try:
        path = reverse("bootwebhooks_inbox:stripe-webhook").lstrip("/")
    except NoReverseMatch:
        return []  # not mounted (yet): nothing is redirected
    exempt = getattr(settings, "SECURE_REDIRECT_EXEMPT", [])
    # SecurityMiddleware's own test: re.search on the path without its leading slash.
    if any(re.search(pattern, path) for pattern in exempt):
        return []
    pattern = "r" + repr(f"^{re.escape(path.rstrip('/'))}/?$")
    return [
        checks.Error(
            f"SECURE_SSL_REDIRECT redirects the Stripe webhook (/{path}) to https: Stripe "
            "counts the 301 as a failed delivery.",
            hint=f"Add {pattern} to SECURE_REDIRECT_EXEMPT (Stripe posts to the https URL "
            "you give it; the redirect only hits a proxy that forwards plain http).",
            id="inbox.E007",
        )
    ]


# Not tagged `database`: Django runs those only when asked to (check --database); this one
# reads settings only, so `check` and `runserver` report it too.
@checks.register(checks.Tags.compatibility)
def check_sqlite_write_mode(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return sqlite_write_mode(settings.DATABASES)


def sqlite_write_mode(databases: dict[str, dict]) -> list[checks.CheckMessage]:
    """SQLite has no row locks: dispatch relies on BEGIN IMMEDIATE taking the write lock at
    the start of each transaction, or concurrent duplicates fail with "database is locked"."""
    return [
        checks.Warning(
            f"DATABASES[{alias!r}] is SQLite without transaction_mode IMMEDIATE: concurrent "
            'deliveries of one event answer 503 ("database is locked") instead of waiting.',
            hint=f"Add to DATABASES[{alias!r}]: "
            '"OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20}',
            id="inbox.W008",
        )
        for alias, config in databases.items()
        if config.get("ENGINE") == "django.db.backends.sqlite3"
        and str(config.get("OPTIONS", {}).get("transaction_mode", "")).upper() != "IMMEDIATE"
    ]


# gunicorn's arbiter stops when a worker exits with this status while booting (its
# WORKER_BOOT_ERROR), instead of forking a replacement that would fail the same way.
WORKER_BOOT_ERROR = 3


def raise_on_errors(
    messages: Iterable[checks.CheckMessage] | None = None, fail_level: int = checks.ERROR
) -> None:
    """Raise ImproperlyConfigured, in one line, for the serious messages that are not
    silenced; by default those of the webhook settings' checks."""
    if messages is None:
        messages = check_webhook_settings()
    errors = [m for m in messages if m.is_serious(fail_level) and not m.is_silenced()]
    if errors:
        raise ImproperlyConfigured("; ".join(_one_line(e) for e in errors))


def _one_line(message: checks.CheckMessage) -> str:
    where = message.obj
    if isinstance(where, ModelBase):
        where = where._meta.label  # as Django's own report names a model
    text = ": ".join(str(part) for part in (message.id, where, message.msg) if part is not None)
    if message.hint:
        text += f" (hint: {message.hint})"
    return " ".join(text.split())


def configuration_error(exc: ImproperlyConfigured) -> str:
    """The one line a process that cannot start prints."""
    return "configuration error: " + " ".join(str(exc).split())


def database_error(exc: Exception) -> str:
    """The one line a command that met a database error prints (psycopg's and SQLite's
    messages name the server, or the file, and what went wrong)."""
    return f"database error: {type(exc).__name__}: " + " ".join(str(exc).split())


def checked_application(load: Callable[[], T]) -> T:
    """`load()` (Django's get_wsgi_application or get_asgi_application), then the webhook
    settings' checks, which no application server runs. A configuration error from either
    prints one line on stderr and exits the process with status 3: gunicorn then stops
    instead of booting worker after worker, with or without --preload."""
    try:
        application = load()
        raise_on_errors()
    except ImproperlyConfigured as exc:
        print(configuration_error(exc), file=sys.stderr, flush=True)
        sys.exit(WORKER_BOOT_ERROR)
    return application
