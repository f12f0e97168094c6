"""Processing a stored event: the one place handlers run, whoever asked (webhook, command,
staff retry)."""

import logging
import re
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, models, transaction
from django.utils import timezone

from bootwebhooks.inbox import metrics
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.registry import registry

logger = logging.getLogger(__name__)


def dispatch(
    event_pk: int,
    *,
    trigger: Attempt.Trigger,
    user: AbstractBaseUser | None = None,
    force: bool = False,
    note: str = "",
) -> WebhookEvent:
    """Run the event's handlers and record the outcome, all in one transaction.

    1. Lock the event row. Concurrent deliveries, retries and workers of the same event queue
       up here; whoever comes second finds the event final and returns without running
       anything.
    2. Run every handler for its type, in order, inside a savepoint.
    3. If one raises, roll the savepoint back (no handler's effects survive) and mark the event
       failed with the traceback; otherwise mark it processed (or superseded).
    4. Record the attempt and commit. A crash before the commit leaves the event as it was.

    `force` re-runs an event that is already final (a replay); handlers are idempotent, and the
    lock keeps it from interleaving with a redelivery of the same event.
    """
    started = timezone.now()
    clock = time.perf_counter()
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in WebhookEvent.FINAL and not force:
            return event
        outcome, error, trace = _run_handlers(event)
        finished = timezone.now()
        event.status = outcome
        event.processed_at = None if outcome == Attempt.Outcome.FAILED else finished
        event.attempt_count += 1
        event.save(update_fields=["status", "processed_at", "attempt_count"])
        Attempt.objects.create(
            event=event,
            trigger=trigger,
            user=user,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            error=error,
            traceback=trace,
            note=note,
        )
    elapsed = time.perf_counter() - clock
    metrics.PROCESSING.labels(event.type).observe(elapsed)
    logger.info(
        "stripe event %s type=%s status=%s trigger=%s duration_ms=%.1f",
        event.stripe_id,
        event.type,
        event.status,
        trigger,
        elapsed * 1000,
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


@dataclass
class Preview:
    """What dispatching an event would do, seen from inside a transaction then rolled back."""

    outcome: str
    error: str
    writes: dict[str, Counter] = field(default_factory=dict)  # table -> {"insert": 2, ...}
    effects: list[str] = field(default_factory=list)  # rows that point back to the event

    def describe(self) -> str:
        tables = ", ".join(
            f"{table} " + "/".join(f"{op} {n}" for op, n in sorted(ops.items()))
            for table, ops in sorted(self.writes.items())
        )
        text = f"would be {self.outcome}" + (f" ({self.error})" if self.error else "")
        return f"{text}; writes: {tables or 'none'}" + "".join(f"\n  {e}" for e in self.effects)


class _RollBack(Exception):
    pass


_WRITE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


def preview(event_pk: int) -> Preview:
    """Run the event's handlers (even if it is final) and roll everything back.

    Under the same row lock as `dispatch`, so a preview never overlaps a real run.
    """
    writes: dict[str, Counter] = defaultdict(Counter)
    inbox_tables = {WebhookEvent._meta.db_table, Attempt._meta.db_table}

    def observe(execute, sql, params, many, context):
        match = _WRITE.match(sql)
        if match and match[2] not in inbox_tables:
            writes[match[2]][match[1].split()[0].lower()] += 1
        return execute(sql, params, many, context)

    result = None
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
            with connection.execute_wrapper(observe):
                outcome, error, _ = _run_handlers(event)
            effects = [f"{obj._meta.verbose_name}: {obj}" for obj in caused_by(event)]
            result = Preview(outcome, error, dict(writes), effects)
            raise _RollBack
    except _RollBack:
        pass
    assert result is not None
    return result


def caused_by(event: WebhookEvent) -> list[models.Model]:
    """Rows of consumer apps that point back to this event (payments, membership changes)."""
    found = []
    for relation in WebhookEvent.consumer_relations():
        if not relation.one_to_many:
            continue
        related = relation.related_model._default_manager.filter(**{relation.field.name: event})
        found.extend(related[:50])
    return found
