"""The payments panel on the admin index: payers nobody has matched to a user yet."""

from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.db.models import Exists, OuterRef
from django.urls import reverse

from bootwebhooks.payments.models import Payment, StripeCustomer

CAP = 10_000


def panel() -> list[tuple[str, str, str]]:
    waiting = Payment.objects.filter(customer_id=OuterRef("customer_id"), user__isnull=True)
    unmatched = StripeCustomer.objects.filter(user__isnull=True).filter(Exists(waiting))
    count = unmatched.order_by()[:CAP].count()
    link = reverse(admin_urlname(StripeCustomer._meta, "changelist")) + "?unmatched=yes"
    return [("unmatched customers", f"{count:,}+" if count >= CAP else f"{count:,}", link)]
