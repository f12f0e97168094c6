"""`/healthz` for load balancers and `/metrics` for Prometheus."""

import hmac
import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import metrics as counters
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.timeouts import bounded


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and no event has waited too long; else 503 with why.

    Public (a load balancer asks), so it says only that: no counts, no ages. /metrics has the
    numbers. Its one query reads no locked row (a plain SELECT never waits on row locks in
    PostgreSQL) and is bounded like the webhook's (inbox.timeouts).
    """
    cutoff = timezone.now() - timedelta(seconds=app_settings.HEALTH_MAX_PENDING_AGE)
    try:
        with bounded():
            stuck = WebhookEvent.objects.filter(
                status=WebhookEvent.Status.PENDING, received_at__lt=cutoff
            ).exists()
    except DatabaseError:
        return _health("the database did not answer")
    if stuck:
        return _health(f"an event has waited more than {app_settings.HEALTH_MAX_PENDING_AGE} s")
    return JsonResponse({"status": "ok"})


def _health(reason: str) -> JsonResponse:
    return JsonResponse({"status": "unhealthy", "reason": reason}, status=503)


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
    """With METRICS_TOKEN set, only that bearer token. Without it, a client in
    METRICS_ALLOWED_NETWORKS (when set; loopback under DEBUG), never through a proxy: behind a
    reverse proxy on the same host every client would look like 127.0.0.1."""
    token = app_settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    if any(header in request.headers for header in _PROXY_HEADERS):
        return False
    networks = app_settings.METRICS_ALLOWED_NETWORKS or (_LOOPBACK if settings.DEBUG else [])
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(n) for n in networks)


_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-Ip")
_LOOPBACK = ["127.0.0.0/8", "::1/128"]
