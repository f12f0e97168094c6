"""The webhook checks a delivery through DRF's own hooks, in this order: the parser refuses
an oversized body before reading it, the authentication class verifies the signature over
the raw bytes, and only then is any JSON parsed."""

import json

import pytest
from django.test import RequestFactory
from rest_framework.views import APIView

from bootwebhooks.inbox import ingest
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.views import StripeWebhookView
from tests.webhooks import make_event, post_event, signature_header


class Unreadable:
    """A request body that fails the test if anyone reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")


def test_it_overrides_none_of_drf_s_request_handling():
    assert StripeWebhookView.dispatch is APIView.dispatch
    assert StripeWebhookView.initialize_request is APIView.initialize_request


def test_an_oversized_body_is_refused_by_its_length_before_it_is_read(settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    body = json.dumps(make_event(obj={"id": "cus_1", "pad": "x" * 2000})).encode()
    request = RequestFactory().post(
        "/webhooks/stripe/", body, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_header(body),
    )  # fmt: skip
    request._stream = Unreadable()

    response = StripeWebhookView.as_view()(request)

    assert response.status_code == 413
    assert json.loads(response.content) == {"error": "body is larger than 1024 bytes"}


@pytest.mark.django_db
def test_a_bad_signature_is_refused_before_any_json_is_parsed(client, monkeypatch):
    def parse_event(body):
        raise AssertionError("JSON parsed before the signature was checked")

    monkeypatch.setattr(ingest, "parse_event", parse_event)

    response = post_event(client, make_event(), secret="whsec_wrong")

    assert response.status_code == 400
    assert response.json() == {"error": "no v1 signature matches a configured secret"}
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_the_signed_bytes_are_stored_exactly(client):
    body = (
        b'{"object": "event", "id": "evt_raw1", "type": "customer.created", "created": 1,'
        b' "data": {"object": {"id": "cus_1", "object": "customer", "name": "Z\\u00fcrich"}}}'
    )

    assert post_event(client, body).status_code == 200
    assert WebhookEvent.objects.get().body == body.decode()
