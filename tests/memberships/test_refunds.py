import pytest

from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Payment
from tests.stripe_events import MID_P1, P1_END, P1_START, deliver, membership_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fixtures",
    [
        ("invoice_paid", "invoice_payment_paid", "charge_refunded"),
        ("invoice_paid__legacy", "charge_refunded__legacy"),
    ],
)
def test_a_full_refund_revokes_what_it_paid_for(client, student, fixtures):
    for fixture in fixtures:
        deliver(client, fixture)

    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000001").status == "refunded"
    membership = membership_of(student)
    assert (membership.status, membership.access_until) == ("revoked", P1_START)
    assert not is_member(student, at=MID_P1)


def test_a_refund_before_its_invoice_still_revokes(client, student):
    deliver(client, "charge_refunded")
    deliver(client, "invoice_payment_paid")
    deliver(client, "invoice_paid")

    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000001").status == "refunded"
    assert not is_member(student, at=MID_P1)


def test_a_refund_that_does_not_revoke_is_only_recorded(client, student, settings):
    settings.MEMBERSHIP_REFUND_REVOKES = False
    for fixture in ("invoice_paid", "invoice_payment_paid", "charge_refunded"):
        deliver(client, fixture)

    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000001").status == "refunded"
    assert is_member(student, at=MID_P1)


def test_a_partial_refund_is_only_recorded(client, student):
    for fixture in ("invoice_paid", "invoice_payment_paid", "charge_refunded__partial"):
        deliver(client, fixture)

    payment = Payment.objects.get(stripe_id="in_1TxInv0Acme0000001")
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", 500)
    assert membership_of(student).access_until == P1_END
    assert is_member(student, at=MID_P1)


def test_a_smaller_refund_snapshot_arriving_late_is_superseded(client, student):
    deliver(client, "charge_refunded")
    answer = deliver(client, "charge_refunded__partial")

    assert answer["status"] == "superseded"


def test_a_refunded_lifetime_purchase_revokes_it(client, student):
    deliver(client, "checkout_session_completed__payment")
    deliver(
        client,
        "charge_refunded",
        obj__payment_intent="pi_1TxPi00AcmeLifetime1",
        obj__amount=29900,
        obj__amount_refunded=29900,
    )

    assert membership_of(student).status == "revoked"
    assert not is_member(student, at=MID_P1)
