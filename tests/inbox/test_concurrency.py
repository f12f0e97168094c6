"""Simultaneous deliveries of one event, through real threads and real PostgreSQL connections."""

import threading
import time

import pytest
from django.db import connection
from django.test import Client

from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event, post_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
DELIVERIES = 8


def deliver_at_once(event: dict, copies: int = DELIVERIES) -> list[tuple[int, str, str, int]]:
    """Post `copies` deliveries of `event` together; each thread then reads what is committed."""
    barrier = threading.Barrier(copies)
    seen: list[tuple[int, str, str, int]] = []

    def deliver() -> None:
        try:
            barrier.wait()
            response = post_event(Client(), event)
            # Read back on this thread's own connection: only committed rows are visible.
            stored = WebhookEvent.objects.get(stripe_id=event["id"])
            answered = response.json()["status"]
            seen.append((response.status_code, answered, stored.status, effects(event["id"])))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return seen


def slow_effect(event) -> None:
    mark_effect(event)
    time.sleep(0.3)  # hold the window open: without the lock every delivery gets in


def test_simultaneous_deliveries_run_the_handlers_exactly_once(handlers):
    handlers.handles("invoice.paid")(slow_effect)
    event = make_event("invoice.paid")

    seen = deliver_at_once(event)

    assert len(seen) == DELIVERIES
    # Every 2xx came after the effect and the processed status were committed, exactly once.
    assert set(seen) == {(200, "processed", "processed", 1)}
    stored = WebhookEvent.objects.get(stripe_id=event["id"])
    assert stored.delivery_count == DELIVERIES
    assert stored.attempts.count() == 1


def test_simultaneous_redeliveries_of_a_failed_event_retry_it_once(handlers):
    failing = {"on": True}

    @handlers.handles("invoice.paid")
    def flaky(event):
        if failing["on"]:
            raise RuntimeError("down")
        slow_effect(event)

    event = make_event("invoice.paid")
    assert post_event(Client(), event).status_code == 500
    failing["on"] = False

    seen = deliver_at_once(event)

    assert set(seen) == {(200, "processed", "processed", 1)}
    assert [a.outcome for a in WebhookEvent.objects.get().attempts.all()] == ["failed", "processed"]


def test_the_race_is_real_without_the_row_lock(handlers, monkeypatch):
    """The control: with the event read but not locked the same test sees duplicate
    effects."""
    monkeypatch.setattr(WebhookEvent, "locked", classmethod(lambda cls, pk: cls.objects.get(pk=pk)))
    handlers.handles("invoice.paid")(slow_effect)
    event = make_event("invoice.paid")

    deliver_at_once(event)

    assert effects(event["id"]) > 1
