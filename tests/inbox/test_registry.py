import pytest

from bootwebhooks.inbox.exceptions import RegistryError
from bootwebhooks.inbox.registry import Registry, stripe_event_types


def record_payment(event):
    pass


def grant_access(event):
    pass


def test_it_knows_the_event_types_stripe_sends():
    types = stripe_event_types()
    assert {"invoice.paid", "checkout.session.completed", "charge.dispute.closed"} <= types
    assert "invoice.payed" not in types


def test_it_refuses_an_unknown_type_at_registration():
    with pytest.raises(RegistryError, match="not a Stripe event type"):
        Registry().handles("invoice.payed")(record_payment)


def test_it_refuses_the_same_handler_twice_for_a_type():
    registry = Registry()
    registry.handles("invoice.paid")(record_payment)
    with pytest.raises(RegistryError, match="already registered"):
        registry.handles("invoice.paid")(record_payment)


def test_it_refuses_a_registration_without_types():
    with pytest.raises(RegistryError):
        Registry().handles()


def test_it_keeps_several_handlers_per_type_in_registration_order():
    registry = Registry()
    registry.handles("invoice.paid", "invoice.payment_succeeded")(record_payment)
    registry.handles("invoice.paid")(grant_access)
    assert registry.handlers_for("invoice.paid") == (record_payment, grant_access)
    assert registry.handlers_for("invoice.payment_succeeded") == (record_payment,)
    assert registry.handlers_for("customer.created") == ()
    assert registry.event_types() == ["invoice.paid", "invoice.payment_succeeded"]
