import re
from datetime import timedelta

import pytest
from django.utils import timezone

from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import mark_effect
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if match and ",".join(sorted((match[1] or "").split(","))) == wanted:
            return float(match[2])
    return 0.0


def test_healthz_says_only_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_is_503_when_an_event_waits_too_long_and_says_why_without_numbers(
    client, settings, handlers
):
    handlers.handles("invoice.paid")(mark_effect)
    settings.HEALTH_MAX_PENDING_AGE = 60
    post_event(client, make_event("invoice.paid"))
    WebhookEvent.objects.update(status="pending", received_at=timezone.now() - timedelta(hours=2))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unhealthy",
        "reason": "an event has waited more than 60 s",
    }


def test_healthz_publishes_no_failure_count(client, handlers):
    @handlers.handles("invoice.paid")
    def explode(event):
        raise RuntimeError

    post_event(client, make_event("invoice.paid"))
    assert client.get("/healthz").json() == {"status": "ok"}


def test_metrics_count_outcomes_rejections_and_queue_depth(client, handlers, settings):
    settings.METRICS_TOKEN = "scrape-me"
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer scrape-me"
    handlers.handles("invoice.paid")(mark_effect)
    before = client.get("/metrics").content.decode()
    event = make_event("invoice.paid")
    post_event(client, event)
    post_event(client, event)
    post_event(client, make_event("invoice.paid"), header="t=1,v1=00")
    post_event(client, make_event("charge.refunded"))
    WebhookEvent.objects.filter(type="charge.refunded").update(status="pending")

    after = client.get("/metrics").content.decode()

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("bootwebhooks_events_total", type="invoice.paid", outcome="processed") == 1
    assert grew("bootwebhooks_events_total", type="invoice.paid", outcome="duplicate") == 1
    assert grew("bootwebhooks_signature_failures_total") == 1
    assert grew("bootwebhooks_rejected_requests_total", reason="signature") == 1
    assert grew("bootwebhooks_processing_seconds_count", type="invoice.paid") == 1
    assert sample(after, "bootwebhooks_queue_depth") == 1


def test_metrics_are_refused_outside_the_allowed_networks(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = "127.0.0.1/32"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_metrics_need_the_token_once_one_is_set(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me", REMOTE_ADDR="10.1.2.3")
    assert ok.status_code == 200
