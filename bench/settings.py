"""The product's settings plus the bench app and its baseline routes.

Everything else (middleware, DATABASE_URL, CONN_MAX_AGE, the webhook secret) comes from the
environment exactly as in production; bench/run.py sets it.
"""

from bootwebhooks.env import env_bool, env_int
from bootwebhooks.settings import *  # noqa: F403
from bootwebhooks.settings import INSTALLED_APPS, SECURE_REDIRECT_EXEMPT

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
# The baselines get the same no-redirect treatment as the webhook, so all answer over plain HTTP.
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^bench/"]

BENCH_EFFECT_HANDLER = env_bool("BENCH_EFFECT_HANDLER", False)
BENCH_HANDLER_DELAY_MS = env_int("BENCH_HANDLER_DELAY_MS", 0)
# The bench's events are test-mode events, as in the test suite.
STRIPE_LIVEMODE = env_bool("STRIPE_LIVEMODE", False)
# As in the test suite: payers found by email too, and the samples' prices mapped (a renewal
# invoice names only its price id), so the workloads do the same work as before these settings.
MEMBERSHIP_MATCH_EMAIL = "any"
MEMBERSHIP_PLAN_PRICES = {
    "price_monthly": "monthly",
    "price_yearly": "yearly",
    "price_lifetime": "lifetime",
}
