"""The payments panel on the admin index: payers nobody has matched to a user yet, and
payments flagged for staff (an unknown price, an unknown dispute status)."""

from typing import Any

from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.db.models import Exists, OuterRef
from django.urls import reverse

from bootwebhooks.inbox.permissions import permission
from bootwebhooks.payments.models import Payment, StripeCustomer

CAP = 10_000


def panel(user: Any) -> list[tuple[str, str, str]]:
    """Each row for a user who may view what it counts (customers, payments)."""
    rows = []
    if user.has_perm(permission(StripeCustomer, "view")):
        waiting = Payment.objects.filter(customer_id=OuterRef("customer_id"), user__isnull=True)
        unmatched = StripeCustomer.objects.filter(user__isnull=True).filter(Exists(waiting))
        count = unmatched.order_by()[:CAP].count()
        link = reverse(admin_urlname(StripeCustomer._meta, "changelist")) + "?unmatched=yes"
        rows.append(("unmatched customers", _capped(count), link))
    if user.has_perm(permission(Payment, "view")):
        review = Payment.needing_review().order_by()[:CAP].count()
        link = reverse(admin_urlname(Payment._meta, "changelist")) + "?review=yes"
        rows.append(("payments to review", _capped(review), link))
    return rows


def _capped(count: int) -> str:
    return f"{count:,}+" if count >= CAP else f"{count:,}"
