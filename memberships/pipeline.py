"""Which steps run for which Stripe event type, in order: the one table.

Every event of a type below runs its steps in one transaction, left to right: first payments
records what the payload says (facts), then memberships re-derives the access of every user
those facts belong to. A type not listed is stored `ignored`. The inbox runs the steps
(bootwebhooks/inbox/dispatch.py); this module hands it the table when the memberships app
loads. Payments never imports memberships: the table lives here, on top of both.
"""

from collections.abc import Callable

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.registry import Registry, registry
from bootwebhooks.memberships.services import refresh_for_event
from bootwebhooks.payments import handlers as facts
from bootwebhooks.payments.customers import touched_users

Step = Callable[[WebhookEvent], object]


def refresh_access(event: WebhookEvent) -> None:
    """Re-derive the access of every user whose facts the event touched."""
    refresh_for_event(event, touched_users(event))


# fmt: off
PIPELINE: tuple[tuple[str, tuple[Step, ...]], ...] = (
    ("checkout.session.completed",               (facts.record_checkout, refresh_access)),
    ("checkout.session.async_payment_succeeded", (facts.record_checkout, refresh_access)),
    ("checkout.session.async_payment_failed",    (facts.record_checkout, refresh_access)),
    ("invoice.paid",                             (facts.record_invoice, refresh_access)),
    ("invoice.payment_succeeded",                (facts.record_invoice, refresh_access)),
    ("invoice.payment_failed",                   (facts.record_invoice, refresh_access)),
    ("invoice_payment.paid",                     (facts.link_invoice_payment, refresh_access)),
    ("customer.subscription.created",            (facts.record_subscription, refresh_access)),
    ("customer.subscription.updated",            (facts.record_subscription, refresh_access)),
    ("customer.subscription.deleted",            (facts.record_subscription, refresh_access)),
    ("customer.subscription.paused",             (facts.record_subscription, refresh_access)),
    ("customer.subscription.resumed",            (facts.record_subscription, refresh_access)),
    ("charge.refunded",                          (facts.record_refund, refresh_access)),
    ("charge.dispute.created",                   (facts.record_dispute, refresh_access)),
    ("charge.dispute.updated",                   (facts.record_dispute, refresh_access)),
    ("charge.dispute.closed",                    (facts.record_dispute, refresh_access)),
    ("customer.deleted",                         (facts.unlink_deleted_customer, refresh_access)),
    ("price.created",                            (facts.record_price, refresh_access)),
    ("price.updated",                            (facts.record_price, refresh_access)),
    ("price.deleted",                            (facts.record_price, refresh_access)),
)
# fmt: on


def register(into: Registry = registry) -> None:
    """Hand the table to the inbox; an unknown type, or a type listed twice, raises."""
    for event_type, steps in PIPELINE:
        for step in steps:
            into.add(event_type, step)
