"""Processing a stored event: the one place handlers run, whoever asked (webhook, command,
staff retry)."""

import logging
import re
import time
import traceback
from collections import Counter, defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, models, transaction
from django.utils import timezone

from bootwebhooks.inbox import metrics, signals, statements
from bootwebhooks.inbox.fields import printable
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.registry import registry
from bootwebhooks.inbox.scope import NO_HANDLER, refusal
from bootwebhooks.inbox.signals import send_on_commit
from bootwebhooks.inbox.timeouts import bounded

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
    2. Run every handler for its type, in order.
    3. If one raises, undo every handler's effects and mark the event failed with the
       traceback: in our own transaction by rolling it back and recording the failure in a new
       one (under the lock again: if another delivery finished the event in between, that
       outcome stands); inside a caller's transaction by rolling back a savepoint. Otherwise
       mark it processed (or superseded).
    4. Record the attempt and commit. A crash before the commit leaves the event as it was.

    `force` re-runs an event that is already final (a replay); handlers are idempotent, and the
    lock keeps it from interleaving with a redelivery of the same event.

    Its own transactions are bounded (inbox.timeouts): a lock held elsewhere for too long, or a
    statement running too long, raises a database error `is_lock_conflict` recognises, with
    everything rolled back and the event as it was. That is not the event's fault, so it is
    not recorded as a failure: the caller answers 503 (the webhook) or tries again later.
    """
    started = timezone.now()
    clock = time.perf_counter()
    # Our own transaction (a webhook, a worker) needs no savepoint around the handlers: if one
    # fails, the whole transaction rolls back and the failure is recorded in a fresh one. Inside
    # a caller's transaction (an import chunk) a savepoint keeps the caller's work.
    own = not connection.in_atomic_block
    try:
        with transaction.atomic():
            with bounded() if own else nullcontext():
                event = WebhookEvent.locked(event_pk)
            if event.status in WebhookEvent.FINAL and not force:
                return event
            _apply(event, trigger, user, started, note, savepoint=not own)
    except _HandlersFailed as failed:
        with transaction.atomic(), bounded():
            event = WebhookEvent.locked(event_pk)
            if event.status in WebhookEvent.FINAL and not force:
                return event  # another delivery finished it in between
            _record(event, Attempt.Outcome.FAILED, failed.error, failed.trace, trigger, user,
                    started, note)  # fmt: skip
    _log(event, trigger, time.perf_counter() - clock)
    return event


def dispatch_locked(
    event: WebhookEvent, *, trigger: Attempt.Trigger, savepoint: bool = True
) -> WebhookEvent:
    """`dispatch` for a caller that processes several events in one transaction (queued mode's
    workers) and has already locked this event's row (`select_for_update`) in it.

    Unless the event is final, run its handlers and record the outcome in the caller's
    transaction, which the caller bounds. In a savepoint, a handler that raises is recorded as
    a failure without undoing the caller's other events, and a lock conflict
    (`is_lock_conflict`) raises with the savepoint rolled back and the event as it was.
    Without one (two round trips fewer), any exception propagates and the caller must roll
    back its whole transaction, then may run the events again with savepoints.
    """
    if event.status in WebhookEvent.FINAL:
        return event
    started, clock = timezone.now(), time.perf_counter()
    _apply(event, trigger, None, started, "", savepoint=savepoint)
    elapsed = time.perf_counter() - clock
    transaction.on_commit(lambda: _log(event, trigger, elapsed))  # what was committed
    return event


def _apply(
    event: WebhookEvent,
    trigger: Attempt.Trigger,
    user: AbstractBaseUser | None,
    started: datetime,
    note: str,
    *,
    savepoint: bool,
) -> None:
    if reason := refusal(livemode=event.livemode, account=event.account):
        # Stored before the scope changed, or replayed: still not ours to act on.
        event.ignored_reason = reason
        outcome, error, trace = Attempt.Outcome.IGNORED, "", ""
    else:
        outcome, error, trace = _run_handlers(event, savepoint=savepoint)
    _record(event, outcome, error, trace, trigger, user, started, note)


def _log(event: WebhookEvent, trigger: Attempt.Trigger, elapsed: float) -> None:
    metrics.labelled(metrics.PROCESSING, event.type).observe(elapsed)
    logger.info(
        "stripe event %s type=%s status=%s trigger=%s duration_ms=%.1f",
        printable(event.stripe_id),
        event.type,
        event.status,
        trigger,
        elapsed * 1000,
    )


def _record(
    event: WebhookEvent,
    outcome: str,
    error: str,
    trace: str,
    trigger: Attempt.Trigger,
    user: AbstractBaseUser | None,
    started: datetime,
    note: str,
) -> None:
    finished = timezone.now()
    event.status = outcome
    event.processed_at = None if outcome == Attempt.Outcome.FAILED else finished
    event.attempt_count += 1
    if outcome != Attempt.Outcome.IGNORED:
        event.ignored_reason = ""
    elif not event.ignored_reason:
        event.ignored_reason = NO_HANDLER
    attempt = Attempt(
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
    _save_outcome(event, attempt)
    failed = outcome == Attempt.Outcome.FAILED
    details = {"error": error} if failed else {}
    send_on_commit(
        signals.event_failed if failed else signals.event_processed,
        WebhookEvent,
        event=event,
        type=event.type,
        outcome=outcome,
        trigger=trigger,
        **details,
    )


_OUTCOME_FIELDS = ("status", "processed_at", "attempt_count", "ignored_reason")


def _save_outcome(event: WebhookEvent, attempt: Attempt) -> None:
    """The event's new status and its attempt: one round trip where the driver sends both
    statements as one query (inbox.statements); written out, as every processed event pays
    for them."""
    with connection.cursor() as cursor:
        statements.send(
            cursor, [statements.update(event, _OUTCOME_FIELDS), statements.insert(attempt)]
        )


def is_lock_conflict(exc: BaseException) -> bool:
    """PostgreSQL failed this transaction to break a lock cycle, for a serialisation conflict,
    or because a lock or statement timeout ran out: nothing is wrong with the event, and
    running it again later works."""
    return any(statements.sqlstate(e) in _LOCK_CONFLICTS for e in (exc, exc.__cause__))


# SQLSTATEs (read from the driver's exception, so no driver is imported off PostgreSQL):
# deadlock_detected, serialization_failure, lock_not_available (lock_timeout),
# query_canceled (statement_timeout).
_LOCK_CONFLICTS = frozenset({"40P01", "40001", "55P03", "57014"})


class _HandlersFailed(Exception):
    """A handler raised outside any savepoint: the transaction must roll back whole first."""

    def __init__(self, error: str, trace: str) -> None:
        super().__init__(error)
        self.error, self.trace = error, trace


def _run_handlers(event: WebhookEvent, *, savepoint: bool = True) -> tuple[str, str, str]:
    handlers = registry.handlers_for(event.type)
    if not handlers:
        return Attempt.Outcome.IGNORED, "", ""
    try:
        with transaction.atomic() if savepoint else nullcontext():
            results = [handler(event) for handler in handlers]
    except Exception as exc:
        if is_lock_conflict(exc):
            raise  # not the event's fault: the transaction rolls back, to be run again
        logger.warning("stripe event %s: handler failed: %r", printable(event.stripe_id), exc)
        error, trace = f"{type(exc).__name__}: {exc}", traceback.format_exc()
        if not savepoint:
            raise _HandlersFailed(error, trace) from exc
        return Attempt.Outcome.FAILED, error, trace
    if Attempt.Outcome.SUPERSEDED in results:
        return Attempt.Outcome.SUPERSEDED, "", ""
    return Attempt.Outcome.PROCESSED, "", ""


@dataclass
class Preview:
    """What dispatching an event would do, seen from inside a transaction then rolled back."""

    outcome: str
    error: str
    writes: dict[str, Counter] = field(default_factory=dict)  # table -> {"insert": 2, ...}
    effects: list[str] = field(default_factory=list)  # in words, one per row it would change

    @property
    def headline(self) -> str:
        return f"Would be {self.outcome}" + (f": {self.error}" if self.error else "")

    def tables(self) -> str:
        """The database writes, for operators: `table insert 1/update 2, ...`."""
        return ", ".join(
            f"{table} " + "/".join(f"{op} {n}" for op, n in sorted(ops.items()))
            for table, ops in sorted(self.writes.items())
        )

    def describe(self) -> str:
        text = f"would be {self.outcome}" + (f" ({self.error})" if self.error else "")
        return f"{text}; writes: {self.tables() or 'none'}" + "".join(
            f"\n  {e}" for e in self.effects
        )


def effect_words(obj: models.Model) -> str:
    """What a row pointing back to an event says it records, in words (its model's
    `describe_effect()`), else its kind and name."""
    describe = getattr(obj, "describe_effect", None)
    return describe() if callable(describe) else f"{obj._meta.verbose_name}: {obj}"


class _RollBack(Exception):
    pass


# INSERT OR IGNORE INTO: SQLite's spelling of ON CONFLICT DO NOTHING (bulk_create). Each
# statement of a query counts (inbox.statements sends several in one).
_WRITE = re.compile(
    r'(?:^|;)\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE
)


def preview(event_pk: int) -> Preview:
    """Run the event's handlers (even if it is final) and roll everything back.

    Under the same row lock as `dispatch`, so a preview never overlaps a real run, and with
    the same bounds: a lock held elsewhere raises instead of holding the admin page.
    """
    writes: dict[str, Counter] = defaultdict(Counter)
    inbox_tables = {WebhookEvent._meta.db_table, Attempt._meta.db_table}

    def observe(execute, sql, params, many, context):
        for match in _WRITE.finditer(sql):
            if match[2] not in inbox_tables:
                writes[match[2]][match[1].split()[0].lower()] += 1
        return execute(sql, params, many, context)

    result = None
    try:
        with transaction.atomic():
            with bounded():
                event = WebhookEvent.locked(event_pk)
            # Handlers may add words about what a run leaves as it was ("access stays until
            # ..."), which no row records; only a preview sets the list, so a real run pays
            # nothing for it.
            event.preview_notes = []
            # Written out, not prepared: `observe` reads the statements' text.
            with statements.unprepared(), connection.execute_wrapper(observe):
                outcome, error, _ = _run_handlers(event)
            effects = [effect_words(obj) for obj in caused_by(event)] + event.preview_notes
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
