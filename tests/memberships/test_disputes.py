import logging

import pytest

from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Charge, Payment
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


# Stripe's API reference, Dispute `status`: warning_needs_response, warning_under_review,
# warning_closed, needs_response, under_review, won, lost, or prevented. The warning_* ones are
# inquiries (no funds withdrawn yet); prevented (2025) closes a dispute the issuer stopped,
# usually with a refund.


def test_a_prevented_dispute_is_closed_and_the_refund_decides(client, student):
    for fixture in (*PAID, "charge_dispute_created", "charge_dispute_closed__prevented"):
        deliver(client, fixture)

    payment = Payment.objects.get(stripe_id="in_1TxInv0Acme0000001")
    assert (payment.dispute, payment.status) == ("closed", "succeeded")
    assert membership_of(student).status == "active"

    deliver(client, "charge_refunded")  # the refund that usually comes with it

    assert membership_of(student).status == "revoked"


def test_a_prevented_dispute_is_final(client, student):
    for fixture in (*PAID, "charge_dispute_closed__prevented"):
        deliver(client, fixture)

    assert deliver(client, "charge_dispute_updated")["status"] == "superseded"
    assert is_member(student, at=MID_P1)


def test_an_inquiry_does_not_suspend(client, student):
    for fixture in (*PAID, "charge_dispute_created__inquiry"):
        deliver(client, fixture)

    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000001").dispute == "inquiry"
    assert membership_of(student).status == "active"
    assert is_member(student, at=MID_P1)


def test_an_inquiry_suspends_when_configured(client, student, settings):
    settings.MEMBERSHIP_SUSPEND_ON_INQUIRY = True
    for fixture in (*PAID, "charge_dispute_created__inquiry"):
        deliver(client, fixture)

    assert membership_of(student).status == "suspended"


def test_an_unknown_status_is_flagged_and_never_suspends(client, student, caplog):
    """A status Stripe adds later (this one is made up) must not suspend a member for good."""
    for fixture in (*PAID, "charge_dispute_created"):
        deliver(client, fixture)
    assert membership_of(student).status == "suspended"

    with caplog.at_level(logging.WARNING, logger="bootwebhooks.payments.handlers"):
        deliver(client, "charge_dispute_updated__unknown_status")

    charge = Charge.objects.get()
    assert (charge.dispute, charge.dispute_status) == ("unknown", "awaiting_network_decision")
    assert "awaiting_network_decision" in caplog.text and "flagged for staff" in caplog.text
    assert Payment.objects.get(stripe_id="in_1TxInv0Acme0000001").dispute == "unknown"
    assert list(Payment.needing_review().values_list("stripe_id", flat=True)) == [
        "in_1TxInv0Acme0000001"
    ]
    assert membership_of(student).status == "active"


def test_a_dispute_of_another_product_changes_no_membership(client, student):
    deliver(client, "checkout_session_completed__donation")
    deliver(
        client,
        "charge_dispute_created",
        obj__charge="ch_1TxChDonation000001",
        obj__payment_intent="pi_1TxPi00Donation0001",
    )

    assert Payment.objects.get().status == "disputed"
    assert membership_of(student).status == "none"
