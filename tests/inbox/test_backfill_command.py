import io
import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bootwebhooks.inbox.models import Checkpoint, WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db
NOW = int(time.time())
SINCE = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%d")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("backfill_stripe_events", "--since", SINCE, *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def seen(handlers) -> list[str]:
    order: list[str] = []

    @handlers.handles("invoice.paid", "customer.subscription.updated")
    def remember(event):
        order.append(event.stripe_id)
        mark_effect(event)

    return order


def stripe_events(count: int, event_type: str = "invoice.paid", start: int = NOW - 3600):
    # Ties on `created` are common at Stripe: two events a second here.
    return [make_event(event_type, created=start + i // 2) for i in range(count)]


def test_it_processes_missing_events_oldest_first(fake_stripe, seen):
    fake_stripe.events = stripe_events(6)

    out = run()

    expected = sorted(fake_stripe.events, key=lambda e: (e["created"], e["id"]))
    assert seen == [e["id"] for e in expected]
    assert "6 processed" in out
    stored = WebhookEvent.objects.all()
    assert {(e.source, e.status, e.delivery_count) for e in stored} == {
        ("backfill", "processed", 1)
    }
    assert not Checkpoint.objects.exists()


def test_it_leaves_events_already_stored_alone(client, fake_stripe, seen):
    fake_stripe.events = stripe_events(3)
    post_event(client, fake_stripe.events[0])

    out = run()

    assert "1 already stored" in out and "2 processed" in out
    assert all(effects(e["id"]) == 1 for e in fake_stripe.events)
    assert WebhookEvent.objects.get(stripe_id=fake_stripe.events[0]["id"]).delivery_count == 1


def test_it_retries_failed_events_only_when_asked(client, fake_stripe, handlers):
    broken = {"on": True}

    @handlers.handles("invoice.paid")
    def flaky(event):
        if broken["on"]:
            raise RuntimeError("down")
        mark_effect(event)

    fake_stripe.events = stripe_events(1)
    post_event(client, fake_stripe.events[0])
    broken["on"] = False

    assert "1 already stored" in run()
    assert WebhookEvent.objects.get().status == "failed"
    assert "1 processed" in run("--retry-failed")
    assert WebhookEvent.objects.get().status == "processed"


def test_a_dry_run_changes_nothing(fake_stripe, seen):
    fake_stripe.events = stripe_events(3)
    out = run("--dry-run")
    assert out.count("would store evt_") == 3
    assert WebhookEvent.objects.count() == 0
    assert not Checkpoint.objects.exists()
    assert seen == []


def test_it_asks_stripe_for_the_window_and_types(fake_stripe, seen):
    fake_stripe.events = [
        *stripe_events(2),
        *stripe_events(2, "customer.subscription.updated"),
        *stripe_events(2, "invoice.paid", start=NOW - 20 * 86400),  # before --since
    ]
    run("--type", "customer.subscription.*")
    path, query = fake_stripe.requests[0]
    assert path == "/v1/events"
    assert query["types[0]"] == ["customer.subscription.*"]
    assert int(query["created[gte]"][0]) == int(
        datetime.fromisoformat(SINCE + "T00:00+00:00").timestamp()
    )
    assert len(seen) == 2
    assert set(WebhookEvent.objects.values_list("type", flat=True)) == {
        "customer.subscription.updated"
    }


def test_an_interrupted_run_resumes_from_its_cursor(fake_stripe, seen):
    fake_stripe.events = stripe_events(250)
    pages = []

    def stop_after_two_pages(path, query):
        pages.append(query.get("starting_after", [None])[0])
        if len(pages) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    fake_stripe.on_request = stop_after_two_pages
    with pytest.raises(CommandError, match="resume"):
        run()
    assert WebhookEvent.objects.count() == 200  # two pages stored, none processed yet
    assert seen == []
    cursor = Checkpoint.objects.get().state["after"]

    fake_stripe.on_request = None
    fake_stripe.requests.clear()
    out = run()

    assert fake_stripe.requests[0][1]["starting_after"] == [cursor]
    assert len(fake_stripe.requests) == 1
    assert "250 processed" in out
    assert sorted(seen) == sorted(e["id"] for e in fake_stripe.events)
    assert not Checkpoint.objects.exists()


def test_it_refuses_a_since_older_than_stripe_keeps(fake_stripe):
    old = (datetime.now(UTC) - timedelta(days=31)).strftime("%Y-%m-%d")
    with pytest.raises(CommandError, match="older than the 30 days Stripe keeps"):
        call_command("backfill_stripe_events", "--since", old)


def test_a_bad_date_is_one_line_of_error():
    with pytest.raises(CommandError, match="argument --since: not a date: 'yesterday'"):
        call_command("backfill_stripe_events", "--since", "yesterday")


def test_it_needs_an_api_key(settings):
    settings.STRIPE_API_KEY = ""
    with pytest.raises(CommandError, match="STRIPE_API_KEY is not set"):
        run()
