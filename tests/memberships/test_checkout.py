from datetime import timedelta

import pytest

from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Payment, StripeCustomer
from tests.stripe_events import MID_P1, P1_END, P1_START, deliver, membership_of

pytestmark = pytest.mark.django_db


def test_it_links_the_customer_and_holds_access_open_until_the_subscription_arrives(
    client, student
):
    deliver(client, "checkout_session_completed")

    assert StripeCustomer.objects.get(customer_id="cus_TxStud3ntAcme01").user == student
    membership = membership_of(student)
    assert membership.status == "active"
    assert membership.subscription_id == "sub_1TxSub0Acme0000001"
    # Three days (MEMBERSHIP_GRACE_DAYS) from the checkout, not a guessed period.
    assert membership.access_until == P1_START + timedelta(days=3, seconds=6)


def test_it_grants_to_the_period_end_once_the_subscription_arrives(client, student):
    deliver(client, "checkout_session_completed")
    deliver(client, "customer_subscription_created")

    assert membership_of(student).access_until == P1_END
    assert membership_of(student).plan == "monthly"


def test_it_grants_the_period_whichever_comes_first(client, student):
    deliver(client, "invoice_paid")
    deliver(client, "checkout_session_completed")

    assert membership_of(student).access_until == P1_END
    assert is_member(student, at=MID_P1)


def test_it_grants_lifetime_for_a_paid_one_off_checkout(client, student):
    deliver(client, "checkout_session_completed__payment")

    membership = membership_of(student)
    assert (membership.status, membership.plan, membership.access_until) == (
        "active",
        "lifetime",
        None,
    )
    assert is_member(student, at=P1_END + timedelta(days=3650))
    payment = Payment.objects.get(stripe_id="pi_1TxPi00AcmeLifetime1")
    assert (payment.kind, payment.amount, payment.currency) == ("one_off", 29900, "eur")


def test_it_grants_the_configured_one_off_plan_when_metadata_names_none(client, student, settings):
    settings.MEMBERSHIP_ONE_OFF_PLAN = "yearly"
    deliver(client, "checkout_session_completed__payment", obj__metadata={})

    membership = membership_of(student)
    assert membership.plan == "yearly"
    assert membership.access_until == P1_START - timedelta(seconds=120) + timedelta(days=366)


def test_it_waits_for_an_unpaid_checkout(client, student):
    deliver(client, "checkout_session_completed__unpaid")

    assert Payment.objects.get(stripe_id="pi_1TxPi00AcmeSepa00001").status == "pending"
    assert not is_member(student, at=MID_P1)


def test_it_grants_when_the_delayed_payment_succeeds(client, student):
    deliver(client, "checkout_session_completed__unpaid")
    deliver(client, "checkout_session_async_payment_succeeded")

    assert Payment.objects.get(stripe_id="pi_1TxPi00AcmeSepa00001").status == "succeeded"
    assert membership_of(student).plan == "lifetime"
    assert is_member(student, at=MID_P1)


def test_it_grants_nothing_when_the_delayed_payment_fails(client, student):
    deliver(client, "checkout_session_completed__unpaid")
    deliver(client, "checkout_session_async_payment_failed")

    assert Payment.objects.get(stripe_id="pi_1TxPi00AcmeSepa00001").status == "failed"
    assert not is_member(student, at=MID_P1)


def test_a_late_unpaid_snapshot_is_superseded_by_the_payment(client, student):
    deliver(client, "checkout_session_async_payment_succeeded")
    answer = deliver(client, "checkout_session_completed__unpaid")

    assert answer["status"] == "superseded"
    assert Payment.objects.get(stripe_id="pi_1TxPi00AcmeSepa00001").status == "succeeded"
