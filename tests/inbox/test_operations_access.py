"""Who may read what operators read: /metrics, the API schema, the admin index panels."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from rest_framework.authtoken.models import Token

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships.roles import SUPPORT
from tests.staff import staff_in

pytestmark = pytest.mark.django_db
SCHEMA = "/api/schema/"


def scrape(client, remote: str = "127.0.0.1", **headers: str) -> int:
    return client.get("/metrics", REMOTE_ADDR=remote, **headers).status_code


def test_metrics_need_the_token_without_debug_even_from_loopback(client, settings):
    """The finding: behind a reverse proxy on the same host every client is 127.0.0.1."""
    settings.DEBUG = False
    assert scrape(client) == 403
    assert scrape(client, "::1") == 403


def test_metrics_are_open_to_loopback_under_debug_but_never_through_a_proxy(client, settings):
    settings.DEBUG = True
    assert scrape(client) == 200
    assert scrape(client, HTTP_X_FORWARDED_FOR="203.0.113.9") == 403
    assert scrape(client, HTTP_FORWARDED="for=203.0.113.9") == 403
    assert scrape(client, "10.0.0.8") == 403


def test_networks_set_explicitly_are_allowed_without_debug_but_not_through_a_proxy(
    client, settings
):
    settings.DEBUG = False
    settings.METRICS_ALLOWED_NETWORKS = "10.0.0.0/8"
    assert scrape(client, "10.0.0.8") == 200
    assert scrape(client) == 403
    assert scrape(client, "10.0.0.8", HTTP_X_FORWARDED_FOR="10.0.0.9") == 403


def test_the_token_works_through_a_proxy(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    auth = {"HTTP_AUTHORIZATION": "Bearer scrape-me", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert scrape(client, **auth) == 200


def test_the_schema_needs_a_user_who_may_read_events(client):
    """The finding: /api/schema/ answered anonymous requests."""
    assert client.get(SCHEMA).status_code in (401, 403)
    client.force_login(User.objects.create_user("plain", is_staff=True))
    assert client.get(SCHEMA).status_code == 403
    reader = User.objects.create_user("reader")
    reader.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    token = Token.objects.create(user=reader)
    client.logout()
    assert client.get(SCHEMA, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


def test_the_admin_index_shows_each_panel_only_with_the_permission_its_data_needs(client):
    """The finding: staff without permissions saw event counts on the index."""
    client.force_login(User.objects.create_user("plain", is_staff=True))
    page = client.get("/admin/").content.decode()
    assert "Events failed" not in page and "Unmatched customers" not in page

    client.force_login(staff_in(SUPPORT))
    page = client.get("/admin/").content.decode()
    assert "Events failed" in page and "Unmatched customers" in page


def test_the_age_of_the_oldest_pending_event_moved_from_healthz_to_metrics(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    WebhookEvent.objects.create(
        stripe_id="evt_1Waiting", type="invoice.paid", stripe_created=timezone.now(), body="{}"
    )
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    age = re.search(r"^bootwebhooks_oldest_pending_seconds (\S+)$", text, re.MULTILINE)
    assert age is not None
    assert 300 <= float(age[1]) < 400
