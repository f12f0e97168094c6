"""Any delivery order, with duplicates, ends where the in-order stream ends."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootwebhooks.inbox.ingest import ingest_batch, parse_event
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.models import Membership
from bootwebhooks.payments.models import Charge, Payment, Price, StripeCustomer, Subscription
from tests.memberships.histories import members
from tests.stripe_events import domain_state

pytestmark = pytest.mark.django_db
FACTS = (Membership, Payment, Charge, Subscription, StripeCustomer, Price, WebhookEvent)


def replay(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Start from nothing, deliver `events` in this order, return the resulting state."""
    for model in FACTS:
        model.objects.all().delete()
    for event in events:
        ingest_batch([parse_event(json.dumps(event))], source=WebhookEvent.Source.IMPORT)
    assert not WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).exists()
    return domain_state()


def with_duplicates(events: list[dict[str, Any]], copies: list[int]) -> list[dict[str, Any]]:
    """Stripe sometimes sends a second event object for one change: same payload, new id.

    The twin's id sorts right after its original's: on a same-second tie the event id is
    the tie-break, and the in-order stream's ids are made to sort in order, so this keeps
    "the same change" meaning the same place in the order (real ids carry no order: see
    docs/RULES.md on ties).
    """
    twins = []
    for index in sorted(set(copies)):
        twin = json.loads(json.dumps(events[index % len(events)]))
        twin["id"] += "twin"
        twins.append(twin)
    return events + twins


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_delivery_order_ends_in_the_in_order_state(student, data, settings):
    """One to three subscriptions per member. No price map: basil invoices resolve through
    the catalogue, whichever of an invoice and its price arrives first."""
    settings.MEMBERSHIP_PLAN_PRICES = {}
    member = data.draw(members(student.pk))
    expected = replay(member.events)
    stream = with_duplicates(member.events, data.draw(st.lists(st.integers(0, 99), max_size=3)))

    shuffled = data.draw(st.permutations(stream))

    assert replay(shuffled) == expected
    assert expected["memberships"], "the in-order stream always makes a membership"
