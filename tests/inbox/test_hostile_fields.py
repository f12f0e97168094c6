"""Fields that do not fit: the event is stored whatever its text holds, ids are checked.

Stripe signs what it sends, and retries a delivery that gets no 2xx "for up to three days"
(docs.stripe.com/webhooks#retries): a signed event our database refuses would be retried and
then lost. So descriptive fields are made to fit, identifiers that cannot be stored fail the
event's processing with the reason, and only an event whose own ids are malformed is refused.
Stripe's ids are opaque strings of up to 255 characters; user-chosen ones (customers,
products, prices, coupons) hold only letters, digits, `_` and `-`
(docs.stripe.com/changelog/2018-05-21/valid-characters-ids-coupons-skus-customers-products-plans).
"""

import json
import logging

import pytest
from django.core.management import call_command

from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.payments.models import Payment
from tests.stripe_events import load_event
from tests.webhooks import make_event, post_event

pytestmark = pytest.mark.django_db
DOTTED_I = "\u0130"  # "İ": lowercases to "i" and a combining dot, two characters


def stored(event: dict) -> WebhookEvent:
    return WebhookEvent.objects.get(stripe_id=event["id"])


def test_an_email_that_grows_when_lowercased_is_stored_cut_to_fit(client):
    event = load_event("invoice_paid", obj__customer_email=DOTTED_I * 200)
    body = json.dumps(event).encode()

    response = post_event(client, body)

    assert response.status_code == 200
    row = stored(event)
    assert row.customer_email == ("i\u0307" * 200)[:254]  # lowercased, then cut
    assert row.body.encode() == body  # the payload as sent


def test_a_nul_in_a_name_is_stored_and_processed(client):
    """The finding: NUL characters in a name failed the insert on PostgreSQL."""
    event = load_event("checkout_session_completed")
    event["data"]["object"]["customer_details"]["name"] = "Ada\u0000Lovelace"

    response = post_event(client, event)

    assert response.status_code == 200
    assert "\\u0000" in stored(event).body  # kept as Stripe sent it
    assert stored(event).status == WebhookEvent.Status.PROCESSED


def test_a_nul_in_an_email_is_stored_cleaned_for_search(client):
    event = load_event("invoice_paid", obj__customer_email="ada\u0000@example.com")
    post_event(client, event)
    assert stored(event).customer_email == "ada@example.com"


@pytest.mark.postgres
def test_a_nul_in_the_email_a_user_is_matched_by_fails_that_event_visibly(client):
    """PostgreSQL cannot even look such an email up: the event is stored and fails with the
    reason, for staff to act on (SQLite looks it up and finds nobody)."""
    event = load_event("invoice_paid", obj__customer_email="ada\u0000@example.com")
    assert post_event(client, event).status_code == 500
    assert stored(event).status == WebhookEvent.Status.FAILED
    assert "NUL" in stored(event).attempts.get().error


def test_a_lone_surrogate_is_stored_and_fails_the_processing_that_needs_it(client):
    """`"\\ud800"` is valid JSON but no database text: the email cannot be looked up."""
    event = load_event("invoice_paid", obj__customer_email="\ud800@example.com")
    assert post_event(client, event).status_code == 500
    row = stored(event)
    assert row.customer_email == "@example.com"
    assert row.status == WebhookEvent.Status.FAILED
    assert "surrogates not allowed" in row.attempts.get().error


def test_an_identifier_that_cannot_be_stored_fails_the_event_visibly(client):
    """A cut id would find or make the wrong row: the event fails, stored, with the reason."""
    event = load_event("checkout_session_completed")
    event["data"]["object"]["payment_intent"] = "pi_" + "x" * 300
    event["data"]["object"]["mode"] = "payment"

    response = post_event(client, event)

    assert response.status_code == 500  # Stripe retries; staff see why
    row = stored(event)
    assert row.status == WebhookEvent.Status.FAILED
    assert "Payment.stripe_id is 303 characters long, more than 255" in row.attempts.get().error
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("currency", "reason"),
    [
        ("usd\u0000", "Payment.currency 'usd\\x00' holds a NUL"),
        (12345, "Payment.currency is 5 characters long, more than 3"),  # a number, as text
    ],
)
def test_an_unusable_currency_fails_the_event_with_the_reason(client, currency, reason):
    event = load_event("invoice_paid", obj__currency=currency)
    assert post_event(client, event).status_code == 500
    assert stored(event).attempts.get().error == f"UnusableField: {reason}"


