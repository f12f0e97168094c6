import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bootwebhooks.inbox.models import WebhookEvent
from tests.inbox.conftest import effects
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(handlers):
    @handlers.handles("invoice.paid")
    def down(event):
        raise RuntimeError("ledger down")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("mark_webhook_events", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_it_marks_failed_events_ignored_with_the_note_without_running_them(client, failing):
    events = [make_event("invoice.paid") for _ in range(3)]
    for event in events:
        post_event(client, event)

    run("--as", "ignored", "--note", "test-mode noise", "--quiet")

    for event in WebhookEvent.objects.all():
        attempt = event.attempts.last()
        assert event.status == "ignored"
        assert (attempt.trigger, attempt.note, attempt.user) == ("command", "test-mode noise", None)
        assert effects(event.stripe_id) == 0


def test_a_dry_run_changes_nothing(client, failing):
    post_event(client, make_event("invoice.paid"))
    run("--as", "processed", "--note", "settled", "--dry-run", "--quiet")
    assert WebhookEvent.objects.get().status == "failed"


def test_it_requires_a_note_that_says_something():
    with pytest.raises(CommandError, match="--note"):
        run("--as", "ignored", "--note", "  ")
