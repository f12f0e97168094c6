"""What a new event costs in database round trips: a budget per event type (issue 16).

Each statement is a round trip: BEGIN and COMMIT included, the SET LOCAL bounds not (they
travel with a statement). Counted on PostgreSQL, the production database, in its own
transactions as a webhook runs (no test transaction around them). Lower is fine: lower the
budget with it. Higher fails: say in docs/BENCHMARKS.md what the new statement buys.
"""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.samples import MONTH, customer_journey, event
from bootwebhooks.memberships.models import Membership
from tests.webhooks import post_event

# A signup for a user who exists (Checkout names them), then a renewal; the bench's mix.
# A membership's refresh is two of them: finding the users the event touched, locking their
# memberships and reading their facts in one; each changed membership's UPDATE with its
# history row in the other (memberships.models; five before).
BUDGETS = [
    ("customer.created", 2),  # stored as ignored: the delivery count, the INSERT
    ("checkout.session.completed", 15),
    # Its price is new here: the read that misses it, the catalogue's row, its snapshot, the
    # payments that waited for it.
    ("customer.subscription.created", 15),
    # The membership does not change: no UPDATE, no history row. The payment's charges and its
    # prices in the catalogue are read in one query (two before).
    ("invoice.paid", 11),
    ("invoice.paid", 12),  # the renewal
    # Its price as the catalogue holds it: one read, nothing written (three round trips before).
    ("customer.subscription.updated", 12),
]


@pytest.mark.postgres
@pytest.mark.batched
@pytest.mark.django_db(transaction=True)
def test_each_new_event_of_a_signup_and_a_renewal_stays_within_its_round_trip_budget(
    client, django_user_model
):
    member = django_user_model.objects.create_user("member", email="member@example.com")
    now = int(time.time())
    signup = customer_journey(key="budget", user_id=member.pk, email=member.email, now=now)
    invoice = signup[3]["data"]["object"]
    renewal = {**invoice, "id": "in_budget_2"}
    renewal["lines"] = {
        "object": "list",
        "data": [
            {
                **invoice["lines"]["data"][0],
                "id": "il_budget_2",
                "period": {"start": now + MONTH, "end": now + 2 * MONTH},
            }
        ],
    }
    cancelling = {**signup[2]["data"]["object"], "cancel_at_period_end": True}
    events = [
        *signup,
        event("invoice.paid", renewal, key="budget_2", created=now + MONTH),
        event("customer.subscription.updated", cancelling, key="budget_3", created=now + MONTH),
    ]

    spent = []
    for evt in events:
        with CaptureQueriesContext(connection) as queries:
            assert post_event(client, evt).status_code == 200
        spent.append((evt["type"], len(queries.captured_queries)))

    pairs = zip(spent, BUDGETS, strict=True)
    over = [(t, n, budget) for (t, n), (_, budget) in pairs if n > budget]
    assert over == [], f"(type, spent, budget) over budget; all spent: {spent}"
    assert [t for t, _ in spent] == [t for t, _ in BUDGETS]
    assert WebhookEvent.objects.filter(status="processed").count() == 5
    assert Membership.objects.get(user=member).access_until.timestamp() == now + 2 * MONTH
