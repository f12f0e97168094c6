"""The status table in StripeWebhookView's docstring, row by row."""

import json

import pytest

from bootwebhooks.inbox.ingest import MAX_DEPTH, could_nest_deeper_than, nested_deeper_than
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from tests.inbox.conftest import effects, mark_effect
from tests.webhooks import make_event, post_event, signature_header

pytestmark = pytest.mark.django_db


def test_it_processes_a_new_event_and_records_an_attempt(client, handlers):
    handlers.handles("invoice.paid")(mark_effect)
    event = make_event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": "cus_1"})

    response = post_event(client, event)

    assert response.status_code == 200
    assert response.json() == {"id": event["id"], "status": "processed"}
    stored = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (stored.type, stored.object_id, stored.customer_id) == ("invoice.paid", "in_1", "cus_1")
    assert stored.delivery_count == 1
    assert stored.processed_at is not None
    assert json.loads(stored.body) == event
    assert [a.outcome for a in stored.attempts.all()] == ["processed"]
    assert stored.attempts.get().trigger == Attempt.Trigger.WEBHOOK
    assert effects(event["id"]) == 1


def test_it_stores_the_body_byte_for_byte(client):
    body = b'{"id":"evt_raw1",  "object":"event","type":"customer.created","created":1,'
    body += b'"data":{"object":{"id":"cus_1","name":"\\u00e9\\u0000"}},"livemode":false}'
    assert post_event(client, body).status_code == 200
    assert WebhookEvent.objects.get(stripe_id="evt_raw1").body.encode() == body


def test_it_ignores_a_type_no_handler_takes(client, handlers):
    event = make_event("customer.created")
    response = post_event(client, event)
    assert response.status_code == 200
    assert response.json() == {"id": event["id"], "status": "ignored"}
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED


@pytest.mark.batched
@pytest.mark.parametrize("final", ["processed", "ignored", "superseded"])
def test_it_counts_a_redelivery_of_a_final_event_without_running_handlers(
    client, handlers, final, django_assert_num_queries
):
    handlers.handles("invoice.paid")(mark_effect)
    event = make_event("invoice.paid")
    post_event(client, event)
    WebhookEvent.objects.update(status=final)

    with django_assert_num_queries(1):  # the whole duplicate decision is one round trip
        response = post_event(client, event)

    assert response.status_code == 200
    assert response.json() == {"id": event["id"], "status": final}
    assert WebhookEvent.objects.get().delivery_count == 2
    assert effects(event["id"]) == 1


def test_it_fails_with_500_and_rolls_back_every_handler(client, handlers):
    def explode(event):
        raise RuntimeError("card service on fire")

    handlers.handles("invoice.paid")(mark_effect)
    handlers.handles("invoice.paid")(explode)
    event = make_event("invoice.paid")

    response = post_event(client, event)

    assert response.status_code == 500
    assert response.json() == {"id": event["id"], "status": "failed"}
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEvent.Status.FAILED
    assert stored.processed_at is None
    attempt = stored.attempts.get()
    assert attempt.outcome == Attempt.Outcome.FAILED
    assert attempt.error == "RuntimeError: card service on fire"
    assert "in explode" in attempt.traceback
    assert effects(event["id"]) == 0  # the first handler's write went with the rollback


@pytest.mark.parametrize("status", ["failed", "pending"])
def test_it_processes_a_failed_or_pending_event_again_as_a_new_attempt(client, handlers, status):
    calls = []

    def flaky(event):
        calls.append(event.stripe_id)
        if len(calls) == 1:
            raise ValueError("first time unlucky")
        mark_effect(event)

    handlers.handles("invoice.paid")(flaky)
    event = make_event("invoice.paid")
    assert post_event(client, event).status_code == 500
    WebhookEvent.objects.update(status=status)

    response = post_event(client, event)

    assert response.status_code == 200
    assert response.json()["status"] == "processed"
    stored = WebhookEvent.objects.get()
    assert stored.delivery_count == 2
    assert [a.outcome for a in stored.attempts.all()] == ["failed", "processed"]
    assert effects(event["id"]) == 1


def test_it_records_superseded_when_a_handler_says_so(client, handlers):
    handlers.handles("customer.subscription.updated")(lambda event: Attempt.Outcome.SUPERSEDED)
    response = post_event(client, make_event("customer.subscription.updated"))
    assert response.json()["status"] == "superseded"
    assert WebhookEvent.objects.get().attempts.get().outcome == "superseded"


