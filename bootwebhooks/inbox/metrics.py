"""Prometheus metrics. Counters live in each process; under gunicorn set
PROMETHEUS_MULTIPROC_DIR (an empty directory per deploy) so /metrics adds up all workers.
The queue depth is read from the database at scrape time, so it is right across machines.

prometheus-client is the `metrics` extra: without it every metric here counts nothing and
/metrics answers 404, while the webhook works the same.
"""

import functools
import os
from typing import Any

from django.utils import timezone

try:
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Histogram,
        generate_latest,
        multiprocess,
    )
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import REGISTRY, Collector

    ENABLED = True
except ImportError:  # the `metrics` extra is not installed
    ENABLED = False


class Off:
    """Stands in for a counter or histogram when prometheus-client is not installed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def labels(self, *values: str) -> "Off":
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, value: float) -> None:
        pass


if not ENABLED:
    Counter = Histogram = Off  # type: ignore[assignment,misc]
    Collector = object  # type: ignore[assignment,misc]

EVENTS = Counter(
    "bootwebhooks_events",
    "Stripe event deliveries by type and outcome (processed, ignored, failed, superseded, "
    "queued, duplicate).",
    ["type", "outcome"],
)
REJECTED = Counter(
    "bootwebhooks_rejected_requests", "Deliveries refused before storing.", ["reason"]
)
SIGNATURE_FAILURES = Counter(
    "bootwebhooks_signature_failures", "Deliveries refused for their Stripe-Signature."
)
PROCESSING = Histogram(
    "bootwebhooks_processing_seconds",
    "Time to run an event's handlers and commit, by type.",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETRIES = Counter("bootwebhooks_retries", "Automatic retries scheduled by queue workers.")


@functools.lru_cache(maxsize=1024)
def labelled(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, looked up once: every delivery counts itself, and the
    look-up (a lock, a tuple of the labels made strings) cost as much as the count. The
    labels are event types and outcomes, a few hundred at most; beyond the cache's size a
    child is simply looked up again. A child removed from its metric (`remove()`, `clear()`)
    would go on counting unseen here: nothing removes any."""
    return metric.labels(*labels)


DEPTH_CAP = 100_000


class QueueDepth(Collector):
    def collect(self):
        from bootwebhooks.inbox.models import WebhookEvent

        pending = WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING)
        gauge = GaugeMetricFamily(
            "bootwebhooks_queue_depth",
            f"Events stored but not yet processed (counted up to {DEPTH_CAP}).",
        )
        gauge.add_metric([], pending.order_by()[:DEPTH_CAP].count())
        yield gauge
        oldest = pending.order_by("received_at").values_list("received_at", flat=True).first()
        age = GaugeMetricFamily(
            "bootwebhooks_oldest_pending_seconds",
            "How long the oldest pending event has waited (0: none pending).",
        )
        age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0)
        yield age


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    database = CollectorRegistry(auto_describe=False)
    database.register(QueueDepth())
    return generate_latest(counters) + generate_latest(database)
