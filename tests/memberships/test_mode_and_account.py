"""One mode and one account: an event outside them is stored `ignored` with its reason,
answered 200, and has no effect, whichever way it came in.

Stripe's event object: `livemode` says whether the event belongs to live or test mode, and
`account` (Connect only) names the connected account it originated from. Connect endpoints
receive test-mode events at the production URL, so a valid signature is not enough.
"""

import json

import pytest

from bootwebhooks.inbox.dispatch import dispatch
from bootwebhooks.inbox.ingest import ingest_batch, parse_event
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.memberships import is_member
from bootwebhooks.payments.models import Payment, StripeCustomer
from tests.stripe_events import MID_P1, deliver, load_event

pytestmark = pytest.mark.django_db
TEST_ON_LIVE = "test-mode event on a live deployment (STRIPE_LIVEMODE)"


@pytest.fixture
def live(settings):
    settings.STRIPE_LIVEMODE = True


def test_a_test_mode_event_on_a_live_deployment_is_ignored(client, student, live):
    answer = deliver(client, "invoice_paid")  # "livemode": false

    assert answer["status"] == "ignored"
    event = WebhookEvent.objects.get()
    assert (event.status, event.ignored_reason) == ("ignored", TEST_ON_LIVE)
    assert not Payment.objects.exists() and not StripeCustomer.objects.exists()
    assert not is_member(student, at=MID_P1)


def test_a_live_event_on_a_live_deployment_takes_effect(client, student, live):
    deliver(client, "invoice_paid", livemode=True)

    assert is_member(student, at=MID_P1)


def test_a_live_event_on_a_test_deployment_is_ignored(client, student):
    answer = deliver(client, "invoice_paid", livemode=True)

    assert answer["status"] == "ignored"
    assert WebhookEvent.objects.get().ignored_reason == (
        "live-mode event on a test deployment (STRIPE_LIVEMODE)"
    )


def test_the_mode_follows_debug_unless_set(settings):
    from bootwebhooks.conf import app_settings

    del settings.STRIPE_LIVEMODE
    settings.DEBUG = False
    assert app_settings.STRIPE_LIVEMODE is True
    settings.DEBUG = True
    assert app_settings.STRIPE_LIVEMODE is False


def test_a_connected_accounts_event_is_ignored(client, student):
    answer = deliver(client, "invoice_paid", account="acct_1TxSeller0000001")

    assert answer["status"] == "ignored"
    assert WebhookEvent.objects.get().ignored_reason == (
        "event of connected account acct_1TxSeller0000001, not in STRIPE_CONNECT_ACCOUNTS"
    )
    assert not is_member(student, at=MID_P1)


def test_a_listed_connected_account_takes_effect(client, student, settings):
    settings.STRIPE_CONNECT_ACCOUNTS = "acct_1TxSeller0000001"
    deliver(client, "invoice_paid", account="acct_1TxSeller0000001")

    assert is_member(student, at=MID_P1)


def test_imports_are_held_to_the_same_scope(student, live):
    [receipt] = ingest_batch(
        [parse_event(json.dumps(load_event("invoice_paid")))], source=WebhookEvent.Source.IMPORT
    )

    assert receipt.status == "ignored"
    assert not Payment.objects.exists()


def test_a_stored_event_replayed_after_the_scope_changed_is_ignored(client, student, settings):
    deliver(client, "invoice_paid")
    Payment.objects.all().delete()
    settings.STRIPE_LIVEMODE = True

    event = dispatch(WebhookEvent.objects.get().pk, trigger=Attempt.Trigger.STAFF, force=True)

    assert (event.status, event.ignored_reason) == ("ignored", TEST_ON_LIVE)
    assert not Payment.objects.exists()


def test_the_reason_shows_in_the_events_api_and_the_admin(client, admin_client, live):
    deliver(client, "invoice_paid")

    body = admin_client.get("/api/events/evt_1TxFixture000000020/").json()
    assert (body["status"], body["ignored_reason"]) == ("ignored", TEST_ON_LIVE)
    listing = admin_client.get("/admin/bootwebhooks_inbox/webhookevent/").content.decode()
    assert TEST_ON_LIVE in listing


def test_a_type_nobody_handles_says_so(client):
    deliver(client, "invoice_paid", type="customer.created")

    assert WebhookEvent.objects.get().ignored_reason == "no handler for this event type"


def test_staff_marking_an_event_ignored_gives_their_note_as_the_reason(client, admin_user):
    deliver(client, "invoice_paid", type="customer.created")
    event = WebhookEvent.objects.get()
    WebhookEvent.resolve(event.pk, Attempt.Outcome.IGNORED, user=admin_user, note="duplicate")

    event.refresh_from_db()
    assert event.ignored_reason == "marked ignored by staff: duplicate"
