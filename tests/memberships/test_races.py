"""Different events for one customer, processed at the same moment on PostgreSQL."""

import json
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest
from django.db import connection, transaction

from bootwebhooks.inbox.ingest import Delivery, deliver
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.models import Membership
from bootwebhooks.payments.models import Charge, Payment, StripeCustomer, Subscription
from tests.locks import wait_for_lock_waiters
from tests.stripe_events import domain_state, load_event
from tests.webhooks import signature_header

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 5


def deliver_signed(event: dict[str, Any]) -> str:
    body = json.dumps(event).encode()
    return deliver(Delivery.verify(body, {"Stripe-Signature": signature_header(body)})).status


def deliver_at_once(
    events: list[dict[str, Any]], gate: AbstractContextManager | None = None
) -> list[str]:
    """One thread (and connection) per event, all released together.

    With a `gate` (a transaction holding a row lock), the threads start inside it, and it
    closes only once every one of them is waiting on a lock: they then all run into the
    contended row at the same moment instead of whenever the scheduler lets them.
    """
    barrier = threading.Barrier(len(events))
    results: list[str] = []
    errors: list[BaseException] = []

    def run(event: dict[str, Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(deliver_signed(event))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(event,)) for event in events]
    with gate or nullcontext():
        for thread in threads:
            thread.start()
        if gate is not None:
            wait_for_lock_waiters(len(events))
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


class MembershipLocked(AbstractContextManager):
    """Hold the user's membership row locked in a transaction of the test's own."""

    def __init__(self, user: Any) -> None:
        self.user, self.atomic = user, transaction.atomic()

    def __enter__(self) -> None:
        self.atomic.__enter__()
        Membership.objects.select_for_update().get(user=self.user)

    def __exit__(self, *exc_info: Any) -> None:
        self.atomic.__exit__(*exc_info)


def reset() -> None:
    for model in (Membership, Payment, Charge, Subscription, StripeCustomer, WebhookEvent):
        model.objects.all().delete()


def sequential_then_concurrent(before: list[str], together: list[str], gate: Any = None) -> None:
    """Deliver `together` at once after `before`, and compare with delivering them in turn."""
    reset()
    for name in [*before, *together]:
        deliver_signed(load_event(name))
    expected = domain_state()

    for _ in range(ROUNDS):
        reset()
        for name in before:
            deliver_signed(load_event(name))
        events = [load_event(name) for name in together]
        statuses = deliver_at_once(events, gate() if gate else None)

        assert WebhookEvent.Status.FAILED not in statuses
        assert domain_state() == expected


def test_concurrent_first_events_create_one_membership_and_lose_nothing(student):
    sequential_then_concurrent(
        [],
        ["invoice_paid", "customer_subscription_created", "checkout_session_completed"],
    )

    assert Membership.objects.filter(user=student).count() == 1


def test_a_dispute_and_a_renewal_at_once_lose_no_update(student):
    # They share no row but the membership: a dispute names no customer.
    sequential_then_concurrent(
        ["invoice_paid", "invoice_payment_paid", "customer_subscription_created"],
        ["charge_dispute_created", "invoice_paid__renewal"],
        gate=lambda: MembershipLocked(student),
    )

    membership = Membership.objects.get(user=student)
    assert membership.status == "suspended"
    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000002").status == "succeeded"


def test_a_renewal_and_a_cancellation_at_once_lose_no_update(student):
    sequential_then_concurrent(
        ["invoice_paid", "customer_subscription_created"],
        ["invoice_paid__renewal", "customer_subscription_updated__cancel_at_period_end"],
        gate=lambda: MembershipLocked(student),
    )

    membership = Membership.objects.get(user=student)
    assert membership.cancel_at_period_end
    assert membership.access_until.year == 2027
