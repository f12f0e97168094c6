from datetime import UTC, datetime

import pytest
from django.db.models.signals import post_save

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.payments.models import Charge, Payment
from tests.stripe_events import CUSTOMER, P1_END, P1_START, deliver

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fixture", ["invoice_paid", "invoice_paid__legacy"])
def test_it_records_an_invoice_payment(client, student, fixture):
    answer = deliver(client, fixture)

    payment = Payment.objects.get()
    assert (payment.stripe_id, payment.kind, payment.status) == (
        "in_1TxInv0Acme0000001",
        "invoice",
        "succeeded",
    )
    assert (payment.amount, payment.currency, payment.customer_id) == (1500, "eur", CUSTOMER)
    assert (payment.period_start, payment.period_end) == (P1_START, P1_END)
    assert payment.subscription_id == "sub_1TxSub0Acme0000001"
    assert (payment.user, payment.last_event.stripe_id) == (student, answer["id"])


def test_the_legacy_invoice_names_its_payment_intent(client):
    deliver(client, "invoice_paid__legacy")

    assert Payment.objects.get().payment_intent_id == "pi_1TxPi00Acme0000001"


def test_since_basil_invoice_payment_paid_names_the_payment_intent(client):
    deliver(client, "invoice_paid")
    assert Payment.objects.get().payment_intent_id == ""

    deliver(client, "invoice_payment_paid")

    assert Payment.objects.get().payment_intent_id == "pi_1TxPi00Acme0000001"


def test_the_plan_comes_from_the_legacy_line_price(client):
    deliver(client, "invoice_paid__legacy")

    assert Payment.objects.get().plan == "monthly"


def test_a_no_op_event_does_not_become_the_last_change(client):
    first = deliver(client, "invoice_paid")
    deliver(client, "invoice_payment_succeeded")

    assert Payment.objects.get().last_event.stripe_id == first["id"]


def test_a_payment_outlives_its_pruned_events(client):
    deliver(client, "invoice_paid")
    WebhookEvent.objects.all().delete()

    payment = Payment.objects.get()
    assert (payment.status, payment.last_event) == ("succeeded", None)


def test_a_refund_before_the_payment_is_kept_on_its_charge(client):
    deliver(client, "charge_refunded")

    charge = Charge.objects.get()
    assert (charge.payment_intent_id, charge.amount_refunded, charge.refunded) == (
        "pi_1TxPi00Acme0000001",
        1500,
        True,
    )
    assert not Payment.objects.exists()


def test_a_legacy_refund_finds_its_invoice_directly(client):
    deliver(client, "charge_refunded__legacy")
    deliver(client, "invoice_paid")

    assert Payment.objects.get().status == "refunded"


def test_a_failed_invoice_is_recorded_failed(client):
    deliver(client, "invoice_payment_failed")

    payment = Payment.objects.get()
    assert (payment.status, payment.period_end) == ("failed", datetime(2027, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("clue", ["99999999999999999999", "²", "-3", "0", " 12x", True])
def test_a_client_reference_that_is_no_user_id_resolves_nobody(student, clue):
    from bootwebhooks.payments.customers import resolve_user

    assert resolve_user(None, client_reference_id=clue) is None
    assert resolve_user(None, client_reference_id=str(student.pk)) == student.pk


def test_a_host_listening_to_a_facts_save_signals_still_hears_its_saves(client, student):
    """Facts are saved by one written-out UPDATE, unless a receiver listens to the model's
    save signals: then through save(), so the host's receiver runs, and the row is the same."""
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.stripe_id, instance.status, created))

    post_save.connect(receiver, sender=Payment)
    try:
        deliver(client, "invoice_paid")
    finally:
        post_save.disconnect(receiver, sender=Payment)

    assert heard == [("in_1TxInv0Acme0000001", "succeeded", False)]
    payment = Payment.objects.get()
    assert (payment.status, payment.user, payment.amount) == ("succeeded", student, 1500)
