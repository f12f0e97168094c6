"""Realistic Stripe events (basil shapes, from Stripe's API reference) for demo and test deliveries.

`build(event_type, ...)` makes one event of any type a membership business handles, for one
student; `customer_journey()` is a signup as Stripe would send it. Ids derive from `key`, so
the same key twice gives the same objects (and the same event ids: redeliveries).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

API_VERSION = "2026-10-28.endive"
MONTH = 30 * 24 * 3600
AMOUNT = 1500


@dataclass(frozen=True)
class Student:
    key: str
    user_id: int | None
    email: str
    now: int
    plan: str = "monthly"

    def id(self, prefix: str) -> str:
        return f"{prefix}_{self.key}"

    @property
    def metadata(self) -> dict[str, str]:
        return {"user_id": str(self.user_id)} if self.user_id else {}


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    key: str,
    created: int,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": f"evt_{key}_{event_type.replace('.', '_')}",
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{key}", "idempotency_key": None},
        "type": event_type,
    }


def price(s: Student) -> dict[str, Any]:
    interval = {"monthly": "month", "yearly": "year"}.get(s.plan)
    return {
        "id": f"price_{s.plan}",
        "object": "price",
        "lookup_key": s.plan,
        "metadata": {"plan": s.plan},
        "recurring": {"interval": interval} if interval else None,
        "type": "recurring" if interval else "one_time",
        "unit_amount": AMOUNT,
        "currency": "usd",
    }


def customer(s: Student) -> dict[str, Any]:
    return {"id": s.id("cus"), "object": "customer", "email": s.email, "metadata": s.metadata}


def checkout_session(s: Student, payment_status: str = "paid", status: str = "complete"):
    subscription_mode = s.plan != "lifetime"
    return {
        "id": s.id("cs"),
        "object": "checkout.session",
        "mode": "subscription" if subscription_mode else "payment",
        "payment_status": payment_status,
        "status": status,
        "client_reference_id": str(s.user_id) if s.user_id else None,
        "customer": s.id("cus"),
        "customer_details": {"email": s.email},
        "metadata": {**s.metadata, "plan": s.plan},
        "subscription": s.id("sub") if subscription_mode else None,
        "payment_intent": None if subscription_mode else s.id("pi"),
        "amount_total": AMOUNT,
        "currency": "usd",
    }


def subscription(s: Student, status: str = "active", **fields: Any) -> dict[str, Any]:
    return {
        "id": s.id("sub"),
        "object": "subscription",
        "customer": s.id("cus"),
        "status": status,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "canceled_at": None,
        "ended_at": None,
        "metadata": s.metadata,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": s.id("si"),
                    "object": "subscription_item",
                    "price": price(s),
                    "current_period_start": s.now,
                    "current_period_end": s.now + MONTH,
                }
            ],
        },
        **fields,
    }


def invoice(s: Student, status: str = "paid", **fields: Any) -> dict[str, Any]:
    return {
        "id": s.id("in"),
        "object": "invoice",
        "customer": s.id("cus"),
        "customer_email": s.email,
        "status": status,
        "billing_reason": "subscription_create",
        "amount_due": AMOUNT,
        "amount_paid": AMOUNT if status == "paid" else 0,
        "currency": "usd",
        "attempt_count": 1,
        "next_payment_attempt": None,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": s.id("sub"), "metadata": s.metadata},
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": s.id("il"),
                    "object": "line_item",
                    "amount": AMOUNT,
                    "pricing": {"price_details": {"price": price(s)["id"]}},
                    "period": {"start": s.now, "end": s.now + MONTH},
                }
            ],
        },
        **fields,
    }


def payment_intent(s: Student, status: str = "succeeded") -> dict[str, Any]:
    return {
        "id": s.id("pi"),
        "object": "payment_intent",
        "amount": AMOUNT,
        "amount_received": AMOUNT if status == "succeeded" else 0,
        "currency": "usd",
        "customer": s.id("cus"),
        "receipt_email": s.email,
        "status": status,
        "metadata": {**s.metadata, "plan": s.plan},
        "latest_charge": s.id("ch"),
    }


def charge(s: Student, **fields: Any) -> dict[str, Any]:
    return {
        "id": s.id("ch"),
        "object": "charge",
        "amount": AMOUNT,
        "amount_refunded": 0,
        "refunded": False,
        "currency": "usd",
        "customer": s.id("cus"),
        "payment_intent": s.id("pi"),
        "billing_details": {"email": s.email},
        "status": "succeeded",
        "metadata": s.metadata,
        **fields,
    }


def dispute(s: Student, status: str) -> dict[str, Any]:
    return {
        "id": s.id("dp"),
        "object": "dispute",
        "amount": AMOUNT,
        "currency": "usd",
        "charge": s.id("ch"),
        "payment_intent": s.id("pi"),
        "reason": "fraudulent",
        "status": status,
    }


def invoice_payment(s: Student) -> dict[str, Any]:
    """Since basil, the link from a payment intent (and so a charge) to its invoice."""
    return {
        "id": s.id("inpay"),
        "object": "invoice_payment",
        "amount_paid": AMOUNT,
        "amount_requested": AMOUNT,
        "currency": "usd",
        "invoice": s.id("in"),
        "is_default": True,
        "payment": {"type": "payment_intent", "payment_intent": s.id("pi")},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": s.now},
    }


def _period_end(s: Student) -> int:
    return s.now + MONTH


OBJECTS: dict[str, Callable[[Student], tuple[dict[str, Any], dict[str, Any] | None]]] = {
    "customer.created": lambda s: (customer(s), None),
    "customer.updated": lambda s: (customer(s), {"email": "old@example.com"}),
    "customer.deleted": lambda s: (customer(s), None),
    "checkout.session.completed": lambda s: (checkout_session(s), None),
    "checkout.session.async_payment_succeeded": lambda s: (checkout_session(s), None),
    "checkout.session.async_payment_failed": lambda s: (checkout_session(s, "unpaid"), None),
    "checkout.session.expired": lambda s: (checkout_session(s, "unpaid", "expired"), None),
    "customer.subscription.created": lambda s: (subscription(s), None),
    "customer.subscription.updated": lambda s: (
        subscription(s, cancel_at_period_end=True, cancel_at=_period_end(s)),
        {"cancel_at_period_end": False, "cancel_at": None},
    ),
    "customer.subscription.deleted": lambda s: (
        subscription(s, "canceled", canceled_at=s.now, ended_at=s.now),
        None,
    ),
    "customer.subscription.paused": lambda s: (subscription(s, "paused"), {"status": "active"}),
    "customer.subscription.resumed": lambda s: (subscription(s), {"status": "paused"}),
    "invoice.paid": lambda s: (invoice(s), None),
    "invoice.payment_succeeded": lambda s: (invoice(s), None),
    "invoice_payment.paid": lambda s: (invoice_payment(s), None),
    "invoice.payment_failed": lambda s: (
        invoice(s, "open", next_payment_attempt=s.now + 3 * 86400),
        None,
    ),
    "payment_intent.succeeded": lambda s: (payment_intent(s), None),
    "payment_intent.payment_failed": lambda s: (payment_intent(s, "requires_payment_method"), None),
    "charge.refunded": lambda s: (charge(s, refunded=True, amount_refunded=AMOUNT), None),
    "charge.dispute.created": lambda s: (dispute(s, "needs_response"), None),
    "charge.dispute.updated": lambda s: (dispute(s, "under_review"), {"status": "needs_response"}),
    "charge.dispute.closed": lambda s: (dispute(s, "lost"), None),
    "price.created": lambda s: (price(s) | {"id": s.id("price")}, None),
    "price.updated": lambda s: (price(s) | {"id": s.id("price")}, {"nickname": None}),
    "price.deleted": lambda s: (price(s) | {"id": s.id("price"), "active": False}, None),
}


def build(
    event_type: str,
    *,
    key: str,
    user_id: int | None,
    email: str,
    now: int,
    plan: str = "monthly",
) -> dict[str, Any]:
    """One event of `event_type` for this student; KeyError if we have no sample for it."""
    s = Student(key=key, user_id=user_id, email=email, now=now, plan=plan)
    obj, previous = OBJECTS[event_type](s)
    return event(event_type, obj, key=key, created=now, previous=previous)


def customer_journey(
    *, key: str, user_id: int | None, email: str, now: int, plan: str = "monthly"
) -> list[dict[str, Any]]:
    """Signup: customer, Checkout completed, subscription created, first invoice paid."""
    steps = [
        "customer.created",
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]
    events = [build(t, key=key, user_id=user_id, email=email, now=now, plan=plan) for t in steps]
    for offset, built in enumerate(events):
        built["created"] = now + offset
    return events
