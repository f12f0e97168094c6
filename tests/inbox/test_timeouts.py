"""Bounded waits: a row locked elsewhere costs a delivery a 503 after WEBHOOK_LOCK_TIMEOUT,
never a hung worker, and loses nothing (PostgreSQL: SQLite has no row locks).

Stripe treats any answer other than a 2xx as a failed delivery and sends the event again
later ("Stripe attempts to deliver ... for up to three days with an exponential back off",
docs.stripe.com/webhooks#retries), so a 503 with the event kept is a delay, not a loss.
"""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.test import Client

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.queue import ObjectBusy, object_lock
from bootwebhooks.memberships.roles import SUPPORT
from bootwebhooks.payments.models import Payment, StripeCustomer
from tests.staff import staff_in
from tests.stripe_events import CUSTOMER, load_event
from tests.webhooks import post_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
TIMEOUT = 1  # seconds


@pytest.fixture(autouse=True)
def short_timeouts(settings):
    settings.WEBHOOK_LOCK_TIMEOUT = TIMEOUT
    settings.WEBHOOK_STATEMENT_TIMEOUT = TIMEOUT + 1


@contextmanager
def customer_locked():
    """Hold the customer's row locked, as a long admin action or a stuck worker would."""
    StripeCustomer.objects.get_or_create(customer_id=CUSTOMER)
    with transaction.atomic():
        StripeCustomer.objects.select_for_update().get(customer_id=CUSTOMER)
        yield


def post_from_threads(*events: dict) -> list[tuple[int, float]]:
    """Deliver each event from its own thread and connection: (status code, seconds taken)."""
    answers: list[tuple[int, float]] = []

    def deliver(event: dict) -> None:
        started = time.monotonic()
        try:
            answers.append((post_event(Client(), event).status_code, time.monotonic() - started))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


def test_a_held_row_lock_is_a_503_within_the_timeout_and_a_redelivery_processes_it():
    event = load_event("invoice_paid")

    with customer_locked():
        (answer,) = post_from_threads(event)
        stored = WebhookEvent.objects.get(stripe_id=event["id"])

    code, took = answer
    assert code == 503
    assert took < TIMEOUT + 3  # not the 30 s of a gunicorn kill
    # Stored, not failed: the wait was not the event's fault, and nothing ran.
    assert (stored.status, stored.attempt_count) == ("pending", 0)
    assert not Payment.objects.exists()

    response = post_event(Client(), event)  # Stripe's next delivery, after the lock is gone
    assert response.status_code == 200
    assert response.json()["status"] == "processed"
    assert Payment.objects.get().paid


def test_two_deliveries_behind_a_held_lock_both_answer_within_the_timeout():
    """The finding: two deliveries for the locked customer each waited for gunicorn's kill.
    The copy of the event waits on the first's event row lock; the other event on the
    customer."""
    event = load_event("invoice_paid")
    other = load_event("invoice_paid", fresh_id=True, obj__id="in_1TxOtherInvoice000001")

    with customer_locked():
        answers = post_from_threads(event, event, other)

    assert sorted(code for code, _ in answers) == [503, 503, 503]
    assert max(took for _, took in answers) < 2 * TIMEOUT + 3
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"pending"}


def test_healthz_never_waits_on_a_row_lock(client):
    event = load_event("invoice_paid")
    post_event(client, event)
    with transaction.atomic():
        WebhookEvent.objects.select_for_update().get(stripe_id=event["id"])
        StripeCustomer.objects.select_for_update().all().exists()
        answers: list[int] = []
        thread = threading.Thread(
            target=lambda: (
                answers.append(Client().get("/healthz").status_code),
                connection.close(),
            )
        )
        started = time.monotonic()
        thread.start()
        thread.join(timeout=10)
        assert answers == [200]  # answered while the locks are still held
        assert time.monotonic() - started < TIMEOUT + 2


def test_a_worker_gives_up_on_a_customer_another_worker_holds():
    """Workers used pg_advisory_lock, which waits for ever behind a stuck worker."""
    holder_ready, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with object_lock(CUSTOMER):
                holder_ready.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holder_ready.wait(10)
        started = time.monotonic()
        with pytest.raises(ObjectBusy), object_lock(CUSTOMER):
            pass
        assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 3
    finally:
        release.set()
        holder.join(10)
    with object_lock(CUSTOMER):  # released: the next try gets it at once
        pass


def test_a_staff_retry_or_preview_behind_a_held_lock_is_a_503_or_a_message_not_a_wait(
    client,
):
    event = load_event("invoice_paid")
    with customer_locked():
        post_from_threads(event)
    sam = staff_in(SUPPORT)
    pk = WebhookEvent.objects.get(stripe_id=event["id"]).pk
    answers: list = []

    def retry() -> None:
        try:
            staff = Client()
            staff.force_login(sam)
            answers.append(staff.post(f"/api/events/{event['id']}/retry/").status_code)
            url = f"/admin/bootwebhooks_inbox/webhookevent/{pk}/retry/"
            for page in (staff.get(url, follow=True), staff.post(url, follow=True)):  # preview
                answers.append("locked elsewhere" in page.content.decode())
        finally:
            connection.close()

    with customer_locked():
        thread = threading.Thread(target=retry)
        thread.start()
        thread.join(timeout=30)

    assert answers == [503, True, True]
    assert WebhookEvent.objects.get(pk=pk).status == "pending"
