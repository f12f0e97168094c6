"""Realistic Stripe events (basil shapes, shared/STRIPE.md) for the demo and test deliveries.

`customer_journey()` is one student's signup as Stripe would send it: a customer, the Checkout
session, the subscription, its first paid invoice. Ids derive from `key` so a second run sends
the same events again (which the inbox counts as redeliveries).
"""

from typing import Any

API_VERSION = "2026-10-28.endive"
MONTH = 30 * 24 * 3600


def event(event_type: str, obj: dict[str, Any], *, key: str, created: int) -> dict[str, Any]:
    return {
        "id": f"evt_{key}_{event_type.replace('.', '_')}",
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{key}", "idempotency_key": None},
        "type": event_type,
    }


def customer_journey(
    *, key: str, user_id: int, email: str, now: int, plan: str = "monthly"
) -> list[dict[str, Any]]:
    customer, subscription = f"cus_{key}", f"sub_{key}"
    invoice, period_end = f"in_{key}", now + MONTH
    price = {
        "id": f"price_{plan}",
        "object": "price",
        "lookup_key": plan,
        "metadata": {},
        "recurring": {"interval": "month" if plan == "monthly" else "year"},
        "unit_amount": 1500,
        "currency": "usd",
    }
    return [
        event(
            "customer.created",
            {"id": customer, "object": "customer", "email": email, "metadata": {}},
            key=key,
            created=now,
        ),
        event(
            "checkout.session.completed",
            {
                "id": f"cs_{key}",
                "object": "checkout.session",
                "mode": "subscription",
                "payment_status": "paid",
                "status": "complete",
                "client_reference_id": str(user_id),
                "customer": customer,
                "customer_details": {"email": email},
                "metadata": {"user_id": str(user_id), "plan": plan},
                "subscription": subscription,
                "payment_intent": None,
                "amount_total": 1500,
                "currency": "usd",
            },
            key=key,
            created=now + 1,
        ),
        event(
            "customer.subscription.created",
            {
                "id": subscription,
                "object": "subscription",
                "customer": customer,
                "status": "active",
                "cancel_at_period_end": False,
                "cancel_at": None,
                "ended_at": None,
                "metadata": {"user_id": str(user_id)},
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": f"si_{key}",
                            "object": "subscription_item",
                            "price": price,
                            "current_period_start": now,
                            "current_period_end": period_end,
                        }
                    ],
                },
            },
            key=key,
            created=now + 1,
        ),
        event(
            "invoice.paid",
            {
                "id": invoice,
                "object": "invoice",
                "customer": customer,
                "customer_email": email,
                "status": "paid",
                "billing_reason": "subscription_create",
                "amount_paid": 1500,
                "currency": "usd",
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": subscription, "metadata": {}},
                },
                "lines": {
                    "object": "list",
                    "data": [
                        {
                            "id": f"il_{key}",
                            "object": "line_item",
                            "amount": 1500,
                            "pricing": {"price_details": {"price": price["id"]}},
                            "period": {"start": now, "end": period_end},
                        }
                    ],
                },
            },
            key=key,
            created=now + 2,
        ),
    ]
