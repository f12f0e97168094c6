"""The inbox's panel on the admin index: what support should look at first."""

from datetime import timedelta
from typing import Any

from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.permissions import permission

CAP = 10_000  # counts stop here, so the index page never scans a million rows


def panel(user: Any) -> list[tuple[str, str, str]]:
    """(label, value, link) rows, for a user who may view events."""
    if not user.has_perm(permission(WebhookEvent, "view")):
        return []
    events = reverse(admin_urlname(WebhookEvent._meta, "changelist"))
    rows = []
    for status in WebhookEvent.Status.values:
        count = WebhookEvent.objects.filter(status=status).order_by()[:CAP].count()
        rows.append((f"events {status}", _count(count), f"{events}?status__exact={status}"))
    day_ago = timezone.now() - timedelta(hours=24)
    failed = WebhookEvent.objects.filter(status="failed", received_at__gte=day_ago)
    rows.append(("failed in the last 24 h", _count(failed.order_by()[:CAP].count()), ""))
    oldest = WebhookEvent.objects.filter(status="pending").order_by("received_at").first()
    age = timesince(oldest.received_at) if oldest else "none pending"
    rows.append(("oldest pending event", age, f"{events}?status__exact=pending&o=7"))
    return rows


def _count(n: int) -> str:
    return f"{n:,}+" if n >= CAP else f"{n:,}"
