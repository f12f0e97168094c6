import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from bootwebhooks.inbox.models import Attempt, WebhookEvent
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_webhook_events", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def aged(client, handlers):
    """Two of each status, received 100 days ago, plus one fresh processed event."""
    for status in ["processed", "ignored", "superseded", "failed", "pending"] * 2:
        post_event(client, make_event("customer.created"))
        latest = WebhookEvent.objects.latest("pk")
        latest.status = status
        latest.save()
        Attempt.objects.create(
            event=latest,
            trigger="webhook",
            started_at=timezone.now(),
            finished_at=timezone.now(),
            outcome="processed",
        )
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(days=100))
    post_event(client, make_event("customer.created"))


def statuses() -> list[str]:
    return sorted(WebhookEvent.objects.values_list("status", flat=True))


def test_it_deletes_old_finished_events_and_their_attempts_in_batches(aged):
    out = run("--older-than", "90d", "--batch-size", "4")
    assert "pruned: 6 deleted" in out
    assert statuses() == ["failed", "failed", "ignored", "pending", "pending"]
    assert Attempt.objects.count() == 4  # those of the kept failed and pending events


def test_it_deletes_failed_ones_only_when_asked(aged):
    run("--older-than", "90d", "--include-failed")
    assert statuses() == ["ignored", "pending", "pending"]


def test_it_respects_the_age(aged):
    assert "nothing to do" in run("--older-than", "101d")
    assert "6 deleted" in run("--older-than", "2400h")


def test_a_dry_run_deletes_nothing(aged):
    assert "would delete 6 events" in run("--older-than", "90d", "--dry-run")
    assert WebhookEvent.objects.count() == 11


@pytest.mark.parametrize("age", ["90", "3w", "1.5d", "d"])
def test_a_bad_age_is_one_line_of_error(age):
    with pytest.raises(CommandError, match="--older-than takes days or hours"):
        run("--older-than", age)
