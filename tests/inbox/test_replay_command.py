import io
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event, post_event


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("replay_webhook_events", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def broken(handlers):
    """invoice.paid fails while broken["on"]; customer.created is never handled."""
    state = {"on": True, "runs": 0}

    @handlers.handles("invoice.paid")
    def flaky(event):
        state["runs"] += 1
        if state["on"]:
            raise RuntimeError("down")
        mark_effect(event)
        time.sleep(state.get("sleep", 0))

    return state


@pytest.mark.django_db
def test_it_replays_failed_and_pending_events_by_default(client, broken):
    failed, pending, ok = (make_event("invoice.paid") for _ in range(3))
    post_event(client, failed)
    post_event(client, pending)
    WebhookEvent.objects.filter(stripe_id=pending["id"]).update(status="pending")
    broken["on"] = False
    post_event(client, ok)

    out = run()

    assert "replayed: 2 processed" in out
    assert effects(failed["id"]) == effects(pending["id"]) == effects(ok["id"]) == 1
    replayed = WebhookEvent.objects.get(stripe_id=failed["id"]).attempts.last()
    assert replayed.trigger == "command"


@pytest.mark.django_db
def test_it_forces_final_events_only_when_selected_explicitly(client, broken):
    broken["on"] = False
    event = make_event("invoice.paid")
    post_event(client, event)
    assert "nothing to do" in run()
    assert "1 processed" in run("--status", "processed")
    assert effects(event["id"]) == 2  # the handler ran again: replays rely on idempotent handlers


@pytest.mark.django_db
def test_a_dry_run_shows_the_changes_and_makes_none(client, broken):
    event = make_event("invoice.paid")
    post_event(client, event)
    broken["on"] = False

    out = run("--dry-run", event["id"])

    assert f"{event['id']}: would be processed; writes: auth_group insert 1" in out
    stored = WebhookEvent.objects.get()
    assert stored.status == "failed"
    assert stored.attempts.count() == 1
    assert effects(event["id"]) == 0


@pytest.mark.django_db
def test_it_selects_by_type_and_created(client, broken):
    old = make_event("invoice.paid", created=1_600_000_000)
    new = make_event("invoice.paid", created=1_800_000_000)
    for event in (old, new):
        post_event(client, event)
    broken["on"] = False
    assert "1 processed" in run("--type", "invoice.paid", "--since", "2025-01-01")
    assert effects(new["id"]) == 1 and effects(old["id"]) == 0


@pytest.mark.django_db
def test_unknown_ids_and_bad_arguments_are_one_line_errors():
    with pytest.raises(CommandError, match="unknown event id"):
        run("evt_nope")
    with pytest.raises(CommandError, match="invalid choice: 'done'"):
        run("--status", "done")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_replay_racing_a_webhook_redelivery_applies_the_effects_once(broken):
    event = make_event("invoice.paid")
    post_event(Client(), event)
    broken.update(on=False, sleep=0.3)
    start = threading.Barrier(2)

    def in_thread(work):
        def run_it():
            try:
                start.wait()
                work()
            finally:
                connection.close()

        return threading.Thread(target=run_it)

    threads = [
        in_thread(lambda: run("--quiet", event["id"])),
        in_thread(lambda: post_event(Client(), event)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert effects(event["id"]) == 1
    assert [a.outcome for a in WebhookEvent.objects.get().attempts.all()] == [
        "failed",
        "processed",
    ]
