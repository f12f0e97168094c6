import pytest
from django.db import connection

from bootwebhooks.inbox import statements
from tests.webhooks import TEST_SECRET


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRETS = [TEST_SECRET]
    settings.STRIPE_WEBHOOK_TOLERANCE = 300
    return TEST_SECRET


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.postgres` tests need row locks and real concurrent connections;
    `@pytest.mark.batched` ones count PostgreSQL's round trips where statements share a query
    (psycopg 3's default; not psycopg2 or server-side binding: tests/psycopg2_driver.py,
    tests/server_side_binding.py); `@pytest.mark.prepared` ones need the apps' own PREPARE
    (not with server-side binding)."""
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)
    if connection.vendor == "postgresql" and statements.batching() != statements.EACH_RESULT:
        one_by_one = pytest.mark.skip(reason="this driver setup sends statements apart")
        for item in items:
            if "batched" in item.keywords:
                item.add_marker(one_by_one)
    if connection.vendor == "postgresql" and statements.batching() == statements.ONE_BY_ONE:
        own = pytest.mark.skip(reason="server-side binding prepares statements itself")
        for item in items:
            if "prepared" in item.keywords:
                item.add_marker(own)


@pytest.fixture
def fake_stripe(settings):
    """stripe-python pointed at a local stand-in for Stripe's API (tests/stripe_server.py)."""
    from tests.stripe_server import FakeStripe

    with FakeStripe() as fake:
        settings.STRIPE_API_KEY = "sk_test_51TxFakeKeyForTheTestSuite000000"  # shaped like one
        settings.STRIPE_API_BASE = fake.url
        yield fake
