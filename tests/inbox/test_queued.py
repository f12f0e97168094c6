"""WEBHOOK_PROCESSING=queued: 202 once stored, workers process, retry, order, and recover."""

import os
import signal
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from bootwebhooks.inbox import queue
from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event, post_event
from tests.worker_app.apps import slow_effect
from tests.workers import ROOT, WORKER, customers_locked, work, worker_env

pytestmark = pytest.mark.usefixtures("queued_mode")


def tasks(status: str = TaskResultStatus.READY) -> int:
    return DBTaskResult.objects.filter(status=status).count()


@pytest.mark.django_db
def test_it_answers_202_once_the_event_and_its_task_are_stored(client, handlers):
    handlers.handles("invoice.paid")(mark_effect)
    event = make_event("invoice.paid")

    response = post_event(client, event)

    assert response.status_code == 202
    assert response.json() == {"id": event["id"], "status": "pending"}
    assert WebhookEvent.objects.get().status == "pending"
    assert tasks() == 1
    assert effects(event["id"]) == 0


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_a_worker_processes_it_once_however_often_it_was_delivered(client, handlers):
    handlers.handles("invoice.paid")(mark_effect)
    event = make_event("invoice.paid")
    for _ in range(3):
        assert post_event(client, event).status_code == 202

    work()

    stored = WebhookEvent.objects.get()
    assert stored.status == "processed" and stored.delivery_count == 3
    assert [a.trigger for a in stored.attempts.all()] == ["worker"]
    assert effects(event["id"]) == 1
    assert post_event(client, event).json()["status"] == "processed"  # now a plain duplicate


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_a_failing_event_is_retried_with_backoff_until_it_succeeds(client, handlers):
    @handlers.handles("invoice.paid")
    def flaky(event):
        # By attempts recorded, not by calls: in a batch, a handler that raises runs once
        # more (each event in a savepoint) before its failure is recorded.
        if event.attempt_count < 2:
            raise RuntimeError(f"attempt {event.attempt_count + 1}")
        mark_effect(event)

    event = make_event("invoice.paid")
    post_event(client, event)
    work()

    outcomes = [a.outcome for a in WebhookEvent.objects.get().attempts.all()]
    assert outcomes == ["failed", "failed", "processed"]
    assert effects(event["id"]) == 1


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_it_stops_retrying_at_the_limit_and_leaves_the_event_failed(client, handlers):
    @handlers.handles("invoice.paid")
    def always(event):
        raise RuntimeError("permanent")

    post_event(client, make_event("invoice.paid"))
    work()

    stored = WebhookEvent.objects.get()
    assert stored.status == "failed"
    assert stored.attempts.count() == 3
    assert tasks() == 0


def test_backoff_grows_exponentially_with_jitter_and_a_cap(settings):
    settings.WEBHOOK_RETRY_BASE_DELAY = 10
    settings.WEBHOOK_RETRY_MAX_DELAY = 300
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (6, 300), (20, 300)]:
        delays = {queue.backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_events_of_one_customer_are_processed_oldest_first(client, handlers):
    order = []

    @handlers.handles("customer.subscription.updated")
    def remember(event):
        order.append(event.stripe_id)

    sub = {"id": "sub_1", "object": "subscription", "customer": "cus_1"}
    newer = make_event("customer.subscription.updated", sub, created=2_000)
    older = make_event("customer.subscription.updated", sub, created=1_000)
    tie = make_event("customer.subscription.updated", sub, created=1_000)
    for event in (newer, tie, older):  # arrive newest first
        post_event(client, event)

    work()

    assert order == [older["id"], tie["id"], newer["id"]]  # created, then id


@pytest.mark.django_db(transaction=True)  # the worker manages its connection
def test_a_task_left_running_by_a_dead_worker_is_requeued(client, handlers, settings):
    handlers.handles("invoice.paid")(mark_effect)
    event = make_event("invoice.paid")
    post_event(client, event)
    DBTaskResult.objects.update(
        status=TaskResultStatus.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )
    settings.WEBHOOK_TASK_TIMEOUT = 60

    work()  # requeues at start-up, then runs the new task

    assert WebhookEvent.objects.get().status == "processed"
    assert effects(event["id"]) == 1
    assert tasks(TaskResultStatus.FAILED) == 1  # the dead one, marked so


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_leaves_it_all_undone_and_the_next_worker_takes_it_at_once(
    handlers,
):
    handlers.handles("product.created")(slow_effect)  # as the workers have it
    events = [
        make_event("product.created", {"id": f"prod_{i}", "object": "product"}) for i in range(4)
    ]
    for event in events:
        assert post_event(Client(), event).status_code == 202
    env = worker_env()  # WEBHOOK_TASK_TIMEOUT stays 300 s: nothing waits for it

    # The third event's handler sleeps: the first two are done, in the same transaction.
    slow = {"SLOW_HANDLER": events[2]["id"]}
    doomed = subprocess.Popen([*WORKER, "--interval", "0.1"], cwd=ROOT, env={**env, **slow})
    try:
        for _ in range(100):  # until the batch holds its tasks
            if customers_locked():
                break
            time.sleep(0.1)
        time.sleep(1)
        os.kill(doomed.pid, signal.SIGKILL)
    finally:
        doomed.wait(10)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"pending"}
    assert [effects(e["id"]) for e in events] == [0, 0, 0, 0]  # died with the worker
    assert tasks() == 4  # ready again, not left running

    subprocess.run(
        [*WORKER, "--batch", "--interval", "0"], cwd=ROOT, env=env, check=True, timeout=60
    )

    assert [effects(e["id"]) for e in events] == [1, 1, 1, 1]
    for stored in WebhookEvent.objects.all():
        assert stored.status == "processed"
        assert [a.trigger for a in stored.attempts.all()] == ["worker"]
    assert tasks(TaskResultStatus.SUCCESSFUL) == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_duplicates_racing_between_web_processes_and_workers_apply_once(handlers):
    @handlers.handles("invoice.paid")
    def slow(event):
        mark_effect(event)
        time.sleep(0.2)

    event = make_event("invoice.paid")
    post_event(Client(), event)
    pk = WebhookEvent.objects.get().pk
    start = threading.Barrier(6)

    def racing(work):
        def run():
            try:
                start.wait()
                work()
            finally:
                connection.close()

        return threading.Thread(target=run)

    threads = [racing(lambda: post_event(Client(), event)) for _ in range(3)]
    threads += [racing(lambda: queue.process_event.call(pk)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert effects(event["id"]) == 1
    assert WebhookEvent.objects.get().status == "processed"


@pytest.mark.django_db
def test_a_redelivery_of_a_failed_event_is_queued_again_and_answered_202(client, handlers):
    @handlers.handles("invoice.paid")
    def explode(event):
        raise RuntimeError

    event = make_event("invoice.paid")
    post_event(client, event)
    WebhookEvent.objects.update(status="failed")

    response = post_event(client, event)

    assert response.status_code == 202
    assert tasks() == 2


@pytest.mark.django_db
def test_a_task_that_dies_outside_the_handlers_schedules_its_retry(client, monkeypatch):
    from django.db import OperationalError

    post_event(client, make_event("invoice.paid"))
    pk = WebhookEvent.objects.get().pk

    def database_gone(event_pk):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(queue, "process_in_order", database_gone)
    with pytest.raises(OperationalError):
        queue.process_event.call(pk, 1)
    retry = DBTaskResult.objects.order_by("-enqueued_at").first()
    assert tasks() == 2 and retry.args_kwargs["args"] == [pk, 2]
