import pytest

from bootwebhooks.memberships.models import MembershipChange
from bootwebhooks.payments.models import Payment
from tests.stripe_events import P1_END, deliver, load_event, membership_of

pytestmark = pytest.mark.django_db


def test_two_event_objects_for_one_invoice_record_and_grant_once(client, student):
    first = load_event("invoice_paid")
    second = load_event("invoice_paid", fresh_id=True)
    assert first["id"] != second["id"]

    answers = [deliver(client, first), deliver(client, second)]

    assert [a["status"] for a in answers] == ["processed", "processed"]
    assert Payment.objects.filter(stripe_id="in_1TxInv0Acme0000001").count() == 1
    assert MembershipChange.objects.filter(membership__user=student).count() == 1
    assert membership_of(student).access_until == P1_END


def test_two_event_objects_for_one_refund_refund_once(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "invoice_payment_paid")
    deliver(client, load_event("charge_refunded__partial"))
    deliver(client, load_event("charge_refunded__partial", fresh_id=True))

    assert Payment.objects.get().amount_refunded == 500


def test_a_redelivered_event_changes_nothing(client, student):
    event = load_event("invoice_paid")
    deliver(client, event)
    deliver(client, event)

    assert MembershipChange.objects.filter(membership__user=student).count() == 1
