"""Recording what each event says about customers, subscriptions, payments and charges.

These are steps of the pipeline (memberships/pipeline.py says which run for which event type,
in what order). Every step reads the payload only (no Stripe API call) and merges it into the
facts in payments.models; the memberships app then derives access from those facts. A step
returns SUPERSEDED when its snapshot is older than what is applied; whatever it carried that only
ever grows (a customer's user, a charge's link to its payment) is still kept.
"""

import logging
from typing import Any

from bootwebhooks.inbox import statements
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.payments import catalogue, plans, shapes
from bootwebhooks.payments.customers import claim
from bootwebhooks.payments.models import Charge, Payment, StripeCustomer, Subscription
from bootwebhooks.payments.plans import PriceFacts, Product

logger = logging.getLogger(__name__)

SUPERSEDED = Attempt.Outcome.SUPERSEDED
PAID_CHECKOUT = frozenset({"paid", "no_payment_required"})


def record_checkout(event: WebhookEvent) -> Attempt.Outcome | None:
    session = event.object
    metadata = session.get("metadata") or {}
    user_id = claim(
        event.customer_id,
        email=(session.get("customer_details") or {}).get("email") or "",
        client_reference_id=session.get("client_reference_id"),
        metadata=metadata,
    )
    catalogue.record_embedded(shapes.checkout_prices(session), event)
    paid = event.type.endswith("async_payment_succeeded") or (
        event.type.endswith("completed") and session.get("payment_status") in PAID_CHECKOUT
    )
    if session.get("mode") == "subscription":
        return _checkout_subscription(event, session, user_id, paid)
    if session.get("mode") == "payment":
        return _checkout_payment(event, session, user_id, paid)
    return None  # setup mode: nothing is paid


def _checkout_payment(
    event: WebhookEvent, session: dict[str, Any], user_id: Any, paid: bool
) -> Attempt.Outcome | None:
    metadata = session.get("metadata") or {}
    payment_intent = _id(session.get("payment_intent"))
    payment = Payment.locked(payment_intent or session["id"], Payment.Kind.ONE_OFF)
    _own(payment, event.customer_id, user_id)
    payment.payment_intent_id = payment_intent or payment.payment_intent_id
    changed = payment.apply_outcome(paid=paid, failed=event.type.endswith("async_payment_failed"))
    if changed is not None:  # an older snapshot (a failure after the payment) changes nothing
        payment.amount = session.get("amount_total") or payment.amount
        payment.currency = session.get("currency") or payment.currency
        payment.plan, payment.product = _checkout_product(session, metadata)
        payment.period_start = shapes.timestamp(session.get("created"))
        if payment.period_start:
            payment.period_end = plans.one_off_period_end(payment.plan, payment.period_start)
    payment.settle(event, changed=bool(changed))
    return SUPERSEDED if changed is None else None


def _checkout_product(session: dict[str, Any], metadata: dict[str, Any]) -> tuple[str, Product]:
    """Line items (only when a payload carries them expanded), else the metadata and
    MEMBERSHIP_ONE_OFF_PLAN."""
    prices = shapes.checkout_prices(session)
    plan, product = plans.resolve([PriceFacts.of(price) for price in prices], metadata)
    return (plan, product) if plan else plans.one_off(metadata)


def _checkout_subscription(
    event: WebhookEvent, session: dict[str, Any], user_id: Any, paid: bool
) -> None:
    subscription_id = _id(session.get("subscription"))
    if not subscription_id:
        return None
    subscription = Subscription.locked(subscription_id)
    _own(subscription, event.customer_id, user_id)
    if not subscription.status:  # its own snapshot, with its items, has not arrived
        # Until then only the Checkout's metadata can say what it sells.
        named = plans.metadata_plan(session.get("metadata"))
        subscription.plan = named or ""
        subscription.product = Product.OTHER if named == "" else Product.UNKNOWN
    if paid:
        subscription.mark_checkout_paid(event, event.stripe_created)
    statements.save(subscription)
    return None


def record_invoice(event: WebhookEvent) -> Attempt.Outcome | None:
    """`invoice.paid` and `invoice.payment_succeeded` describe the same invoice: the payment is
    keyed on the invoice id, so whichever comes second changes nothing."""
    invoice, version = event.object, event.api_version
    metadata = shapes.invoice_metadata(invoice, version)
    user_id = claim(event.customer_id, email=invoice.get("customer_email") or "", metadata=metadata)
    # Prices before the payment: a price event locks its price, then the payments naming it.
    price_ids, product_ids = catalogue.invoice_prices(invoice, event)
    payment = Payment.locked(invoice["id"], Payment.Kind.INVOICE)
    _own(payment, event.customer_id, user_id)
    # Links only ever get filled in, whatever the snapshot's age.
    payment.subscription_id = shapes.invoice_subscription(invoice, version) or (
        payment.subscription_id
    )
    payment.payment_intent_id = shapes.invoice_payment_intent(invoice, version) or (
        payment.payment_intent_id
    )
    changed = payment.apply_outcome(
        paid=shapes.invoice_is_paid(invoice, version),
        failed=event.type == "invoice.payment_failed",
    )
    if changed is not None:  # an older snapshot (a failure after the payment) changes nothing
        payment.amount = invoice.get("amount_due") or payment.amount
        payment.currency = invoice.get("currency") or payment.currency
        payment.price_ids = price_ids or payment.price_ids
    # What its plan and its refunds need, in one query: its charges, the catalogue's prices.
    reads = [payment.charges_read()]
    if changed is not None and payment.price_ids:
        reads.append(catalogue.prices_read(payment.price_ids))
    charges, *prices = statements.read_all(reads)
    if changed is not None:
        payment.plan, payment.product = catalogue.resolve_prices(
            payment.price_ids,
            product_ids if price_ids else [],
            metadata,
            known=prices[0] if prices else [],
        )
        payment.period_start, payment.period_end = shapes.invoice_period(invoice)
        if not payment.subscription_id and payment.period_start:
            # A one-off invoice's lines have no service period: the plan says what it buys.
            payment.period_end = plans.one_off_period_end(payment.plan, payment.period_start)
    payment.settle(event, changed=bool(changed), charges=charges)
    catalogue.flag_unknown(payment)
    return SUPERSEDED if changed is None else None


