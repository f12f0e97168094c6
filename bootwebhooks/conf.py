"""Every setting the three apps read, with its default, in one place.

A host site sets only what it changes, in its own settings module, with Python values; the demo
site (bootwebhooks/settings.py) fills a few from the environment. The apps read them here, never
from `django.conf.settings` directly:

    from bootwebhooks.conf import app_settings
    app_settings.MEMBERSHIP_GRACE_DAYS

Values are normalised: a string where a list is expected is a comma-separated list
(`"whsec_abc"` is one secret, never nine characters), `"key=value,..."` where a mapping is
expected. Each is normalised once, and again after Django's `setting_changed` signal
(`override_settings`, pytest-django's `settings` fixture): a duplicate delivery reads seven, and
normalising them cost it more than checking its signature. A value that cannot be normalised
raises ImproperlyConfigured naming the setting; the system checks (bootwebhooks/inbox/checks.py, and
memberships/checks.py for the membership settings) report the same problems at start-up, with
ids and hints.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ImproperlyConfigured(f"{name} must be True or False, got {value!r}")


def as_int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}")


def as_str(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise ImproperlyConfigured(f"{name} must be a string, got {value!r}")


def as_list(name: str, value: Any) -> list[str]:
    """A list or tuple of strings, or one string of comma-separated items."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ImproperlyConfigured(f"{name} must be a list of strings, got {value!r}")


def as_livemode(name: str, value: Any) -> bool:
    """None (the default) follows Django's DEBUG: live events in production, test events on a
    developer's machine."""
    if value is None:
        return not settings.DEBUG
    return as_bool(name, value)


