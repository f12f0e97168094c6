"""Settings for bootwebhooks, read from the environment (see the table in README.md).

Every setting a newcomer should not need has a working default; the ones production must set
(the webhook secret above all) are enforced by system checks in bootwebhooks/inbox/checks.py.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from bootwebhooks.env import env_bool, env_int, env_list, env_map, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# The default key is only good for a laptop: `check --deploy` flags it (security.W009).
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "django-insecure-bootwebhooks-local-development-only")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ("127.0.0.1", "localhost"))
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from the package, no CDN
    "django_tasks",
    "django_tasks_db",
    "bootwebhooks.inbox",
    # Which steps run for which event type: the table in memberships/pipeline.py.
    "bootwebhooks.payments",
    "bootwebhooks.memberships",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bootwebhooks.urls"
WSGI_APPLICATION = "bootwebhooks.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(url: str) -> dict:
    # Persistent connections: a new PostgreSQL session per request cost more than half of a new
    # event's time and most of a duplicate's (docs/BENCHMARKS.md). Behind PgBouncer in
    # transaction mode, set 0 (docs/OPERATIONS.md).
    config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE takes SQLite's write lock at BEGIN, so two transactions cannot both read an
        # event as pending and then both apply it; SQLite has no row locks to do that for us.
        config["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    else:
        # Off by default: the check is a round trip before each request's first query, about a
        # third more server CPU per duplicate delivery. Without it, after a database restart
        # each worker's first query fails once (a webhook answers 503, Stripe retries) and
        # Django reconnects (docs/OPERATIONS.md).
        config["CONN_HEALTH_CHECKS"] = env_bool("DATABASE_CONN_HEALTH_CHECKS", False)
    return config


DATABASES = {
    "default": _database(env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date format across the admin, the one bootwebhooks.inbox.words writes.
FORMAT_MODULE_PATH = ["bootwebhooks.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "bootwebhooks",
    "DESCRIPTION": "Stripe webhook inbox: the endpoint Stripe posts to, and the operators' API.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema maps the operators' API: for those who may read events.
    "SERVE_PERMISSIONS": ["bootwebhooks.inbox.permissions.CanReadEvents"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}


# --- Stripe -------------------------------------------------------------------------------
# Several secrets may be live at once while one is rolled; a signature matching any is valid.
STRIPE_WEBHOOK_SECRETS = env_list("STRIPE_WEBHOOK_SECRETS")
STRIPE_WEBHOOK_TOLERANCE = env_int("STRIPE_WEBHOOK_TOLERANCE", 300)
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024)
# Never below Django's own default, and never below ours, or request.body would refuse first.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, WEBHOOK_MAX_BODY_BYTES)
# Bounded waits on PostgreSQL (docs/OPERATIONS.md): past them the webhook answers 503.
WEBHOOK_LOCK_TIMEOUT = env_int("WEBHOOK_LOCK_TIMEOUT", 3)
WEBHOOK_STATEMENT_TIMEOUT = env_int("WEBHOOK_STATEMENT_TIMEOUT", 5)
# PREPARE once per kept connection (docs/OPERATIONS.md); already off with DATABASE_CONN_MAX_AGE=0.
WEBHOOK_PREPARED_STATEMENTS = env_bool("WEBHOOK_PREPARED_STATEMENTS", True)
STRIPE_API_KEY = env_str("STRIPE_API_KEY")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")

# --- Memberships (rules: docs/RULES.md) -------------------------------------------------------
# Days of access past the paid period while Stripe retries a failed payment (past_due).
MEMBERSHIP_GRACE_DAYS = env_int("MEMBERSHIP_GRACE_DAYS", 3)
# A full refund takes back the access that payment bought; partial refunds never do.
MEMBERSHIP_REFUND_REVOKES = env_bool("MEMBERSHIP_REFUND_REVOKES", True)
# Which Stripe prices are the membership: price or product id -> plan, then the price's lookup
# key -> plan, as `key=plan` pairs. Plans: monthly, yearly, lifetime. Anything else grants nothing.
PLANS = ("monthly", "yearly", "lifetime")
MEMBERSHIP_PLAN_PRICES = env_map("MEMBERSHIP_PLAN_PRICES", {}, values=PLANS)
MEMBERSHIP_PLAN_LOOKUP_KEYS = env_map(
    "MEMBERSHIP_PLAN_LOOKUP_KEYS",
    {"monthly": "monthly", "yearly": "yearly", "lifetime": "lifetime"},
    values=PLANS,
)
# What a one-off (payment mode) Checkout buys when its metadata names no plan; empty: nothing.
MEMBERSHIP_ONE_OFF_PLAN = env_str("MEMBERSHIP_ONE_OFF_PLAN", "")
if MEMBERSHIP_ONE_OFF_PLAN not in ("", *PLANS):
    raise ImproperlyConfigured("MEMBERSHIP_ONE_OFF_PLAN must be empty, monthly, yearly or lifetime")
# An inquiry (dispute warning_*: no money withdrawn yet) suspends access only if this is on.
MEMBERSHIP_SUSPEND_ON_INQUIRY = env_bool("MEMBERSHIP_SUSPEND_ON_INQUIRY", False)
# When a payer's email finds their user: verified (an address the site verified), any, off.
# The demo (DEBUG) has no verification, so it matches any address.
MEMBERSHIP_MATCH_EMAIL = env_str("MEMBERSHIP_MATCH_EMAIL", "any" if DEBUG else "verified")
MEMBERSHIP_EMAIL_VERIFIED = env_str("MEMBERSHIP_EMAIL_VERIFIED")

# One mode and one account: only live-mode events take effect (test-mode ones with DEBUG on),
# and events of connected accounts only for the accounts listed.
STRIPE_LIVEMODE = env_bool("STRIPE_LIVEMODE", not DEBUG)
STRIPE_CONNECT_ACCOUNTS = env_list("STRIPE_CONNECT_ACCOUNTS")

# --- The Stripe mirror (dj-stripe) ---------------------------------------------------------
# dj-stripe's models mirror Stripe customers and subscriptions for reconcile_memberships and
# for browsing in the admin. Off by default: about 60 tables and minutes of migrations. It is
# synced through the API by commands only, never on the webhook path.
STRIPE_MIRROR = env_bool("STRIPE_MIRROR", False)
if STRIPE_MIRROR:
    INSTALLED_APPS.append("djstripe")
    DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
    DJSTRIPE_USE_NATIVE_JSONFIELD = True
    DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"  # its view is not mounted: ours is
    STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", False)
    STRIPE_TEST_SECRET_KEY = STRIPE_LIVE_SECRET_KEY = env_str("STRIPE_API_KEY")

# --- Processing -----------------------------------------------------------------------------
# inline: answer Stripe after the effects commit. queued: record, enqueue, answer 202, and let
# `manage.py run_webhook_worker` processes do the work (docs/OPERATIONS.md).
WEBHOOK_PROCESSING = env_str("WEBHOOK_PROCESSING", "inline")
TASKS = {"default": {"BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}
WEBHOOK_RETRY_LIMIT = env_int("WEBHOOK_RETRY_LIMIT", 8)  # attempts, the first included
WEBHOOK_RETRY_BASE_DELAY = env_int("WEBHOOK_RETRY_BASE_DELAY", 10)  # seconds
WEBHOOK_RETRY_MAX_DELAY = env_int("WEBHOOK_RETRY_MAX_DELAY", 3600)
# A task running longer than this is taken for dead (a killed worker) and its event requeued.
WEBHOOK_TASK_TIMEOUT = env_int("WEBHOOK_TASK_TIMEOUT", 300)

# --- Operations -----------------------------------------------------------------------------
# /healthz answers 503 once the oldest pending event is older than this (seconds).
HEALTH_MAX_PENDING_AGE = env_int("HEALTH_MAX_PENDING_AGE", 600)
# /metrics: a bearer token if set; otherwise only these client networks may scrape (none
# unless given, loopback under DEBUG), and never through a proxy.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS")

# --- Admin -----------------------------------------------------------------------------------
# A bulk action over more events than this is refused with the command that does it instead.
ADMIN_BULK_LIMIT = env_int("ADMIN_BULK_LIMIT", 500)

# --- Production hardening (`manage.py check --deploy` is clean with DEBUG off) -------------
# Stripe counts a 3xx as a failed delivery: the endpoint is never redirected.
SECURE_REDIRECT_EXEMPT = [r"^webhooks/stripe/?$", r"^healthz$", r"^metrics$"]
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django warns on every 4xx. The webhook's rejections are counted in /metrics and logged a
    # line per reason every 10 s instead (inbox.views.log_rejection); 5xx are still logged.
    "loggers": {"django.request": {"level": "ERROR"}},
}
