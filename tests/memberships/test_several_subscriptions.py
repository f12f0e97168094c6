"""Every membership subscription counts: a customer can hold several at once (a double
Checkout, an upgrade bought as a new Checkout), each with its own status and periods
(Stripe's API reference, the Subscription object). Access lasts while any of them grants it;
the one shown is the grant that reaches furthest; an ended, expired or incomplete one ends
only its own access, and `incomplete` (first payment pending, Stripe's subscription statuses)
changes nothing shown.
"""

from datetime import UTC, datetime, timedelta

import pytest

from bootwebhooks.memberships import access, is_member
from bootwebhooks.payments.models import Payment, Subscription
from tests.stripe_events import MID_P1, P1_END, deliver, membership_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("linked_student")]
FIRST, SECOND = "sub_1TxSub0Acme0000001", "sub_1TxSub0Acme0000002"
SECOND_END = datetime(2027, 11, 10, tzinfo=UTC)
SECOND_ENDED = datetime(2026, 11, 20, tzinfo=UTC)


def shown(user) -> tuple:
    membership = membership_of(user)
    return (membership.status, membership.plan, membership.access_until, membership.subscription_id)


def test_the_grant_that_reaches_furthest_is_shown(client, student):
    deliver(client, "customer_subscription_created")
    deliver(client, "customer_subscription_created__second")

    assert shown(student) == ("active", "yearly", SECOND_END, SECOND)


def test_cancelling_the_newer_subscription_leaves_the_older_one_granting(client, student):
    for fixture in (
        "invoice_paid",
        "customer_subscription_created",
        "customer_subscription_created__second",
        "customer_subscription_deleted__second",
    ):
        deliver(client, fixture)

    assert shown(student) == ("active", "monthly", P1_END, FIRST)
    assert is_member(student, at=datetime(2026, 11, 25, tzinfo=UTC))


def test_the_older_subscription_ending_leaves_the_newer_one(client, student):
    deliver(client, "customer_subscription_created__second")
    deliver(client, "customer_subscription_deleted")  # the first one, ended at its period end

    assert shown(student) == ("active", "yearly", SECOND_END, SECOND)


def test_an_expired_incomplete_subscription_ends_only_its_own_access(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "customer_subscription_created")
    deliver(client, "customer_subscription_created__second", obj__status="incomplete")
    deliver(client, "customer_subscription_updated__second_incomplete_expired")

    assert shown(student) == ("active", "monthly", P1_END, FIRST)
    assert is_member(student, at=MID_P1)


def test_an_incomplete_subscription_changes_nothing_shown(client, student):
    deliver(client, "customer_subscription_created")
    before = shown(student)

    deliver(client, "customer_subscription_created__second", obj__status="incomplete")

    assert shown(student) == before == ("active", "monthly", P1_END, FIRST)


def test_a_lifetime_purchase_outranks_every_subscription(client, student):
    deliver(client, "customer_subscription_created__second")
    deliver(client, "checkout_session_completed__payment")

    assert shown(student)[:3] == ("active", "lifetime", None)


def test_when_all_have_ended_the_latest_end_is_shown(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "customer_subscription_deleted")
    deliver(client, "customer_subscription_created__second")
    deliver(client, "customer_subscription_deleted__second")

    assert shown(student) == ("ended", "monthly", P1_END, FIRST)
    assert not is_member(student, at=P1_END)


def test_a_dispute_on_either_suspends(client, student):
    for fixture in (
        "invoice_paid",
        "invoice_payment_paid",
        "customer_subscription_created",
        "customer_subscription_created__second",
        "charge_dispute_created",
    ):
        deliver(client, fixture)

    assert membership_of(student).status == "suspended"


def test_each_subscriptions_own_grant_is_there_for_support(client, student):
    for fixture in (
        "invoice_paid",
        "customer_subscription_created",
        "customer_subscription_created__second",
        "customer_subscription_deleted__second",
        "checkout_session_completed__donation",  # not a membership: no grant of its own
    ):
        deliver(client, fixture)

    each = access.grants(
        list(Payment.objects.filter(user=student)),
        list(Subscription.objects.filter(user=student)),
        grace=timedelta(days=3),
        refund_revokes=True,
    )

    assert [(g.subscription_id, g.status, g.plan, g.access_until) for g in each] == [
        (FIRST, "active", "monthly", P1_END),
        (SECOND, "ended", "yearly", SECOND_ENDED),
    ]