def test_it_runs_handlers_in_registration_order(client, handlers):
    seen = []

    @handlers.handles("invoice.paid")
    def first(event):
        seen.append("first")

    @handlers.handles("invoice.paid")
    def second(event):
        seen.append("second")

    post_event(client, make_event("invoice.paid"))
    assert seen == ["first", "second"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a Stripe event"),
        (b'{"object": "customer", "id": "cus_1"}', "not a Stripe event"),
        (b'{"object": "event", "type": "x", "created": 1, "data": {"object": {}}}', "no valid id"),
        (
            b'{"object": "event", "id": "evt_1", "created": 1, "data": {"object": {}}}',
            "no valid type",
        ),
        (b'{"object": "event", "id": "evt_1", "type": "x", "data": {"object": {}}}', "created"),
        (b'{"object": "event", "id": "evt_1", "type": "x", "created": 1, "data": {}}', "data"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (
            b'{"object": "event", "id": "evt_1", "type": "x", "created": 1000000000000, '
            b'"data": {"object": {}}}',
            "created",
        ),  # past year 9999: no datetime for it
        # Python reads NaN and Infinity, JSON has neither (RFC 8259), the import's parser
        # stops at them: refused alike. Found by tests/test_hostile_inputs.py.
        (
            b'{"object": "event", "id": "evt_1", "type": "x", "created": 1, '
            b'"api_version": Infinity, "data": {"object": {}}}',
            "not JSON",
        ),
        (
            b'{"object": "event", "id": "evt_1", "type": "x", "created": 1, '
            b'"data": {"object": {"amount": NaN}}}',
            "not JSON",
        ),
    ],
)
def test_it_refuses_a_signed_body_that_is_not_a_v1_event(client, body, message):
    response = post_event(client, body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert WebhookEvent.objects.count() == 0


def event_nested(depth: int) -> dict:
    """A valid event whose objects and arrays nest exactly `depth` levels (the event is 1)."""
    value: dict = {"end": 1}
    for _ in range(depth - 3):  # the event, `data` and `data.object` are the first three
        value = {"a": value}
    return make_event("invoice.paid", obj={"id": "in_deep", **value})


def test_it_takes_an_event_nested_to_the_limit_and_refuses_one_level_more(client):
    assert not nested_deeper_than(event_nested(MAX_DEPTH), MAX_DEPTH)
    assert nested_deeper_than(event_nested(MAX_DEPTH + 1), MAX_DEPTH)

    assert post_event(client, event_nested(MAX_DEPTH)).status_code == 200
    refused = post_event(client, event_nested(MAX_DEPTH + 1))

    assert (refused.status_code, WebhookEvent.objects.count()) == (400, 1)
    assert "nested deeper" in refused.json()["error"]


def test_brackets_inside_strings_do_not_make_an_event_deep(client):
    """More `{` and `[` than the limit, all in a string: counting them only decides whether
    the nesting is walked; the walk finds two levels under the object."""
    event = make_event("invoice.paid", obj={"id": "in_shallow", "description": "{[" * MAX_DEPTH})
    assert could_nest_deeper_than(json.dumps(event), MAX_DEPTH)

    assert post_event(client, event).status_code == 200


def test_it_refuses_thin_events_by_name(client):
    thin = {
        "id": "evt_test_65R9Ijk8GpGIs8D",
        "object": "v2.core.event",
        "type": "v1.billing.meter.error_report_triggered",
        "created": "2026-11-01T10:00:00.000Z",
        "related_object": {"id": "mtr_1", "type": "billing.meter", "url": "/v1/billing/meters/1"},
    }
    response = post_event(client, thin)
    assert response.status_code == 400
    assert "thin" in response.json()["error"]
    assert WebhookEvent.objects.count() == 0


def test_it_answers_413_on_a_declared_length_over_the_limit_without_reading(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    body = json.dumps(make_event(obj={"id": "cus_1", "pad": "x" * 2000})).encode()
    response = client.generic(
        "POST",
        "/webhooks/stripe/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_header(body),
    )
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_the_default_limit_is_one_mebibyte(client):
    big = json.dumps(make_event(obj={"id": "cus_1", "pad": "x" * (1024 * 1024)})).encode()
    assert post_event(client, big).status_code == 413


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "options"])
def test_it_answers_405_to_any_other_method(client, method):
    response = getattr(client, method)("/webhooks/stripe/")
    assert response.status_code == 405
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("url", ["/webhooks/stripe/", "/webhooks/stripe"])
def test_it_answers_both_urls_without_a_redirect(client, url):
    assert post_event(client, make_event(), url=url).status_code == 200


def test_it_needs_no_csrf_token_or_session(handlers):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = post_event(client, make_event())
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_rejections_are_logged_once_per_reason_every_ten_seconds(client, caplog, monkeypatch):
    from bootwebhooks.inbox import views

    clock = [1000.0]
    monkeypatch.setattr(views.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(views, "_last_logged", {})
    event = make_event("invoice.paid")
    caplog.set_level("WARNING")

    for _ in range(3):
        assert post_event(client, event, secret="whsec_wrong").status_code == 400
    clock[0] += 10
    assert post_event(client, event, secret="whsec_wrong").status_code == 400

    lines = [r.getMessage() for r in caplog.records if r.name == "bootwebhooks.inbox.views"]
    assert lines == [
        "rejected a Stripe delivery: signature: no v1 signature matches a configured secret",
        "rejected a Stripe delivery: signature: no v1 signature matches a configured secret"
        " (and 2 more since the last report)",
    ]
    assert not [r for r in caplog.records if r.name == "django.request"]  # no line per 400


def test_it_answers_json_whatever_the_client_accepts(client):
    event = make_event("customer.created")
    body = json.dumps(event).encode()
    accepted = client.post(
        "/webhooks/stripe/", body, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_header(body), HTTP_ACCEPT="text/html",
    )  # fmt: skip
    refused = client.get("/webhooks/stripe/", HTTP_ACCEPT="text/html")

    assert accepted["Content-Type"] == "application/json"
    assert accepted.json() == {"id": event["id"], "status": "ignored"}
    assert (refused.status_code, refused["Content-Type"]) == (405, "application/json")
