"""A duplicate delivery's one write: its count, committed without waiting for the WAL flush
when no transaction needs that durability."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bootwebhooks.inbox.models import WebhookEvent
from tests import sent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stored() -> WebhookEvent:
    return WebhookEvent.objects.create(
        stripe_id="evt_count1", type="invoice.paid", stripe_created=timezone.now(), body="{}"
    )


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.batched
def test_outside_a_transaction_the_count_commits_without_waiting_in_one_round_trip(stored):
    with CaptureQueriesContext(connection) as queries:
        assert WebhookEvent.count_delivery("evt_count1") == (stored.pk, "pending")

    assert len(queries) == 1
    written = sent.statements(queries)  # in the one query: the setting, then the count
    assert written[0] == "SET LOCAL synchronous_commit = off"
    assert written[1].startswith('UPDATE "bootwebhooks_inbox_webhookevent"')
    assert synchronous_commit() == "on"  # the session's setting is untouched
    stored.refresh_from_db()
    assert stored.delivery_count == 2


def test_inside_a_transaction_the_callers_durability_stands(stored):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert WebhookEvent.count_delivery("evt_count1") == (stored.pk, "pending")
        assert synchronous_commit() == "on"
    assert "synchronous_commit" not in queries[0]["sql"]
    stored.refresh_from_db()
    assert stored.delivery_count == 2


def test_an_unknown_event_counts_nothing():
    assert WebhookEvent.count_delivery("evt_nobody") is None
    assert synchronous_commit() == "on"
