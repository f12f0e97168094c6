"""The production settings, less what assumes https: tests (and the browser tests' live
server) speak plain http on 127.0.0.1. tests/test_settings.py checks the real values."""

from bootwebhooks.settings import *  # noqa: F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# The fixtures are test-mode events (Stripe's test data), as on a developer's machine; the
# one-mode rule itself is tested with both values (tests/memberships/test_mode_and_account.py).
STRIPE_LIVEMODE = False
# Most tests find the fixtures' payer by email; the matching modes are tested on their own
# (tests/memberships/test_email_matching.py).
MEMBERSHIP_MATCH_EMAIL = "any"
# The fixtures' membership prices, mapped as a site maps its own: a basil invoice line names
# only its price id, so a lone invoice needs this (or the catalogue) to say what it bought.
# The lookup-key and catalogue paths are tested with this emptied.
MEMBERSHIP_PLAN_PRICES = {
    "price_1TxMonthlyAcme0001": "monthly",
    "price_1TxYearlyAcme00001": "yearly",
    # bootwebhooks/inbox/samples.py (send_test_webhook, the demo)
    "price_monthly": "monthly",
    "price_yearly": "yearly",
    "price_lifetime": "lifetime",
}