def as_map(name: str, value: Any) -> dict[str, str]:
    """A dict of strings, or one string of comma-separated `key=value` pairs."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = {}
        for item in as_list(name, value):
            key, sep, val = (part.strip() for part in item.partition("="))
            if not (sep and key and val):
                raise ImproperlyConfigured(f"{name} must be key=value pairs, got {item!r}")
            pairs[key] = val
        return pairs
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    raise ImproperlyConfigured(f"{name} must be a dict of strings, got {value!r}")


@dataclass(frozen=True)
class Setting:
    default: Any
    read: Callable[[str, Any], Any]
    meaning: str


DEFAULTS: dict[str, Setting] = {
    # --- the webhook ----------------------------------------------------------------------
    "STRIPE_WEBHOOK_SECRETS": Setting(
        (), as_list, "the endpoint's signing secret(s), whsec_...; two while rolling"
    ),
    "STRIPE_WEBHOOK_TOLERANCE": Setting(
        300, as_int, "seconds a signature's timestamp may be in the past or the future"
    ),
    "WEBHOOK_MAX_BODY_BYTES": Setting(
        1024 * 1024, as_int, "larger bodies get 413 without being read"
    ),
    "WEBHOOK_LOCK_TIMEOUT": Setting(
        3, as_int, "seconds a webhook or worker statement waits for a row lock, then 503"
    ),
    "WEBHOOK_STATEMENT_TIMEOUT": Setting(
        5, as_int, "seconds a webhook or worker statement may run, then 503"
    ),
    "WEBHOOK_PREPARED_STATEMENTS": Setting(
        True,
        as_bool,
        "PostgreSQL plans the statements every event sends once per kept connection "
        "(PREPARE); False behind a pooler in transaction mode that keeps connections",
    ),
    "WEBHOOK_PROCESSING": Setting(
        "inline", as_str, "inline, or queued: answer 202 once stored, process in a worker"
    ),
    # --- queued mode ----------------------------------------------------------------------
    "WEBHOOK_RETRY_LIMIT": Setting(8, as_int, "queued-mode attempts, the first included"),
    "WEBHOOK_RETRY_BASE_DELAY": Setting(10, as_int, "seconds before the first queued retry"),
    "WEBHOOK_RETRY_MAX_DELAY": Setting(3600, as_int, "longest wait between queued retries"),
    "WEBHOOK_TASK_TIMEOUT": Setting(
        300, as_int, "seconds before a running task is taken for dead and requeued"
    ),
    # --- the Stripe API (commands only, never the webhook path) ---------------------------
    "STRIPE_API_KEY": Setting("", as_str, "for the commands that read Stripe's API"),
    "STRIPE_API_BASE": Setting("https://api.stripe.com", as_str, "where stripe-python points"),
    "STRIPE_MIRROR": Setting(False, as_bool, "dj-stripe's models are installed as a mirror"),
    # --- which events take effect (docs/RULES.md) -----------------------------------------
    "STRIPE_LIVEMODE": Setting(
        None,
        as_livemode,
        "True: only live-mode events take effect; False: only test-mode ones "
        "(default: True unless DEBUG)",
    ),
    "STRIPE_CONNECT_ACCOUNTS": Setting(
        (), as_list, "connected accounts (acct_...) whose events take effect; others are ignored"
    ),
    # --- memberships (docs/RULES.md) ------------------------------------------------------
    "MEMBERSHIP_GRACE_DAYS": Setting(
        3, as_int, "days of access past the paid period while Stripe retries a payment"
    ),
    "MEMBERSHIP_REFUND_REVOKES": Setting(
        True, as_bool, "a full refund takes back the access it paid for"
    ),
    "MEMBERSHIP_PLAN_LOOKUP_KEYS": Setting(
        {"monthly": "monthly", "yearly": "yearly", "lifetime": "lifetime"},
        as_map,
        "price lookup key -> plan",
    ),
    "MEMBERSHIP_PLAN_PRICES": Setting(
        {}, as_map, "price or product id -> plan (checked before lookup keys)"
    ),
    "MEMBERSHIP_ONE_OFF_PLAN": Setting(
        "", as_str, "what a one-off Checkout buys when its metadata names no plan (empty: nothing)"
    ),
    "MEMBERSHIP_SUSPEND_ON_INQUIRY": Setting(
        False, as_bool, "an inquiry (dispute status warning_*) suspends access like a dispute"
    ),
    "MEMBERSHIP_MATCH_EMAIL": Setting(
        "verified", as_str, "verified, any or off: when a payer's email finds their user"
    ),
    "MEMBERSHIP_EMAIL_VERIFIED": Setting(
        "", as_str, "dotted path of f(user, email) -> bool, for `verified` without allauth"
    ),
    # --- operations -----------------------------------------------------------------------
    "HEALTH_MAX_PENDING_AGE": Setting(
        600, as_int, "/healthz is 503 once an event has waited longer (seconds)"
    ),
    "METRICS_TOKEN": Setting("", as_str, "bearer token for /metrics"),
    "METRICS_ALLOWED_NETWORKS": Setting(
        (), as_list, "who may scrape /metrics without a token (unset: loopback under DEBUG only)"
    ),
    "ADMIN_OVERVIEW_PANELS": Setting(
        ("bootwebhooks.inbox.overview.panel", "bootwebhooks.payments.overview.panel"),
        as_list,
        "functions of the user: the (label, value, link) rows it may see on the admin index",
    ),
    "ADMIN_EVENT_SEARCH": Setting(
        ("bootwebhooks.payments.search.customer_ids",),
        as_list,
        "functions from a search term to Stripe customer ids whose events the event list shows",
    ),
    "ADMIN_BULK_LIMIT": Setting(
        500, as_int, "most rows one admin bulk action runs on; more are refused"
    ),
}


class AppSettings:
    """`app_settings.NAME`: the host's value of NAME, or its default, normalised.

    A value that cannot change in the caller's hands (a number, a string, a tuple) becomes an
    attribute of the instance once read, so the next reads are plain attribute reads, never
    `__getattr__`: a duplicate delivery reads seven, and each call of `__getattr__` cost as
    much as a dictionary of them. Lists and mappings stay in `_known`, copied on each read.
    """

    def __init__(self) -> None:
        self._known: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            value = self._known[name]
        except KeyError:
            value = self._read(name)
        # A copy of a list or mapping: the caller may change it, the next one reads the setting.
        return value.copy() if isinstance(value, list | dict) else value

    def _read(self, name: str) -> Any:
        try:
            setting = DEFAULTS[name]
        except KeyError:
            raise AttributeError(f"bootwebhooks has no setting {name}") from None
        value = setting.read(name, getattr(settings, name, setting.default))
        if setting.read is as_livemode:  # follows DEBUG, which the test runner sets directly
            return value
        if isinstance(value, list | dict):
            self._known[name] = value
        else:
            self.__dict__[name] = value
        return value

    def forget(self, **kwargs: Any) -> None:
        """Read every setting afresh (a receiver of `setting_changed`: one setting may be read
        through another, as STRIPE_LIVEMODE follows DEBUG)."""
        self._known.clear()
        for name in DEFAULTS.keys() & self.__dict__.keys():
            del self.__dict__[name]

    def problems(self) -> dict[str, str]:
        """Settings whose value cannot be read, with the reason (for the system checks)."""
        found = {}
        for name in DEFAULTS:
            try:
                getattr(self, name)
            except ImproperlyConfigured as exc:
                found[name] = str(exc)
        return found


app_settings = AppSettings()
setting_changed.connect(app_settings.forget, weak=False, dispatch_uid="bootwebhooks.conf")
