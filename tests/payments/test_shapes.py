from datetime import UTC, datetime

from bootwebhooks.payments import shapes
from tests.stripe_events import load_event

BASIL, LEGACY = "2026-10-28.endive", "2024-06-20"
P1 = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def obj(name: str) -> dict:
    return load_event(name)["data"]["object"]


def test_it_reads_the_subscription_period_from_the_items_since_basil():
    sub = obj("customer_subscription_created")
    assert "current_period_end" not in sub

    assert shapes.subscription_period(sub, BASIL) == P1


def test_it_reads_the_subscription_period_at_the_top_before_basil():
    sub = obj("customer_subscription_created__legacy")

    assert shapes.subscription_period(sub, LEGACY) == P1


def test_it_goes_by_the_api_version_not_by_what_happens_to_be_there():
    sub = obj("customer_subscription_created__legacy")
    sub["current_period_end"] = 1  # a stray top-level field in a basil payload is ignored

    assert shapes.subscription_period(sub, BASIL) == (None, None)


def test_without_an_api_version_it_reads_the_shape():
    assert shapes.subscription_period(obj("customer_subscription_created__legacy"), "") == P1
    assert shapes.subscription_period(obj("customer_subscription_created"), "") == P1


def test_it_finds_the_invoice_subscription_in_either_shape():
    sub_id = "sub_1TxSub0Acme0000001"
    assert shapes.invoice_subscription(obj("invoice_paid"), BASIL) == sub_id
    assert shapes.invoice_subscription(obj("invoice_paid__legacy"), LEGACY) == sub_id


def test_it_reads_paid_from_the_status_or_the_legacy_boolean():
    assert shapes.invoice_is_paid(obj("invoice_paid"), BASIL)
    legacy = obj("invoice_paid__legacy") | {"status": "open"}
    assert shapes.invoice_is_paid(legacy, LEGACY)
    assert not shapes.invoice_is_paid(obj("invoice_payment_failed"), BASIL)
    assert not shapes.invoice_is_paid(obj("invoice_payment_failed__legacy"), LEGACY)


def test_it_takes_the_paid_period_from_the_lines_not_the_invoice_period():
    invoice = obj("invoice_paid")
    assert invoice["period_end"] != invoice["lines"]["data"][0]["period"]["end"]

    assert shapes.invoice_period(invoice) == P1


def test_only_a_legacy_charge_names_its_invoice():
    assert shapes.charge_invoice(obj("charge_refunded__legacy"), LEGACY) == "in_1TxInv0Acme0000001"
    assert shapes.charge_invoice(obj("charge_refunded"), BASIL) == ""
