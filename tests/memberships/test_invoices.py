from datetime import timedelta

import pytest

from bootwebhooks.memberships import is_member
from bootwebhooks.memberships.models import MembershipChange
from bootwebhooks.payments.models import Payment
from tests.stripe_events import MID_P1, P1_END, P2_END, deliver, load_event, membership_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fixture", ["invoice_paid", "invoice_paid__legacy"])
def test_it_extends_access_on_invoice_paid(client, student, fixture):
    deliver(client, fixture)

    assert membership_of(student).access_until == P1_END
    assert is_member(student, at=MID_P1)
    assert not is_member(student, at=P1_END)


def test_it_never_shortens_access_when_an_earlier_invoice_arrives_late(client, student):
    deliver(client, "invoice_paid__renewal")
    deliver(client, "invoice_paid")

    assert membership_of(student).access_until == P2_END


@pytest.mark.parametrize(
    "fixtures",
    [
        ("invoice_paid", "invoice_payment_succeeded"),
        ("invoice_payment_succeeded__legacy", "invoice_paid__legacy"),
    ],
)
def test_it_grants_once_for_paid_and_payment_succeeded_of_one_invoice(client, student, fixtures):
    for fixture in fixtures:
        deliver(client, fixture)

    assert Payment.objects.filter(stripe_id="in_1TxInv0Acme0000001").count() == 1
    assert MembershipChange.objects.filter(membership__user=student).count() == 1


@pytest.mark.parametrize("fixture", ["invoice_payment_failed", "invoice_payment_failed__legacy"])
def test_a_failed_renewal_puts_the_member_in_grace(client, student, fixture):
    deliver(client, "customer_subscription_updated")  # the new period started
    deliver(client, "invoice_paid")
    deliver(client, fixture)

    membership = membership_of(student)
    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000002").status == "failed"
    assert membership.status == "grace"
    assert membership.access_until == P1_END + timedelta(days=3)
    assert is_member(student, at=P1_END + timedelta(days=2))
    assert not is_member(student, at=P1_END + timedelta(days=3))


def test_the_grace_period_follows_the_setting(client, student, settings):
    settings.MEMBERSHIP_GRACE_DAYS = 7
    deliver(client, "invoice_paid")
    deliver(client, "invoice_payment_failed")

    assert membership_of(student).access_until == P1_END + timedelta(days=7)


def test_a_recovered_payment_ends_the_grace(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "customer_subscription_updated__past_due")
    deliver(client, "invoice_payment_failed")
    deliver(client, "invoice_paid__renewal")
    deliver(client, "customer_subscription_updated", created=2_000_000_000)

    membership = membership_of(student)
    assert (membership.status, membership.access_until) == ("active", P2_END)
    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000002").status == "succeeded"


def test_a_failure_reported_after_the_payment_is_superseded(client, student):
    deliver(client, "invoice_paid__renewal")
    answer = deliver(client, "invoice_payment_failed")

    assert answer["status"] == "superseded"
    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000002").status == "succeeded"


def test_a_late_failure_with_another_period_changes_nothing_and_is_superseded(client, student):
    """Found by redelivering a failed payment for an invoice already paid, with a new period:
    the event was stored `superseded` yet had moved the payment's period, and so the end of
    access, and the history named it as the cause. Stripe's invoice status transitions
    (docs.stripe.com/invoicing/integration/workflow-transitions) lead out of `open` only:
    `paid` is final, so a failure reported after the payment is an older snapshot and none
    of it applies, not its period either."""
    deliver(client, "invoice_paid__renewal")
    before = membership_of(student).access_until
    late = load_event("invoice_payment_failed", id="evt_1TxLateFailure0000001")
    late["data"]["object"]["lines"]["data"][0]["period"] = {
        "start": int(P2_END.timestamp()),
        "end": int((P2_END + timedelta(days=31)).timestamp()),
    }

    answer = deliver(client, late)

    assert answer["status"] == "superseded"
    assert membership_of(student).access_until == before == P2_END
    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000002").period_end == P2_END
    assert not MembershipChange.objects.filter(event__stripe_id=late["id"]).exists()
