"""Queued processing (WEBHOOK_PROCESSING=queued) on Django's tasks API (django-tasks backport).

The endpoint records the event and enqueues `process_event` in one transaction, then answers
202: a 2xx still means the event is durably stored. Workers (`manage.py run_webhook_worker`)
run the task through the same `dispatch` and row lock as inline processing, so duplicates
racing between web processes and workers still apply their effects once.
"""

import logging
import random
import time
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import metrics
from bootwebhooks.inbox.dispatch import dispatch
from bootwebhooks.inbox.fields import printable
from bootwebhooks.inbox.models import Attempt, WebhookEvent

logger = logging.getLogger(__name__)


def enqueue(event_pk: int, attempt: int = 1, delay: float = 0) -> None:
    run_after = timezone.now() + timedelta(seconds=delay) if delay else None
    process_event.using(run_after=run_after).enqueue(event_pk, attempt)


@task()
def process_event(event_pk: int, attempt: int = 1) -> str:
    """Process the event after any older pending events of the same Stripe object.

    On failure, schedule the next try with exponential backoff and jitter until
    WEBHOOK_RETRY_LIMIT attempts; then the event stays `failed` for staff.
    """
    try:
        event = process_in_order(event_pk)
    except Exception:
        # Not a handler failure (those are recorded): the database went away, say. The event
        # is still pending and Stripe has its 202, so schedule the next try before giving up.
        _retry(event_pk, attempt)
        raise
    if event.status == WebhookEvent.Status.FAILED:
        _retry(event_pk, attempt)
    return event.status


def _retry(event_pk: int, attempt: int) -> None:
    if attempt >= app_settings.WEBHOOK_RETRY_LIMIT:
        return
    delay = backoff(attempt)
    metrics.RETRIES.inc()
    logger.info("stripe event pk=%s retry=%d in %.1fs", event_pk, attempt + 1, delay)
    try:
        enqueue(event_pk, attempt + 1, delay)
    except Exception:  # the queue is the database too: replay_webhook_events is the way back
        logger.exception("could not schedule a retry of event pk=%s", event_pk)


def process_in_order(event_pk: int) -> WebhookEvent:
    """Dispatch the event, first dispatching older pending events of the same object.

    A lock per object (customer, else object id) keeps two workers off the same customer, so
    its events are applied one at a time, oldest (Stripe's `created`, then id) first.
    """
    event = WebhookEvent.objects.get(pk=event_pk)
    key = event.customer_id or event.object_id
    with object_lock(key):
        older = (
            WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING)
            .filter(Q(customer_id=key) | Q(object_id=key) if key else Q(pk=None))
            .filter(
                Q(stripe_created__lt=event.stripe_created)
                | Q(stripe_created=event.stripe_created, stripe_id__lt=event.stripe_id)
            )
            .order_by("stripe_created", "stripe_id")
            .values_list("pk", flat=True)
        )
        for pk in older:
            dispatch(pk, trigger=Attempt.Trigger.WORKER)
        return dispatch(event_pk, trigger=Attempt.Trigger.WORKER)


class ObjectBusy(Exception):
    """Another worker has held the object's lock for longer than WEBHOOK_LOCK_TIMEOUT."""


class object_lock:
    """A PostgreSQL session advisory lock on a key; SQLite serialises writers anyway.

    Session-level, so it spans the several transactions of `process_in_order`, and is freed by
    the server if the worker dies. Taken with pg_try_advisory_lock, tried again until
    WEBHOOK_LOCK_TIMEOUT has passed: a stuck worker holding a customer makes the others give
    up (ObjectBusy: the task is retried later) instead of waiting behind it for ever.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.held = bool(key) and connection.vendor == "postgresql"

    def __enter__(self) -> None:
        if not self.held:
            return
        deadline = time.monotonic() + app_settings.WEBHOOK_LOCK_TIMEOUT
        with connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [self.key])
                if cursor.fetchone()[0]:
                    return
                if time.monotonic() >= deadline:
                    self.held = False
                    raise ObjectBusy(f"another worker holds {printable(self.key)}")
                time.sleep(_LOCK_POLL)

    def __exit__(self, *exc) -> None:
        if self.held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [self.key])


_LOCK_POLL = 0.05  # seconds between tries for an object's lock


def backoff(attempt: int) -> float:
    """Exponential with full jitter: a random delay up to base * 2^(attempt-1), capped."""
    ceiling = min(
        app_settings.WEBHOOK_RETRY_MAX_DELAY,
        app_settings.WEBHOOK_RETRY_BASE_DELAY * 2 ** (attempt - 1),
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311  (jitter, not security)


def requeue_stalled() -> int:
    """Re-enqueue events whose task has been running longer than WEBHOOK_TASK_TIMEOUT.

    A worker killed mid-event (kill -9) leaves its task row `RUNNING` forever and its event
    `pending` (the transaction died with it). Workers call this periodically.
    """
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(seconds=app_settings.WEBHOOK_TASK_TIMEOUT)
    requeued = 0
    with transaction.atomic():
        stalled = DBTaskResult.objects.select_for_update(skip_locked=True).filter(
            status=TaskResultStatus.RUNNING,
            started_at__lt=cutoff,
            task_path=process_event.module_path,
        )
        for result in stalled:
            result.set_failed(TimeoutError("worker died or exceeded WEBHOOK_TASK_TIMEOUT"))
            event_pk, attempt = result.args_kwargs["args"]
            enqueue(event_pk, attempt)
            requeued += 1
            logger.warning("requeued event pk=%s: its worker stopped mid-task", event_pk)
    return requeued
