"""Which membership plan a Stripe price (or a one-off Checkout) stands for."""

from datetime import datetime, timedelta
from typing import Any

from bootwebhooks.conf import app_settings

MONTHLY = "monthly"
YEARLY = "yearly"
LIFETIME = "lifetime"

# What a one-off (payment mode) purchase of a time-limited plan covers; lifetime covers all.
ONE_OFF_DAYS = {MONTHLY: 31, YEARLY: 366}
_INTERVALS = {"month": MONTHLY, "year": YEARLY}


def plan_for_lookup_key(lookup_key: str | None) -> str:
    return app_settings.MEMBERSHIP_PLAN_LOOKUP_KEYS.get(lookup_key or "", "")


def plan_for_prices(prices: list[dict[str, Any]], metadata: dict[str, Any]) -> str:
    """The price's lookup key first (mapped by setting), then `metadata.plan`, then the interval."""
    for price in prices:
        if plan := plan_for_lookup_key(price.get("lookup_key")):
            return plan
    if metadata.get("plan"):
        return str(metadata["plan"])
    for price in prices:
        interval = (price.get("recurring") or {}).get("interval")
        if interval in _INTERVALS:
            return _INTERVALS[interval]
    return ""


def one_off_plan(metadata: dict[str, Any]) -> str:
    """A payment-mode Checkout buys `metadata.plan`, or MEMBERSHIP_ONE_OFF_PLAN if it names none."""
    plan = metadata.get("plan")
    return plan if plan in (MONTHLY, YEARLY, LIFETIME) else app_settings.MEMBERSHIP_ONE_OFF_PLAN


def one_off_period_end(plan: str, paid_at: datetime) -> datetime | None:
    """End of what a one-off payment for `plan` buys; None for lifetime."""
    return None if plan == LIFETIME else paid_at + timedelta(days=ONE_OFF_DAYS[plan])
