"""Which membership plan a Stripe price (or a one-off Checkout) stands for, if any.

Only membership products grant access. A plan comes from, in order: the price id or product id
in MEMBERSHIP_PLAN_PRICES, the price's lookup key in MEMBERSHIP_PLAN_LOOKUP_KEYS, then
`metadata.plan` where it names a configured plan. Anything else is a fact about some other
product (a donation, a T-shirt, a newsletter): recorded, never granting. There is no fallback
on the billing interval: a monthly newsletter is not a monthly membership.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models

from bootwebhooks.conf import app_settings

MONTHLY = "monthly"
YEARLY = "yearly"
LIFETIME = "lifetime"
PLANS = (MONTHLY, YEARLY, LIFETIME)

# What a one-off (payment mode) purchase of a time-limited plan covers; lifetime covers all.
ONE_OFF_DAYS = {MONTHLY: 31, YEARLY: 366}


class Product(models.TextChoices):
    """What a payment or subscription is for, as far as memberships are concerned."""

    MEMBERSHIP = "membership", "membership product"
    OTHER = "other", "not a membership product"
    UNKNOWN = "unknown", "unknown price: needs review"


@dataclass(frozen=True)
class PriceFacts:
    """What plan resolution needs to know about one price."""

    price_id: str = ""
    product_id: str = ""
    lookup_key: str = ""

    @classmethod
    def of(cls, price: dict[str, Any]) -> "PriceFacts":
        """From an embedded price object (or a dict with the same keys)."""
        product = price.get("product")
        if isinstance(product, dict):  # expanded
            product = product.get("id")
        return cls(
            price_id=_text(price.get("id")),
            product_id=_text(product),
            lookup_key=_text(price.get("lookup_key")),
        )


def configured_plans() -> set[str]:
    """The plans this site sells: the values of its price and lookup-key maps, and the one-off
    plan if set."""
    return {
        *app_settings.MEMBERSHIP_PLAN_PRICES.values(),
        *app_settings.MEMBERSHIP_PLAN_LOOKUP_KEYS.values(),
        app_settings.MEMBERSHIP_ONE_OFF_PLAN,
    } - {""}


def plan_for_price(price: PriceFacts) -> str:
    """The plan a price is, by MEMBERSHIP_PLAN_PRICES then MEMBERSHIP_PLAN_LOOKUP_KEYS; ""."""
    by_id = app_settings.MEMBERSHIP_PLAN_PRICES
    for key in (price.price_id, price.product_id):
        if key and key in by_id:
            return by_id[key]
    return (
        app_settings.MEMBERSHIP_PLAN_LOOKUP_KEYS.get(price.lookup_key, "")
        if price.lookup_key
        else ""
    )


def metadata_plan(metadata: dict[str, Any] | None) -> str | None:
    """The configured plan `metadata.plan` names; "" if it names something else (a T-shirt);
    None if it names nothing."""
    named = (metadata or {}).get("plan")
    if not isinstance(named, str) or not named.strip():
        return None
    return named if named in configured_plans() else ""


def resolve(
    prices: list[PriceFacts], metadata: dict[str, Any] | None, *, unknown: bool = False
) -> tuple[str, Product]:
    """(plan, product) from the prices bought and the metadata.

    `unknown` says some price could not be looked at (a basil invoice line names only its
    price id, and the catalogue has not seen it): unless the metadata names a plan, the
    answer is then UNKNOWN rather than OTHER, for staff to review.
    """
    for price in prices:
        if plan := plan_for_price(price):
            return plan, Product.MEMBERSHIP
    if plan := metadata_plan(metadata):
        return plan, Product.MEMBERSHIP
    return "", Product.UNKNOWN if unknown else Product.OTHER


def one_off(metadata: dict[str, Any] | None) -> tuple[str, Product]:
    """A payment-mode Checkout (no line items in the payload) buys `metadata.plan` if it names
    a configured plan, else MEMBERSHIP_ONE_OFF_PLAN (empty by default: nothing)."""
    named = metadata_plan(metadata)
    if named:
        return named, Product.MEMBERSHIP
    if named is None and app_settings.MEMBERSHIP_ONE_OFF_PLAN:
        return app_settings.MEMBERSHIP_ONE_OFF_PLAN, Product.MEMBERSHIP
    return "", Product.OTHER


def one_off_period_end(plan: str, paid_at: datetime) -> datetime | None:
    """End of what a one-off payment for `plan` buys; None for lifetime (and for no plan)."""
    days = ONE_OFF_DAYS.get(plan)
    return paid_at + timedelta(days=days) if days else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
