"""Comparing memberships with what Stripe's API says now, and repairing the difference.

Reads each member's customers' subscriptions from Stripe (never on the webhook path), mirrors
them into dj-stripe's models for browsing, and reports where the local facts differ. Applying
feeds Stripe's current subscription through the webhook's own path as a synthetic
`customer.subscription.updated` event (source `command`), so the same rules decide and the
membership history names that event.
"""

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import stripe
from django.contrib.auth.models import AbstractBaseUser

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox.ingest import ingest_batch, parse_event
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.models import Membership
from bootwebhooks.payments import shapes
from bootwebhooks.payments.models import StripeCustomer, Subscription

logger = logging.getLogger(__name__)
COMPARED = ("status", "current_period_end", "cancel_at_period_end")


@dataclass(frozen=True)
class Drift:
    user: str
    customer_id: str
    subscription_id: str
    field: str
    local: Any
    stripe: Any

    def row(self) -> dict[str, str]:
        return {k: "" if v is None else str(v) for k, v in self.__dict__.items()}


def stripe_subscriptions(client: stripe.StripeClient, customer_id: str) -> list[dict[str, Any]]:
    """Every subscription of the customer, in any status, as plain dicts (newest first)."""
    page = client.v1.subscriptions.list(
        params={"customer": customer_id, "status": "all", "limit": 100}
    )
    return [sub.to_dict() for sub in page.auto_paging_iter()]


def compare(user: AbstractBaseUser, customer_id: str, subs: list[dict[str, Any]]) -> list[Drift]:
    """Where our subscription facts differ from Stripe's current ones."""
    drifts = []
    for sub in subs:
        ours = Subscription.objects.filter(subscription_id=sub["id"]).first()
        _, end = shapes.subscription_period(sub, stripe.api_version)
        theirs = {
            "status": sub.get("status") or "",
            "current_period_end": end,
            "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        }
        for field in COMPARED:
            local = getattr(ours, field) if ours else None
            if ours is None or local != theirs[field]:
                drifts.append(Drift(str(user), customer_id, sub["id"], field, local, theirs[field]))
                if ours is None:
                    break  # one row says it is missing altogether
    return drifts


def apply(subscription: dict[str, Any]) -> str:
    """Bring local facts to Stripe's: its current state as a snapshot newer than any event."""
    now = int(time.time())
    event = {
        "id": f"evt_reconcile_{subscription['id']}_{now}",
        "object": "event",
        "api_version": stripe.api_version,
        "created": now,
        "data": {"object": subscription},
        "livemode": bool(subscription.get("livemode")),
        "type": "customer.subscription.updated",
        "request": {"id": None, "idempotency_key": None},
    }
    [receipt] = ingest_batch([parse_event(json.dumps(event))], source=WebhookEvent.Source.COMMAND)
    return receipt.status if receipt else "already stored"


def mirror(customer_id: str, subs: list[dict[str, Any]]) -> None:
    """Copy the customer and subscriptions into dj-stripe's tables, for the admin.

    dj-stripe fetches related objects (account, products) itself, through stripe-python's
    global settings. A failure here is logged, never fatal: the comparison does not need it.
    """
    from djstripe.models import Customer
    from djstripe.models import Subscription as MirroredSubscription

    stripe.api_base = app_settings.STRIPE_API_BASE
    key = app_settings.STRIPE_API_KEY
    try:
        Customer.sync_from_stripe_data(
            stripe.Customer.retrieve(customer_id, api_key=key), api_key=key
        )
        for sub in subs:
            MirroredSubscription.sync_from_stripe_data(
                stripe.Subscription.construct_from(sub, key), api_key=key
            )
    except Exception:
        logger.exception("could not mirror %s into dj-stripe", customer_id)


def members_to_check(user_ids: list[int] | None = None):
    memberships = Membership.objects.select_related("user").order_by("pk")
    if user_ids:
        memberships = memberships.filter(user_id__in=user_ids)
    return memberships


def customers_of(membership: Membership) -> list[str]:
    return list(
        StripeCustomer.objects.filter(user_id=membership.user_id, deleted_at__isnull=True)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
    )
