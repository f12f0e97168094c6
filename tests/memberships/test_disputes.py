import pytest

from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Payment
from tests.stripe_events import MID_P1, deliver, membership_of

pytestmark = pytest.mark.django_db
PAID = ("invoice_paid", "invoice_payment_paid")


def test_an_open_dispute_suspends_access(client, student):
    for fixture in (*PAID, "charge_dispute_created"):
        deliver(client, fixture)

    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000001").status == "disputed"
    assert membership_of(student).status == "suspended"
    assert not is_member(student, at=MID_P1)


def test_a_dispute_under_review_stays_suspended(client, student):
    for fixture in (*PAID, "charge_dispute_created", "charge_dispute_updated"):
        deliver(client, fixture)

    assert membership_of(student).status == "suspended"


def test_a_won_dispute_restores_access(client, student):
    for fixture in (*PAID, "charge_dispute_created", "charge_dispute_closed"):
        deliver(client, fixture)

    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000001").status == "succeeded"
    assert membership_of(student).status == "active"
    assert is_member(student, at=MID_P1)


def test_a_lost_dispute_revokes_access(client, student):
    for fixture in (*PAID, "charge_dispute_created", "charge_dispute_closed__lost"):
        deliver(client, fixture)

    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000001").status == "disputed"
    assert membership_of(student).status == "revoked"
    assert not is_member(student, at=MID_P1)


def test_an_open_snapshot_after_the_close_is_superseded(client, student):
    for fixture in (*PAID, "charge_dispute_closed__lost"):
        deliver(client, fixture)
    answer = deliver(client, "charge_dispute_created")

    assert answer["status"] == "superseded"
    assert membership_of(student).status == "revoked"
