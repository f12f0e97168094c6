"""The product's settings plus the bench app, its baseline routes and dj-stripe's webhook.

Everything else (middleware, DATABASE_URL, CONN_MAX_AGE, the webhook secret) comes from the
environment exactly as in production; bench/run.py sets it.
"""

from bootwebhooks.env import env_bool, env_int, env_str
from bootwebhooks.settings import *  # noqa: F403
from bootwebhooks.settings import INSTALLED_APPS, SECURE_REDIRECT_EXEMPT

# dj-stripe's own webhook view is a baseline (bench/djstripe_baseline.py); the product never
# routes a webhook to it.
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
if env_bool("BENCH_DJSTRIPE", False) and "djstripe" not in INSTALLED_APPS:
    INSTALLED_APPS.append("djstripe")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
STRIPE_LIVE_MODE = False
STRIPE_TEST_SECRET_KEY = "sk_test_51TxBenchKey0000000000000000"
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
# Where dj-stripe's stripe-python calls go: the bench's stand-in for Stripe on 127.0.0.1.
BENCH_STRIPE_API_BASE = env_str("BENCH_STRIPE_API_BASE", "http://127.0.0.1:9")
