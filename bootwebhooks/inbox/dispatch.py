"""Processing a stored event: the one place handlers run, whoever asked (webhook, command,
staff retry)."""

import logging
import time
import traceback

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.registry import registry

logger = logging.getLogger(__name__)


def dispatch(
    event_pk: int,
    *,
    trigger: Attempt.Trigger,
    user: AbstractBaseUser | None = None,
) -> WebhookEvent:
    """Run the event's handlers and record the outcome, all in one transaction.

    1. Lock the event row. Concurrent deliveries, retries and workers of the same event queue
       up here; whoever comes second finds the event final and returns without running
       anything.
    2. Run every handler for its type, in order, inside a savepoint.
    3. If one raises, roll the savepoint back (no handler's effects survive) and mark the event
       failed with the traceback; otherwise mark it processed (or superseded).
    4. Record the attempt and commit. A crash before the commit leaves the event as it was.
    """
    started = timezone.now()
    clock = time.perf_counter()
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in WebhookEvent.FINAL:
            return event
        outcome, error, trace = _run_handlers(event)
        finished = timezone.now()
        event.status = outcome
        event.processed_at = None if outcome == Attempt.Outcome.FAILED else finished
        event.save(update_fields=["status", "processed_at"])
        Attempt.objects.create(
            event=event,
            trigger=trigger,
            user=user,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            error=error,
            traceback=trace,
        )
    logger.info(
        "stripe event %s type=%s status=%s trigger=%s duration_ms=%.1f",
        event.stripe_id,
        event.type,
        event.status,
        trigger,
        (time.perf_counter() - clock) * 1000,
    )
    return event


def _run_handlers(event: WebhookEvent) -> tuple[str, str, str]:
    handlers = registry.handlers_for(event.type)
    if not handlers:
        return Attempt.Outcome.IGNORED, "", ""
    try:
        with transaction.atomic():
            results = [handler(event) for handler in handlers]
    except Exception as exc:
        logger.warning("stripe event %s: handler failed: %r", event.stripe_id, exc)
        return Attempt.Outcome.FAILED, f"{type(exc).__name__}: {exc}", traceback.format_exc()
    if Attempt.Outcome.SUPERSEDED in results:
        return Attempt.Outcome.SUPERSEDED, "", ""
    return Attempt.Outcome.PROCESSED, "", ""
