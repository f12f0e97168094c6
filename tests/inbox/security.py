"""A reusable security test case for any endpoint that takes Stripe-signed deliveries.

Subclass it as `Test...`, set `url`, and override `make_body()` / `stored()` if the endpoint
stores something other than inbox events. Every refusal must be a 400 with a JSON error, store
nothing, and (for signature failures) not touch the database at all.
"""

import json
import time

import pytest

from bootwebhooks.inbox.models import WebhookEvent
from tests.webhooks import TEST_SECRET, make_event, post_event, signature_header

OLD_SECRET = "whsec_old_fedcba9876543210fedcba9876543210"
OTHER_SECRET = "whsec_other_00000000000000000000000000000000"


@pytest.mark.django_db
class WebhookSecurityTestCase:
    url = "/webhooks/stripe/"

    def make_body(self) -> bytes:
        return json.dumps(make_event()).encode()

    def stored(self) -> int:
        return WebhookEvent.objects.count()

    def assert_refused(self, response, django_assert_num_queries=None) -> None:
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]
        assert self.stored() == 0

    def post(self, client, body: bytes, header: str | None, django_assert_num_queries):
        extra = {} if header is None else {"HTTP_STRIPE_SIGNATURE": header}
        with django_assert_num_queries(0):
            return client.post(self.url, body, content_type="application/json", **extra)

    def test_it_refuses_a_missing_signature(self, client, django_assert_num_queries):
        response = self.post(client, self.make_body(), None, django_assert_num_queries)
        self.assert_refused(response)

    def test_it_refuses_an_unparsable_header(self, client, django_assert_num_queries):
        response = self.post(client, self.make_body(), "not a header", django_assert_num_queries)
        self.assert_refused(response)

    def test_it_refuses_a_wrong_secret(self, client, django_assert_num_queries):
        body = self.make_body()
        header = signature_header(body, OTHER_SECRET)
        self.assert_refused(self.post(client, body, header, django_assert_num_queries))

    def test_it_refuses_a_stale_timestamp(self, client, django_assert_num_queries):
        body = self.make_body()
        header = signature_header(body, timestamp=int(time.time()) - 301)
        self.assert_refused(self.post(client, body, header, django_assert_num_queries))

    def test_it_refuses_a_future_timestamp(self, client, django_assert_num_queries):
        body = self.make_body()
        header = signature_header(body, timestamp=int(time.time()) + 301)
        self.assert_refused(self.post(client, body, header, django_assert_num_queries))

    def test_it_refuses_v0_only_even_when_it_is_right(self, client, django_assert_num_queries):
        body = self.make_body()
        good = signature_header(body).replace("v1=", "v0=")
        self.assert_refused(self.post(client, body, good, django_assert_num_queries))

    def test_it_refuses_a_signature_of_another_body(self, client, django_assert_num_queries):
        header = signature_header(self.make_body())
        body = self.make_body()  # a different event, same header
        self.assert_refused(self.post(client, body, header, django_assert_num_queries))

    def test_it_accepts_a_rolled_secret_during_the_roll(self, client, settings):
        settings.STRIPE_WEBHOOK_SECRETS = [TEST_SECRET, OLD_SECRET]
        for secret in (OLD_SECRET, TEST_SECRET):
            response = post_event(client, self.make_body(), secret=secret, url=self.url)
            assert response.status_code == 200, response.content

    def test_it_accepts_any_matching_v1_among_several(self, client):
        body = self.make_body()
        ours = signature_header(body).split(",")
        theirs = signature_header(body, OTHER_SECRET).split(",")[1]
        response = post_event(
            client, body, header=",".join([ours[0], theirs, ours[1]]), url=self.url
        )
        assert response.status_code == 200, response.content

    def test_it_refuses_the_old_secret_once_it_is_removed(self, client, settings):
        settings.STRIPE_WEBHOOK_SECRETS = [TEST_SECRET]
        response = post_event(client, self.make_body(), secret=OLD_SECRET, url=self.url)
        self.assert_refused(response)

    def test_it_refuses_everything_with_no_secret_configured(self, client, settings):
        settings.STRIPE_WEBHOOK_SECRETS = []
        self.assert_refused(post_event(client, self.make_body(), url=self.url))
