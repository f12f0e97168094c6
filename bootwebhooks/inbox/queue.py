"""Queued processing (WEBHOOK_PROCESSING=queued) on Django's tasks API (django-tasks backport).

The endpoint records the event and enqueues `process_event` in one transaction, then answers
202: a 2xx still means the event is durably stored. Workers (`manage.py run_webhook_worker`)
take those tasks several at a time (`process_batch`) and run their events through the same
handlers and row lock as inline processing, so duplicates racing between web processes and
workers still apply their effects once. `process_event` itself runs one event per
transaction: for a task the batch cannot take, and for `.call()`.
"""

import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from traceback import format_exception
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus, task

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox import metrics
from bootwebhooks.inbox.dispatch import dispatch, dispatch_locked, is_lock_conflict
from bootwebhooks.inbox.fields import printable
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.timeouts import bounded

if TYPE_CHECKING:
    from django_tasks_db.models import DBTaskResult

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


@dataclass
class Batch:
    """What `process_batch` did with the tasks it took."""

    taken: int = 0
    finished: int = 0
    alone: list = field(default_factory=list)  # ids of tasks to run one per transaction


@dataclass(frozen=True)
class _Task:
    row: "DBTaskResult"
    event_pk: int
    attempt: int


def process_batch(ready: QuerySet, *, size: int, worker_id: str) -> Batch:
    """Take up to `size` of the `ready` tasks and process their events in one transaction.

    1. Lock the first task rows (`FOR UPDATE SKIP LOCKED`, in the queue's order), so other
       workers take the next ones. A task of another kind, or one whose arguments or event
       are not what `process_event` expects, is left to run alone (`Batch.alone`), as
       django-tasks-db runs any task.
    2. Try once for each event's customer (else object) lock, a transaction-level advisory
       lock, so no other worker processes that customer until this transaction ends.
    3. Lock, in one query, the rows of those events and of every other pending event of the
       customers locked, oldest first (Stripe's `created`, then id), at most `size` of them,
       and process them in that order (`dispatch_locked`). Handlers rarely fail, so the
       first pass has no savepoints; if anything raises, the transaction rolls back and the
       batch runs again with each event in a savepoint. There a handler that raises is
       recorded as its event's failure, retried with backoff, and the other events go on; a
       lock conflict leaves its event, and the newer ones of its customer, as they were.
    4. Finish the tasks whose event is final or was processed just now, and commit. Tasks not
       reached stay ready for the next batch. A worker killed before the commit leaves
       everything as it was, task rows included: the next worker takes them at once.
    5. Tasks whose customer another worker held stay ready for the next batch, while this
       one got something else done. Otherwise they are taken again in a second transaction
       that tries the locks every 50 ms for up to WEBHOOK_LOCK_TIMEOUT (by then the other
       worker has usually processed them), and those still held are rescheduled with backoff
       (ObjectBusy). So no worker idles behind another while there is other work, and none
       waits longer than the bound.

    If the careful pass fails too (a database error outside the handlers), every task it
    took is left to run alone, so one bad event costs the batch nothing but time.
    """
    batch, busy = _process_together(ready, size, worker_id, patience=None)
    if busy and not batch.finished:  # nothing else done: wait for them (else the next batch)
        patience = app_settings.WEBHOOK_LOCK_TIMEOUT
        again, _ = _process_together(ready.filter(pk__in=busy), size, worker_id, patience=patience)
        batch.finished += again.finished
        batch.alone += again.alone
    return batch


def _process_together(
    ready: QuerySet, size: int, worker_id: str, *, patience: float | None
) -> tuple[Batch, list]:
    """One step of `process_batch`: a transaction without savepoints, else one with them,
    else the tasks left to run alone. `patience` None: one try for each customer's lock, and
    the tasks of busy customers are returned; else seconds to keep trying before
    rescheduling them."""
    try:
        return _one_transaction(ready, size, worker_id, patience, careful=False)
    except _BatchFailed:
        logger.info("a batch of queued events stopped: again, each event in a savepoint")
    try:
        return _one_transaction(ready, size, worker_id, patience, careful=True)
    except _BatchFailed as failed:
        logger.exception("a batch of %d queued tasks failed: running them one by one", failed.taken)
        return Batch(taken=failed.taken, alone=failed.task_ids), []


class _BatchFailed(Exception):
    def __init__(self, rows: list) -> None:
        self.taken, self.task_ids = len(rows), [row.pk for row in rows]


def _one_transaction(
    ready: QuerySet, size: int, worker_id: str, patience: float | None, *, careful: bool
) -> tuple[Batch, list]:
    rows: list = []
    try:
        with transaction.atomic(), bounded():
            rows = list(ready.select_for_update(skip_locked=True)[:size])
            return _process_rows(rows, size, worker_id, patience, careful=careful)
    except Exception as exc:
        if not rows:
            raise  # no task taken: the database itself, as for db_worker
        raise _BatchFailed(rows) from exc


