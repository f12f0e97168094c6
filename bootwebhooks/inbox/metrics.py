"""Prometheus metrics. Counters live in each process; under gunicorn set
PROMETHEUS_MULTIPROC_DIR (an empty directory per deploy) so /metrics adds up all workers.
The queue depth is read from the database at scrape time, so it is right across machines."""

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

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


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    database = CollectorRegistry(auto_describe=False)
    database.register(QueueDepth())
    return generate_latest(counters) + generate_latest(database)
