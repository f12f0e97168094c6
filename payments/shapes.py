"""Reading the fields that moved in Stripe's basil release (2025-03-31), from either shape.

An endpoint renders every payload in its own pinned API version, so one deployment can see
both shapes at once. Each event says which one it carries (`api_version`); a payload without
one (a hand-made import) is read by what it contains.
"""

from datetime import UTC, datetime
from typing import Any

BASIL = "2025-03-31"

Obj = dict[str, Any]


def is_legacy(api_version: str, obj: Obj, legacy_field: str) -> bool:
    if api_version:
        return api_version < BASIL
    return legacy_field in obj


def timestamp(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def subscription_period(sub: Obj, api_version: str) -> tuple[datetime | None, datetime | None]:
    """(start, end) of the current period: per item since basil, at the top before."""
    if is_legacy(api_version, sub, "current_period_end"):
        return timestamp(sub.get("current_period_start")), timestamp(sub.get("current_period_end"))
    items = (sub.get("items") or {}).get("data") or []
    starts = [t for t in (timestamp(i.get("current_period_start")) for i in items) if t]
    ends = [t for t in (timestamp(i.get("current_period_end")) for i in items) if t]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def invoice_subscription(invoice: Obj, api_version: str) -> str:
    if is_legacy(api_version, invoice, "paid"):
        return _id(invoice.get("subscription"))
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription"))


def invoice_metadata(invoice: Obj, api_version: str) -> Obj:
    """The subscription's metadata as copied onto the invoice (where apps put `user_id`)."""
    if is_legacy(api_version, invoice, "paid"):
        details = invoice.get("subscription_details") or {}
    else:
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return {**(details.get("metadata") or {}), **(invoice.get("metadata") or {})}


def invoice_is_paid(invoice: Obj, api_version: str) -> bool:
    if is_legacy(api_version, invoice, "paid") and invoice.get("paid") is True:
        return True
    return invoice.get("status") == "paid"


def invoice_payment_intent(invoice: Obj, api_version: str) -> str:
    """Only pre-basil invoices name their payment intent; since basil, `invoice_payment.paid`."""
    if is_legacy(api_version, invoice, "paid"):
        return _id(invoice.get("payment_intent"))
    return ""


def invoice_lines(invoice: Obj) -> list[Obj]:
    """The lines that pay for something: a credit line (a negative amount, such as the unused
    time of a replaced price after a plan change) pays for nothing and extends nothing."""
    lines = (invoice.get("lines") or {}).get("data") or []
    return [line for line in lines if isinstance(line, dict) and _amount(line) >= 0]


def invoice_period(invoice: Obj) -> tuple[datetime | None, datetime | None]:
    """The service period the lines pay for (NOT `invoice.period_*`, which is the billing run)."""
    lines = invoice_lines(invoice)
    starts = [
        t for t in (timestamp((line.get("period") or {}).get("start")) for line in lines) if t
    ]
    ends = [t for t in (timestamp((line.get("period") or {}).get("end")) for line in lines) if t]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def line_price(line: Obj) -> tuple[str, str, Obj | None]:
    """(price id, product id, the embedded price object if any) of an invoice line.

    Before basil a line embeds its price (`line.price`, with `lookup_key`); since basil it
    names only the ids (`line.pricing.price_details`, Stripe's changelog for 2025-03-31.basil),
    which the price catalogue resolves.
    """
    # Versions older still name a `plan` (Stripe's predecessor of prices) where there is none.
    price = line.get("price") or line.get("plan")
    if isinstance(price, dict):
        product = price.get("product")
        return _id(price), _id(product), price
    details = (line.get("pricing") or {}).get("price_details") or {}
    price = details.get("price")  # an object only where expanded (clover and later)
    embedded = price if isinstance(price, dict) else None
    return _id(price), _id(details.get("product")), embedded


def subscription_prices(sub: Obj) -> list[Obj]:
    items = (sub.get("items") or {}).get("data") or []
    prices = [item.get("price") or item.get("plan") for item in items]
    return [price for price in prices if isinstance(price, dict)]


def checkout_prices(session: Obj) -> list[Obj]:
    """The prices of a Checkout's line items, when the payload carries them (expanded)."""
    items = (session.get("line_items") or {}).get("data") or []
    return [item.get("price") for item in items if isinstance(item.get("price"), dict)]


def charge_invoice(charge: Obj, api_version: str) -> str:
    if is_legacy(api_version, charge, "invoice"):
        return _id(charge.get("invoice"))
    return ""


def _amount(line: Obj) -> int:
    amount = line.get("amount")
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else 0


def _id(value: Any) -> str:
    if isinstance(value, dict):  # expanded
        value = value.get("id")
    return value if isinstance(value, str) else ""
