"""How the admin writes times, days, amounts and errors: one format each, everywhere.

Stored values are never shown raw (`2026-12-02 04:28:50.999782+00:00`, `1500`): a support
person reads `2 Dec 2026 04:28:50 UTC` and `15.00 USD`.
"""

from datetime import datetime

from django.utils import timezone
from django.utils.dateformat import format as date_format

# Django's date-format letters; the demo's FORMAT_MODULE_PATH (bootwebhooks/formats/) makes the
# admin's own date fields use the same ones.
DATETIME_FORMAT = "j M Y H:i:s T"
DATE_FORMAT = "j M Y"

# Stripe amounts are in the currency's minor unit, except in these zero-decimal currencies
# (Stripe's "Zero-decimal currencies" list; UGX and ISK are special-cased there too).
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def when(value: datetime | None, empty: str = "-") -> str:
    """`2 Dec 2026 04:28:50 UTC`: to the second, with the time zone, in the current one."""
    if value is None:
        return empty
    return date_format(timezone.localtime(value), DATETIME_FORMAT)


def day(value: datetime | None, empty: str = "-") -> str:
    """`2 Jan 2027`, the day in the current time zone."""
    if value is None:
        return empty
    return date_format(timezone.localtime(value), DATE_FORMAT)


def money(amount: int | None, currency: str) -> str:
    """`15.00 USD` from Stripe's minor units."""
    if amount is None:
        return "-"
    code = (currency or "").lower()
    places = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    value = amount / 10**places
    return f"{value:,.{places}f} {code.upper()}".strip()


def first_line(text: str, limit: int = 120) -> str:
    """The first non-empty line of an error, cut to `limit` characters."""
    line = next((line.strip() for line in (text or "").splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def sentence(*parts: str) -> str:
    """Parts joined into one sentence that ends with exactly one period."""
    text = " ".join(part.strip() for part in parts if part and part.strip())
    return text.rstrip(".") + "." if text else ""


def span(start: datetime | None, end: datetime | None) -> str:
    """`1 Dec 2026 to 1 Jan 2027`."""
    return f"{day(start)} to {day(end)}"
