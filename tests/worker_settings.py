from bootwebhooks.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.worker_app"]  # noqa: F405

# The fixtures are test-mode events; payers are found by email (as in tests/settings.py).
STRIPE_LIVEMODE = False
MEMBERSHIP_MATCH_EMAIL = "any"
