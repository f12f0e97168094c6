"""prune_webhook_events never removes an event that a payment or membership change points to."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.models import MembershipChange
from bootwebhooks.payments.models import Payment
from tests.stripe_events import deliver

pytestmark = pytest.mark.django_db


def test_prune_keeps_the_events_behind_payments_and_membership_changes(client, student):
    paid = deliver(client, "invoice_paid")
    unrelated = WebhookEvent.objects.create(
        stripe_id="evt_unrelated",
        type="customer.created",
        stripe_created=timezone.now(),
        body="{}",
        status="ignored",
    )
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(days=200))

    out = io.StringIO()
    call_command("prune_webhook_events", "--older-than", "90d", stdout=out)

    assert "1 deleted" in out.getvalue()
    assert not WebhookEvent.objects.filter(pk=unrelated.pk).exists()
    kept = WebhookEvent.objects.get(stripe_id=paid["id"])
    assert Payment.objects.get().last_event == kept
    assert MembershipChange.objects.filter(event=kept).exists()
