"""The signals a host site reacts to: membership_changed, event_processed, event_failed.

Sent after the deciding transaction commits (transaction.on_commit), so these tests commit for
real (transactional test database) instead of running inside one rolled-back test transaction.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from bootwebhooks.inbox import samples
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.signals import event_failed, event_processed
from bootwebhooks.memberships.models import Membership, MembershipChange
from bootwebhooks.memberships.services import override_access
from bootwebhooks.memberships.signals import membership_changed
from tests.stripe_events import load_event, membership_of
from tests.webhooks import post_event

pytestmark = pytest.mark.django_db(transaction=True)


class Heard:
    """A receiver that keeps what it was sent (thread-safe), and what the database held then."""

    def __init__(self, signal):
        self.calls: list[dict] = []
        self.committed: list[int] = []
        self.lock = threading.Lock()
        signal.connect(self, weak=False)
        self.signal = signal

    def __call__(self, sender, signal, **kwargs) -> None:
        # Read on a fresh connection's view: only committed rows count.
        changes = MembershipChange.objects.count()
        with self.lock:
            self.calls.append(kwargs)
            self.committed.append(changes)


@pytest.fixture
def heard():
    receivers = []

    def listen(signal) -> Heard:
        receivers.append(Heard(signal))
        return receivers[-1]

    yield listen
    for receiver in receivers:
        receiver.signal.disconnect(receiver)


def paid_now(user) -> dict:
    """An invoice.paid for `user` whose period runs from now (the fixtures' is over)."""
    return samples.build(
        "invoice.paid", key="signal", user_id=user.pk, email=user.email, now=int(time.time())
    )


def test_a_granted_membership_is_heard_once_after_it_commits(client, student, heard):
    changed, processed = heard(membership_changed), heard(event_processed)

    assert post_event(client, paid_now(student)).status_code == 200

    [call] = changed.calls
    assert call["user"] == student
    assert call["cause"] == "event" and call["event"].type == "invoice.paid"
    assert (call["was_member"], call["is_member"]) == (False, True)
    assert call["before"]["status"] == "none" and call["after"]["status"] == "active"
    assert changed.committed == [1]  # the change was committed when the receiver ran
    [event] = processed.calls
    assert (event["type"], event["outcome"]) == ("invoice.paid", "processed")


def test_a_redelivery_that_changes_nothing_is_not_heard(client, student, heard):
    event = load_event("invoice_paid")
    post_event(client, event)
    changed = heard(membership_changed)

    assert post_event(client, event).status_code == 200

    assert changed.calls == []


def test_a_staff_override_is_heard_with_its_cause(student, django_user_model, heard):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    changed = heard(membership_changed)

    override_access(
        student, "grant", staff=staff, reason="goodwill", until=timezone.now() + timedelta(days=7)
    )

    [call] = changed.calls
    assert (call["cause"], call["staff"], call["event"]) == ("staff", staff, None)
    assert call["is_member"] is True


def test_a_rolled_back_change_is_never_heard(client, student, heard, monkeypatch):
    """The membership changes, then the same transaction fails: nothing was decided."""
    rederive = Membership.rederive

    def rederive_then_fail(self, *args, **kwargs):
        assert rederive(self, *args, **kwargs)  # changed, and heard of after a commit
        raise RuntimeError("a later step failed")

    monkeypatch.setattr(Membership, "rederive", rederive_then_fail)
    changed, failed = heard(membership_changed), heard(event_failed)

    assert post_event(client, load_event("invoice_paid")).status_code == 500

    assert changed.calls == []
    assert not Membership.objects.filter(user=student, status="active").exists()
    [call] = failed.calls
    assert (call["type"], call["outcome"]) == ("invoice.paid", "failed")
    assert "a later step failed" in call["error"]


def test_a_failing_receiver_cannot_fail_the_webhook(client, student, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("the mail server is down")

    membership_changed.connect(broken)
    try:
        response = post_event(client, load_event("invoice_paid"))
    finally:
        membership_changed.disconnect(broken)

    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert membership_of(student).status == "active"
    assert "the mail server is down" in caplog.text


@pytest.mark.postgres
def test_a_receiver_runs_once_per_change_under_concurrent_duplicates(student, heard):
    changed, processed = heard(membership_changed), heard(event_processed)
    event = load_event("invoice_paid")
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def deliver() -> None:
        try:
            barrier.wait(timeout=10)
            codes.append(post_event(Client(), event).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert codes == [200] * 8
    assert WebhookEvent.objects.get(stripe_id=event["id"]).delivery_count == 8
    assert len(changed.calls) == 1
    assert len(processed.calls) == 1
