"""`/healthz` for load balancers and `/metrics` for Prometheus."""

import hmac
import ipaddress
from datetime import timedelta

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import metrics as counters
from bootwebhooks.inbox.models import WebhookEvent


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and no event has waited too long; else 503."""
    try:
        oldest = (
            WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING)
            .order_by("received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        hour_ago = timezone.now() - timedelta(hours=1)
        failures = (
            WebhookEvent.objects.filter(
                status=WebhookEvent.Status.FAILED, received_at__gte=hour_ago
            )
            .order_by()[:10_000]
            .count()
        )
    except DatabaseError:
        return JsonResponse({"status": "unhealthy", "database": "unreachable"}, status=503)
    age = (timezone.now() - oldest).total_seconds() if oldest else None
    stuck = age is not None and age > app_settings.HEALTH_MAX_PENDING_AGE
    body = {
        "status": "unhealthy" if stuck else "ok",
        "database": "ok",
        "oldest_pending_seconds": round(age, 1) if age is not None else None,
        "failures_last_hour": failures,
    }
    return JsonResponse(body, status=503 if stuck else 200)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a bearer token or an allowed network (settings); 404
    without prometheus-client (the `metrics` extra)."""
    if not counters.ENABLED:
        return HttpResponse("metrics need prometheus-client: pip install 'bootwebhooks[metrics]'\n",
                            status=404, content_type="text/plain")  # fmt: skip
    if not _may_scrape(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(counters.exposition(), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: HttpRequest) -> bool:
    token = app_settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(n) for n in app_settings.METRICS_ALLOWED_NETWORKS)
