"""WEBHOOK_PROCESSING=queued: 202 once stored, workers process, retry, order, and recover."""

import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from bootwebhooks.inbox import queue
from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import TEST_SECRET, make_event, post_event
from tests.worker_app.apps import slow_effect

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def queued(settings):
    settings.WEBHOOK_PROCESSING = "queued"
    settings.WEBHOOK_RETRY_BASE_DELAY = 0  # retries are due at once, so a batch run sees them
    settings.WEBHOOK_RETRY_LIMIT = 3


def work() -> None:
    """Run a worker until no task is ready (django-tasks-db's --batch mode)."""
    call_command(
        "run_webhook_worker",
        "--batch",
        "--no-startup-delay",
        "--interval",
        "0",
        stdout=io.StringIO(),
    )


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
    calls = []

    @handlers.handles("invoice.paid")
    def flaky(event):
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(f"try {len(calls)}")
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
def test_a_worker_killed_mid_event_leaves_nothing_applied_and_another_finishes_it(handlers):
    handlers.handles("product.created")(slow_effect)  # as the workers have it
    event = make_event("product.created", {"id": "prod_1", "object": "product"})
    assert post_event(Client(), event).status_code == 202
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "STRIPE_WEBHOOK_SECRETS": TEST_SECRET,
        "WEBHOOK_PROCESSING": "queued",
        "WEBHOOK_TASK_TIMEOUT": "1",
    }
    command = [sys.executable, "manage.py", "run_webhook_worker", "--no-startup-delay"]

    doomed = subprocess.Popen(
        [*command, "--interval", "0.1"], cwd=ROOT, env={**env, "SLOW_HANDLER": "1"}
    )
    try:
        for _ in range(100):  # until the task is running (and its handler asleep)
            if DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).exists():
                break
            time.sleep(0.1)
        time.sleep(0.5)
        os.kill(doomed.pid, signal.SIGKILL)
    finally:
        doomed.wait(10)
    assert WebhookEvent.objects.get().status == "pending"
    assert effects(event["id"]) == 0  # the handler's write died with the worker

    time.sleep(1.2)  # past WEBHOOK_TASK_TIMEOUT
    subprocess.run(
        [*command, "--batch", "--interval", "0"], cwd=ROOT, env=env, check=True, timeout=60
    )

    stored = WebhookEvent.objects.get()
    assert stored.status == "processed"
    assert effects(event["id"]) == 1
    assert [a.trigger for a in stored.attempts.all()] == ["worker"]


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
