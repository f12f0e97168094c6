"""The price catalogue: recording prices, and resolving what invoices and subscriptions buy.

Every price object a payload carries is kept (`Price`), newest snapshot first, so that a basil
invoice line, which names only its price id, still finds its lookup key and product. A payment
whose price the catalogue did not know waits as `unknown` (flagged for staff, granting
nothing) and is resolved as soon as the price arrives, whichever event brings it.
"""

import functools
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection

from bootwebhooks.inbox import statements
from bootwebhooks.inbox.fields import is_object_id
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.payments import plans, shapes
from bootwebhooks.payments.models import Payment, Price
from bootwebhooks.payments.plans import PriceFacts, Product

logger = logging.getLogger(__name__)


def record(
    price: dict[str, Any],
    *,
    at: datetime,
    source_id: str,
    event: WebhookEvent | None = None,
    deleted: bool = False,
) -> tuple[bool, set[int]]:
    """Keep `price` in the catalogue (unless a newer snapshot is held) and resolve the payments
    that waited for it. Returns whether the snapshot was taken, and the users whose payments
    it resolved (their access needs deriving again)."""
    price_id = price.get("id")
    if not isinstance(price_id, str) or not price_id or len(price_id) > 255:
        return False, set()
    row = Price.locked(price_id)
    taken = row.apply_snapshot(price, at=at, source_id=source_id, event=event, deleted=deleted)
    return taken, (resolve_waiting(price_id, event) if taken else set())


def record_embedded(prices: Iterable[dict[str, Any]], event: WebhookEvent) -> None:
    """The price objects a subscription, a pre-basil invoice or a Checkout carries."""
    for price in prices:
        if not holds(price):
            record(price, at=event.stripe_created, source_id=event.stripe_id, event=event)


def holds(price: dict[str, Any]) -> bool:
    """Whether the catalogue holds `price` exactly as given and no payment waits for a price:
    then an embedded copy changes nothing, and is not written. One read, no lock.

    Every subscription of a plan embeds the same price, so writing each copy made every
    member's events queue on that one row. Not writing it leaves the snapshot's time where
    it was: docs/RULES.md ("The price catalogue's order") says what that allows.
    """
    price_id = price.get("id")
    if not is_object_id(price_id):  # left to `record`, which says why it cannot be stored
        return False
    snapshot = Price.snapshot(price)
    read = (_holds_sql(tuple(snapshot)), [Product.UNKNOWN, price_id])
    with connection.cursor() as cursor:
        (rows,) = statements.read_each(cursor, [read])  # prepared where it can be
    row = rows[0] if rows else None
    if row is None or row[-1]:  # missing, or a payment waits
        return False
    return dict(zip(snapshot, row[:-1], strict=True)) == snapshot


@functools.cache
def _holds_sql(names: tuple[str, ...]) -> str:
    """`holds`' one read, written out (composing it through the ORM cost more CPU than
    PostgreSQL spends running it): the snapshot's columns and whether a payment waits."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(Price._meta.get_field(name).column) for name in names)
    product = quote(Payment._meta.get_field("product").column)
    return (
        f"SELECT {columns}, EXISTS (SELECT 1 FROM {quote(Payment._meta.db_table)} "  # noqa: S608
        f"WHERE {product} = %s) FROM {quote(Price._meta.db_table)} "
        f"WHERE {quote(Price._meta.get_field('price_id').column)} = %s"
    )


def resolve_waiting(price_id: str, event: WebhookEvent | None) -> set[int]:
    """Payments that named `price_id` while it was unknown: resolve them now; returns their
    users. Only `unknown` payments are scanned: there are few (each is flagged for staff)."""
    unknown = Payment.objects.filter(product=Product.UNKNOWN).values_list("pk", "price_ids")
    naming = [pk for pk, price_ids in unknown if price_id in price_ids]
    users = set()
    waiting = Payment.objects.filter(pk__in=naming, product=Product.UNKNOWN)
    for payment in waiting.select_for_update().order_by("pk"):
        payment.plan, payment.product = resolve_prices(payment.price_ids, [], {})
        if payment.product == Product.UNKNOWN:
            continue
        payment.last_event = event or payment.last_event
        statements.save(payment, ["plan", "product", "last_event", "updated_at"])
        if payment.user_id is not None:
            users.add(payment.user_id)
    return users


def invoice_prices(invoice: dict[str, Any], event: WebhookEvent) -> tuple[list[str], list[str]]:
    """(price ids, product ids) of the invoice's paying lines; embedded prices are recorded."""
    price_ids, product_ids = [], []
    for line in shapes.invoice_lines(invoice):
        price_id, product_id, embedded = shapes.line_price(line)
        if embedded is not None:
            record_embedded([embedded], event)
        if price_id:
            price_ids.append(price_id)
            product_ids.append(product_id)
    return price_ids, product_ids


def prices_read(price_ids: list[str]) -> statements.Read:
    """The catalogue's rows of these prices (at least one), as a read that can share a query
    with others (`statements.read_all`)."""
    return statements.selecting(Price, *statements.among(Price, "price_id", price_ids))


def resolve_prices(
    price_ids: list[str],
    product_ids: list[str],
    metadata: dict[str, Any],
    *,
    known: list[Price] | None = None,
) -> tuple[str, Product]:
    """(plan, product) of what these prices buy, through the catalogue where a payload gave
    only an id; `known` are the catalogue's rows of them if the caller read them already."""
    if known is None:
        (known,) = statements.read_all([prices_read(price_ids)]) if price_ids else ([],)
    by_id = {p.price_id: p for p in known}
    facts, unknown = [], False
    for index, price_id in enumerate(price_ids):
        product_id = product_ids[index] if index < len(product_ids) else ""
        row = by_id.get(price_id)
        if row is not None:
            facts.append(PriceFacts(price_id, row.product_id or product_id, row.lookup_key))
            continue
        fact = PriceFacts(price_id, product_id, "")
        unknown = unknown or not plans.plan_for_price(fact)
        facts.append(fact)
    return plans.resolve(facts, metadata, unknown=unknown)


def flag_unknown(payment: Payment) -> None:
    """A paid payment nobody can tell the product of: never granted or denied silently."""
    if payment.paid and payment.product == Product.UNKNOWN:
        logger.warning(
            "payment %s is paid but names prices the catalogue does not know (%s): flagged "
            "for staff; run sync_stripe_prices or map them in MEMBERSHIP_PLAN_PRICES",
            payment.stripe_id,
            ", ".join(payment.price_ids) or "none",
        )