def link_invoice_payment(event: WebhookEvent) -> None:
    """Since basil this is the only place a payload ties a payment intent to its invoice,
    which refunds and disputes (they name the payment intent) need."""
    invoice_payment = event.object
    invoice_id = _id(invoice_payment.get("invoice"))
    payment_intent = _id((invoice_payment.get("payment") or {}).get("payment_intent"))
    if not (invoice_id and payment_intent):
        return None
    payment = Payment.locked(invoice_id, Payment.Kind.INVOICE)
    changed = payment.payment_intent_id != payment_intent
    payment.payment_intent_id = payment_intent
    payment.settle(event, changed=changed)
    return None


def record_subscription(event: WebhookEvent) -> Attempt.Outcome | None:
    sub = event.object
    metadata = sub.get("metadata") or {}
    user_id = claim(event.customer_id, metadata=metadata)
    prices = shapes.subscription_prices(sub)
    catalogue.record_embedded(prices, event)
    subscription = Subscription.locked(sub["id"])
    _own(subscription, event.customer_id, user_id)
    start, end = shapes.subscription_period(sub, event.api_version)
    cancel_at = shapes.timestamp(sub.get("cancel_at"))
    plan, product = plans.resolve([PriceFacts.of(price) for price in prices], metadata)
    applied = subscription.apply_snapshot(
        event,
        status=sub.get("status") or "",
        plan=plan,
        product=product,
        started_at=shapes.timestamp(sub.get("created")),
        current_period_start=start,
        current_period_end=end,
        # Newer API versions schedule the same thing as `cancel_at` at the period end.
        cancel_at_period_end=bool(sub.get("cancel_at_period_end"))
        or bool(cancel_at and end and cancel_at <= end),
        ended_at=shapes.timestamp(sub.get("ended_at")),
    )
    if applied:
        return None
    statements.save(subscription, ["customer_id", "user"])
    return SUPERSEDED


def record_refund(event: WebhookEvent) -> Attempt.Outcome | None:
    """A full refund marks the payment refunded (which revokes its access if
    MEMBERSHIP_REFUND_REVOKES); a partial one is only recorded."""
    charge = event.object
    row = _charge(event, charge["id"], charge.get("payment_intent"))
    row.invoice_id = shapes.charge_invoice(charge, event.api_version) or row.invoice_id
    row.customer_id = event.customer_id or row.customer_id
    changed = row.apply_refund(
        event,
        amount_refunded=charge.get("amount_refunded") or 0,
        refunded=charge.get("refunded") is True,
    )
    statements.save(row)
    _settle_payments(row, event, changed=bool(changed))
    return SUPERSEDED if changed is None else None


def record_dispute(event: WebhookEvent) -> Attempt.Outcome | None:
    dispute = event.object
    row = _charge(event, _id(dispute.get("charge")), dispute.get("payment_intent"))
    status = dispute.get("status") if isinstance(dispute.get("status"), str) else ""
    applied = row.apply_dispute(event, status)
    if applied and row.dispute == Payment.Dispute.UNKNOWN:
        logger.warning(
            "dispute %s of charge %s has status %r, unknown here: flagged for staff; it "
            "neither suspends nor revokes access",
            dispute.get("id"),
            row.charge_id,
            status,
        )
    statements.save(row)
    _settle_payments(row, event, changed=applied)
    return None if applied else SUPERSEDED


def record_price(event: WebhookEvent) -> Attempt.Outcome | None:
    """`price.created` / `updated` / `deleted`: the catalogue (a deleted price is kept)."""
    taken, _ = catalogue.record(
        event.object,
        at=event.stripe_created,
        source_id=event.stripe_id,
        event=event,
        deleted=event.type == "price.deleted",
    )
    return None if taken else SUPERSEDED


def unlink_deleted_customer(event: WebhookEvent) -> None:
    customer = StripeCustomer.locked(event.object["id"])
    if customer.deleted_at is None:
        customer.mark_deleted(event.stripe_created, event.object.get("email") or "")


def _own(row: Payment | Subscription, customer_id: str, user_id: Any) -> None:
    """Fill in whose it is; a fact already owned keeps its owner (only staff move it)."""
    row.customer_id = row.customer_id or customer_id
    if row.user_id is None and user_id is not None:
        row.user_id = user_id


def _charge(event: WebhookEvent, charge_id: str, payment_intent: Any) -> Charge:
    row = Charge.locked(charge_id or f"unknown:{event.object_id}")
    row.payment_intent_id = _id(payment_intent) or row.payment_intent_id
    return row


def _settle_payments(charge: Charge, event: WebhookEvent, *, changed: bool) -> None:
    for payment in charge.payments().select_for_update():
        payment.settle(event, changed=changed)


def _id(value: Any) -> str:
    if isinstance(value, dict):  # expanded
        value = value.get("id")
    return value if isinstance(value, str) else ""