def test_an_error_holding_a_nul_is_still_recorded(client, handlers):
    @handlers.handles("invoice.paid")
    def explode(event):
        raise ValueError("bad \u0000 value")

    event = make_event("invoice.paid")
    assert post_event(client, event).status_code == 500
    assert stored(event).attempts.get().error == "ValueError: bad  value"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "evt_1\nINFO forged line"),
        ("id", "evt_" + "a" * 300),
        ("id", "evt_caf\u00e9"),
        ("id", "ch_1NotAnEvent"),
        ("type", "invoice.paid\nINFO forged"),
        ("type", "Invoice Paid"),
        ("account", "acct_1 2"),
    ],
)
def test_a_malformed_event_id_type_or_account_is_refused_and_nothing_is_stored(
    client, field, value
):
    event = make_event("invoice.paid", **{field: value})
    response = post_event(client, event)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "in_1\r\nforged", "object": "invoice"},
        {"id": "in_" + "1" * 300, "object": "invoice"},
        {"id": 42, "object": "invoice"},
        {"id": "in_1", "object": "invoice", "customer": "cus_1\nforged"},
        {"id": "in_1", "object": "invoice", "customer": ["cus_1"]},
        {"id": "in_1", "object": "invoice", "customer": {"id": "cus 1"}},
    ],
)
def test_a_malformed_object_or_customer_id_is_refused_and_nothing_is_stored(client, obj):
    response = post_event(client, make_event("invoice.paid", obj))
    assert response.status_code == 400
    assert "id" in response.json()["error"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("object_id", ["prod_NWjs8kKbJWmuuc", "gold-plan", "25OFF", "cs_test_a1"])
def test_ids_stripe_makes_and_ids_users_choose_are_accepted(client, object_id):
    event = make_event("product.updated", {"id": object_id, "object": "product"})
    assert post_event(client, event).status_code == 200
    assert stored(event).object_id == object_id


def test_an_object_without_an_id_is_stored(client):
    """Some objects have none (the `balance` of balance.available)."""
    event = make_event("balance.available", {"object": "balance", "available": []})
    assert post_event(client, event).status_code == 200
    assert stored(event).object_id == ""


def test_no_log_line_carries_a_newline_from_a_payload(client, caplog, handlers):
    """The finding: an event id holding a newline wrote a forged second log line."""

    @handlers.handles("invoice.paid")
    def explode(event):
        raise RuntimeError("line one\nINFO forged")

    caplog.set_level(logging.DEBUG)
    post_event(client, make_event("invoice.paid", id="evt_1\nINFO stripe event evt_x processed"))
    post_event(client, make_event("invoice.paid"))

    lines = [record.getMessage() for record in caplog.records]
    assert lines
    assert not [line for line in lines if "\n" in line]


def test_a_replay_of_an_unknown_id_echoes_it_escaped():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as refused:
        call_command("replay_webhook_events", "evt_2\nforged")
    assert "\n" not in str(refused.value)
    assert "'evt_2\\nforged'" in str(refused.value)


def test_staff_notes_with_nul_characters_are_recorded(client, handlers):
    event = make_event("invoice.paid")
    handlers.handles("invoice.paid")(lambda e: None)
    post_event(client, event)
    WebhookEvent.resolve(stored(event).pk, Attempt.Outcome.IGNORED, user=None, note="n\u0000ote")
    assert stored(event).attempts.last().note == "note"


@pytest.mark.parametrize("evt_id", ["evt_1%00x", "evt_1%0Aforged", "evt_" + "a" * 300, "x%00"])
def test_the_apis_answer_404_for_an_id_no_row_can_have(client, evt_id):
    from django.contrib.auth.models import Permission, User

    reader = User.objects.create_user("reader")
    for codename in ("view_webhookevent", "view_membership"):
        reader.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(reader)
    assert client.get(f"/api/events/{evt_id}/").status_code == 404
    assert client.get("/api/memberships/99999999999999999999999/").status_code == 404
