"""Queued workers take several events per transaction (`queue.process_batch`) and keep what one
event per transaction guaranteed: each event applied once, each customer's events oldest first
(Stripe's `created`, then id), a failure confined to its event, bounded waits, and a customer
another worker holds left to it."""

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from bootwebhooks.inbox import queue
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event, post_event
from tests.worker_app.apps import slow_effect
from tests.workers import ROOT, WORKER, customers_locked, work, worker_env

pytestmark = pytest.mark.usefixtures("queued_mode")


def customer_event(customer: str, created: int) -> dict:
    product = {"id": f"prod_{customer}_{created}", "object": "product", "customer": customer}
    return make_event("product.created", product, created=created)


def deliver(*events: dict) -> None:
    for event in events:
        assert post_event(Client(), event).status_code == 202


def oldest_first(events: list[dict]) -> list[str]:
    return [e["id"] for e in sorted(events, key=lambda e: (e["created"], e["id"]))]


def one_free_one_held(handlers) -> tuple[dict, dict, threading.Event]:
    """Two customers' events queued, and another worker (a thread with its own connection)
    holding the second customer's lock until the returned event is set."""
    handlers.handles("product.created")(mark_effect)
    mine, theirs = customer_event("cus_free", 1_000), customer_event("cus_held", 1_000)
    deliver(mine, theirs)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with queue.object_lock("cus_held"):
                taken.set()
                release.wait(30)
        finally:
            connection.close()

    threading.Thread(target=hold, daemon=True).start()
    assert taken.wait(10)
    return mine, theirs, release


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_each_customers_events_are_processed_oldest_first_across_batches(handlers):
    order = []
    handlers.handles("product.created")(lambda event: order.append(event.stripe_id))
    customers = ("cus_a", "cus_b", "cus_c")
    events = [customer_event(c, 1_000 + n // 2) for c in customers for n in range(5)]
    random.Random(4).shuffle(events)  # ties on `created` included, arrival order scrambled
    deliver(*events)

    work("--events-per-transaction", "3")

    assert sorted(order) == sorted(e["id"] for e in events)  # each once
    for customer in customers:
        theirs = [e for e in events if e["data"]["object"]["customer"] == customer]
        assert [i for i in order if i in {e["id"] for e in theirs}] == oldest_first(theirs)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_processes_several_events_per_transaction_up_to_the_limit(handlers):
    events = [customer_event(f"cus_{n % 4}", 1_000 + n) for n in range(12)]
    failing = events[2]["id"]
    transactions = {}

    @handlers.handles("product.created")
    def remember(event):
        with connection.cursor() as cursor:
            cursor.execute("SELECT txid_current()")
            transactions[event.stripe_id] = cursor.fetchone()[0]
        if event.stripe_id == failing:
            raise RuntimeError("rolled back to its savepoint, not the batch's start")

    deliver(*events)

    work("--events-per-transaction", "5", "--max-tasks", "12")

    assert len(transactions) == 12
    sizes = Counter(transactions.values())
    assert max(sizes.values()) == 5
    assert sizes[transactions[failing]] == 5  # the failure did not end its batch


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_a_failing_event_is_recorded_and_retried_without_undoing_the_rest_of_its_batch(
    handlers,
):
    good, bad, other = (customer_event(c, 1_000) for c in ("cus_a", "cus_b", "cus_c"))

    @handlers.handles("product.created")
    def handle(event):
        mark_effect(event)
        if event.stripe_id == bad["id"]:
            raise RuntimeError("this one fails")

    deliver(good, bad, other)

    work("--max-tasks", "3")  # the first batch only

    assert [effects(e["id"]) for e in (good, bad, other)] == [1, 0, 1]
    failed = WebhookEvent.objects.get(stripe_id=bad["id"])
    assert failed.status == "failed"
    assert "RuntimeError: this one fails" in failed.attempts.get().traceback
    retry = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    assert retry.args_kwargs["args"] == [failed.pk, 2]
    finished = DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL)
    assert sorted(finished.values_list("return_value", flat=True)) == [
        "failed",
        "processed",
        "processed",
    ]

    work()  # the retries, up to WEBHOOK_RETRY_LIMIT (3)

    assert failed.attempts.count() == 3
    assert [effects(e["id"]) for e in (good, bad, other)] == [1, 0, 1]


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_a_batch_that_fails_outside_the_handlers_runs_its_tasks_one_at_a_time(
    handlers, monkeypatch
):
    handlers.handles("product.created")(mark_effect)
    events = [customer_event(c, 1_000) for c in ("cus_a", "cus_b", "cus_c")]
    deliver(*events)

    def broken(event, **kwargs):
        raise RuntimeError("not a handler's failure")

    monkeypatch.setattr(queue, "dispatch_locked", broken)
    work()

    assert [effects(e["id"]) for e in events] == [1, 1, 1]
    assert Attempt.objects.filter(outcome="processed", trigger="worker").count() == 3
    assert not DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists()


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_tasks_of_other_kinds_on_the_queue_still_run(handlers):
    handlers.handles("product.created")(mark_effect)
    event = customer_event("cus_a", 1_000)
    deliver(event)
    other = note_a_group.enqueue("made by another kind of task")

    work()

    assert effects(event["id"]) == 1
    assert Group.objects.filter(name="made by another kind of task").exists()
    assert note_a_group.get_result(other.id).status == TaskResultStatus.SUCCESSFUL


@task()
def note_a_group(name: str) -> None:
    Group.objects.create(name=name)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_customer_another_worker_holds_is_processed_once_it_lets_go(handlers, settings):
    settings.WEBHOOK_LOCK_TIMEOUT = 10
    mine, theirs, release = one_free_one_held(handlers)
    threading.Timer(0.5, release.set).start()

    work()

    assert [effects(e["id"]) for e in (mine, theirs)] == [1, 1]
    assert not DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_customer_held_past_the_lock_timeout_is_rescheduled_with_backoff(handlers, settings):
    settings.WEBHOOK_LOCK_TIMEOUT = 1
    settings.WEBHOOK_RETRY_BASE_DELAY = 60
    mine, theirs, release = one_free_one_held(handlers)
    try:
        work()
    finally:
        release.set()

    assert [effects(e["id"]) for e in (mine, theirs)] == [1, 0]
    waiting = WebhookEvent.objects.get(stripe_id=theirs["id"])
    assert waiting.status == "pending" and waiting.attempts.count() == 0  # not its fault
    busy = DBTaskResult.objects.get(status=TaskResultStatus.FAILED)
    assert busy.exception_class_path == "bootwebhooks.inbox.queue.ObjectBusy"
    retry = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    assert retry.args_kwargs["args"] == [waiting.pk, 2]
    assert retry.run_after > timezone.now()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_runs_under_the_lock_and_statement_bounds(handlers, settings):
    settings.WEBHOOK_LOCK_TIMEOUT = 1
    settings.WEBHOOK_STATEMENT_TIMEOUT = 2
    bounds = []

    @handlers.handles("product.created")
    def remember(event):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
            )
            bounds.append(cursor.fetchone())

    deliver(customer_event("cus_a", 1_000), customer_event("cus_b", 1_000))
    work()

    assert bounds == [("1s", "2s"), ("1s", "2s")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_several_worker_processes_apply_each_event_once_and_each_customers_in_order(handlers):
    handlers.handles("product.created")(slow_effect)  # as the workers have it
    customers = [f"cus_{n}" for n in range(6)]
    events = [customer_event(c, 1_000 + n // 2) for c in customers for n in range(8)]
    random.Random(9).shuffle(events)
    deliver(*events, *events[::2])  # half of them delivered twice: two tasks each
    env = worker_env(HANDLER_SLEEP="0.005", WEBHOOK_RETRY_BASE_DELAY="0")
    command = [*WORKER, "--batch", "--interval", "0", "--events-per-transaction", "4"]

    workers = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(3)]
    for worker in workers:
        assert worker.wait(120) == 0

    applied = defaultdict(list)  # customer -> event ids, in the order their effects were made
    by_id = {e["id"]: e for e in events}
    effect_rows = Group.objects.filter(name__contains=":effect:").order_by("pk")
    for name in effect_rows.values_list("name", flat=True):
        event = by_id[name.split(":")[0]]
        applied[event["data"]["object"]["customer"]].append(event["id"])
    for customer in customers:
        theirs = [e for e in events if e["data"]["object"]["customer"] == customer]
        assert applied[customer] == oldest_first(theirs)  # once each, oldest first
    assert Attempt.objects.count() == len(events)
    assert not WebhookEvent.objects.exclude(status="processed").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sigterm_lets_the_current_batch_commit_then_the_worker_exits(handlers):
    handlers.handles("product.created")(slow_effect)  # as the workers have it
    events = [customer_event(f"cus_{n}", 1_000) for n in range(6)]
    deliver(*events)
    env = worker_env(HANDLER_SLEEP="0.3")
    worker = subprocess.Popen(
        [*WORKER, "--interval", "0.1", "--events-per-transaction", "4"], cwd=ROOT, env=env
    )
    try:
        for _ in range(100):  # until the first batch holds its tasks
            if customers_locked():
                break
            time.sleep(0.1)
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()

    statuses = Counter(WebhookEvent.objects.values_list("status", flat=True))
    assert statuses == {"processed": 4, "pending": 2}
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 2


def test_a_bad_events_per_transaction_is_a_one_line_error():
    with pytest.raises(CommandError, match="not a positive whole number: '0'"):
        call_command("run_webhook_worker", "--events-per-transaction", "0")


@pytest.mark.postgres
@pytest.mark.batched
@pytest.mark.django_db(transaction=True)
def test_a_batch_costs_one_round_trip_per_event_beyond_its_handlers_and_a_few_per_batch(
    handlers,
):
    handlers.handles("product.created")(lambda event: None)
    deliver(*(customer_event(f"cus_{n % 3}", 1_000 + n) for n in range(10)))
    ready = DBTaskResult.objects.ready()

    with CaptureQueriesContext(connection) as queries:
        batch = queue.process_batch(ready, size=10, worker_id="counted")

    assert batch.finished == 10
    sent = [q["sql"] for q in queries.captured_queries]
    # BEGIN, the tasks, their events' keys, the customers' locks, the events, the tasks'
    # outcome, COMMIT; then each event's outcome and attempt (one round trip on PostgreSQL).
    assert len(sent) <= 7 + 10, sent