def _process_rows(
    rows: list, size: int, worker_id: str, patience: float | None, *, careful: bool
) -> tuple[Batch, list]:
    started = timezone.now()
    batch = Batch(taken=len(rows))
    by_event: dict[int, list[_Task]] = defaultdict(list)
    for row in rows:
        taken = _task(row)
        if taken is None:
            batch.alone.append(row.pk)
        else:
            by_event[taken.event_pk].append(taken)
    stored = {
        pk: (customer or obj, status)
        for pk, customer, obj, status in WebhookEvent.objects.filter(pk__in=by_event).values_list(
            "pk", "customer_id", "object_id", "status"
        )
    }
    for pk in set(by_event) - set(stored):  # gone: process_event says so, and retries
        batch.alone += [t.row.pk for t in by_event.pop(pk)]
    outcomes = {pk: status for pk, (_, status) in stored.items() if status in WebhookEvent.FINAL}
    keys = {stored[pk][0] for pk in by_event if pk not in outcomes} - {""}
    locked = _lock(keys, patience or 0) | {""}  # "": no customer, no object: its row lock only
    wanted = [pk for pk in by_event if pk not in outcomes and stored[pk][0] in locked]
    conflicts = _dispatch_in_order(wanted, locked - {""}, size, outcomes, careful=careful)

    succeeded: dict[str, list] = defaultdict(list)
    busy = []
    for pk, tasks in by_event.items():
        key, task_rows = stored[pk][0], [t.row for t in tasks]
        attempt = max(t.attempt for t in tasks)  # of a redelivery's task, or a retry's
        if pk in outcomes:
            succeeded[outcomes[pk]] += task_rows
            if outcomes[pk] == WebhookEvent.Status.FAILED:
                _retry(pk, attempt)
        elif pk in conflicts or (key not in locked and patience is not None):
            error = conflicts.get(pk) or ObjectBusy(f"another worker holds {printable(key)}")
            _finish(task_rows, started, worker_id, exc=error)
            _retry(pk, attempt)
        elif key not in locked:
            busy += [row.pk for row in task_rows]
            continue
        else:
            continue  # not reached (over `size`, or after a conflict): the task stays ready
        batch.finished += len(tasks)
    for status, task_rows in succeeded.items():
        _finish(task_rows, started, worker_id, status=status)
    return batch, busy


def _task(row: "DBTaskResult") -> _Task | None:
    """The row as a `process_event` task, or None if it is another kind or malformed."""
    if row.task_path != process_event.module_path:
        return None
    try:
        event_pk, attempt = _arguments(*row.args_kwargs["args"], **row.args_kwargs["kwargs"])
    except (KeyError, TypeError, ValueError):
        return None
    return _Task(row, event_pk, attempt)


def _arguments(event_pk: int, attempt: int = 1) -> tuple[int, int]:  # process_event's
    return int(event_pk), int(attempt)


def _lock(keys: set[str], patience: float) -> set[str]:
    """The keys whose transaction-level advisory lock this transaction now holds: one try
    each, then again every 50 ms for those another transaction holds, for up to `patience`
    seconds. Tries never wait, so two workers cannot deadlock on them. (SQLite serialises
    writers: every key.)"""
    if not keys or connection.vendor != "postgresql":
        return set(keys)
    deadline = time.monotonic() + patience
    locked: set[str] = set()
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT k FROM unnest(%s::text[]) AS k "
                "WHERE pg_try_advisory_xact_lock(hashtextextended(k, 0))",
                [sorted(keys - locked)],
            )
            locked.update(key for (key,) in cursor.fetchall())
            if locked == keys or time.monotonic() >= deadline:
                return locked
            time.sleep(_LOCK_POLL)


def _dispatch_in_order(
    pks: list[int], keys: set[str], size: int, outcomes: dict[int, str], *, careful: bool
) -> dict[int, Exception]:
    """Dispatch the events `pks` and the other pending events of `keys` (whose locks the
    transaction holds), oldest first, at most `size`; each outcome goes into `outcomes`.

    `careful`: each event in a savepoint; returns the events that met a lock conflict, after
    which their key's newer events wait. Otherwise the first failure of any kind raises (the
    caller rolls back and runs the batch again carefully): handlers rarely fail, and a
    savepoint costs two round trips per event."""
    if not pks and not keys:
        return {}
    theirs = Q(customer_id__in=keys) | Q(customer_id="", object_id__in=keys)
    events = (
        WebhookEvent.objects.select_for_update()
        .filter(Q(pk__in=pks) | Q(theirs, status=WebhookEvent.Status.PENDING))
        .order_by("stripe_created", "stripe_id")[:size]
    )
    conflicts: dict[int, Exception] = {}
    stuck: set[str] = set()
    for event in events:
        key = event.customer_id or event.object_id
        if key and key in stuck:
            continue
        try:
            dispatch_locked(event, trigger=Attempt.Trigger.WORKER, savepoint=careful)
        except Exception as exc:
            if not (careful and is_lock_conflict(exc)):
                raise
            logger.info("stripe event %s: %s, tried again later", printable(event.stripe_id), exc)
            conflicts[event.pk] = exc
            stuck.add(key)
            continue
        outcomes[event.pk] = event.status
    return conflicts


def _finish(
    rows: list,
    started: datetime,
    worker_id: str,
    *,
    status: str = "",
    exc: Exception | None = None,
) -> None:
    """As django-tasks-db's worker records tasks that returned `status`, or raised `exc`, for
    all of `rows` at once."""
    from django_tasks_db.models import DBTaskResult

    if exc is None:
        outcome = {"status": TaskResultStatus.SUCCESSFUL, "return_value": status}
        raised = {"exception_class_path": "", "traceback": ""}
    else:
        outcome = {"status": TaskResultStatus.FAILED, "return_value": None}
        raised = {
            "exception_class_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "traceback": "".join(format_exception(exc)),
        }
    DBTaskResult.objects.filter(pk__in=[row.pk for row in rows]).update(
        started_at=started,
        finished_at=timezone.now(),
        worker_ids=[worker_id],  # a ready task was never claimed before
        **outcome,
        **raised,
    )


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
